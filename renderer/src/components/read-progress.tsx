/**
 * The bytes of layer blobs a busy request has read (or downloaded) so far, of all it has to read, as a
 * bar with numbers, the phase in words and the speed: the Files panel's, the Waste panel's and a diff
 * divergence's "files that changed" (all fed by the engine's layerFilesProgress events).
 */
import { formatBytes } from '../format';
import type { FilesProgress } from '../stores/files-store';

/** What the engine is doing, in words: which layer of how many, and whether it is downloading it first. */
export function progressWhat(p: FilesProgress): string {
  if (p.phase === 'done') return 'Read; listing the files';
  const of = p.layers > 1 ? ` layer ${p.layer} of ${p.layers}` : ' the layer';
  return p.phase === 'fetching' ? `Downloading${of} from the registry` : `Reading${of}`;
}

/** The bar; `what` puts the phase in the caller's words (default: which layer of the chain). */
export function ReadProgress({ progress, what = progressWhat }: { progress: FilesProgress | null | undefined; what?: (p: FilesProgress) => string }) {
  if (!progress) {
    return (
      <div className="files-progress" data-testid="files-progress">
        <div className="bar files-progress-bar indeterminate" role="progressbar" aria-label="Bytes of layer blobs read" aria-valuetext="starting" data-testid="files-progress-bar" />
        <span className="muted small">Starting…</span>
      </div>
    );
  }
  const { bytesDone, bytesTotal } = progress;
  const share = bytesTotal > 0 ? Math.min(1, bytesDone / bytesTotal) : 0;
  const numbers = `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)} (${Math.floor(share * 100)}%)`;
  return (
    <div className="files-progress" data-testid="files-progress">
      <div
        className="bar files-progress-bar"
        role="progressbar"
        aria-label="Bytes of layer blobs read"
        aria-valuemin={0}
        aria-valuemax={bytesTotal}
        aria-valuenow={bytesDone}
        aria-valuetext={numbers}
        data-testid="files-progress-bar"
      >
        <div style={{ width: `${share * 100}%` }} />
      </div>
      <span className="small files-progress-text" data-testid="files-progress-text">
        {what(progress)} · <span title={`${bytesDone} of ${bytesTotal} bytes`}>{numbers}</span>
        {progress.bytesPerSecond !== null && progress.bytesPerSecond > 0 ? ` · ${formatBytes(progress.bytesPerSecond)}/s` : ''}
      </span>
    </div>
  );
}
