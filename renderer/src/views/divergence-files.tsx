/** "Show files that changed" on a diff divergence: the files that differ in the layers B rebuilt (reads their blobs, with a bar of the bytes read). */
import type { DivergenceFilesResult } from '../../../shared/contract/index';
import { ReadProgress } from '../components/read-progress';
import { divergenceKey, filesStore, useSlot } from '../stores/files-store';
import type { FilesProgress } from '../stores/files-store';

const SHOWN = 200;

/** The engine reads A's then B's layer of each rebuilt position: say which side, and which pair of how many. */
function divergenceWhat(p: FilesProgress): string {
  if (p.phase === 'done') return 'Read; comparing the files';
  const side = p.layer % 2 === 1 ? "A's" : "B's";
  const pairs = Math.ceil(p.layers / 2);
  const which = pairs > 1 ? ` rebuilt layer ${Math.ceil(p.layer / 2)} of ${pairs}` : ' rebuilt layer';
  return p.phase === 'fetching' ? `Downloading ${side}${which} from the registry` : `Reading ${side}${which}`;
}

export function DivergenceFiles({ a, b, leaf }: { a: string; b: string; leaf: number }) {
  const key = divergenceKey(a, b, leaf);
  const slot = useSlot<DivergenceFilesResult>(key);
  const result = slot?.result;
  return (
    <section className="divergence-files" data-testid="divergence-files" aria-label="Files that changed at this divergence">
      <div className="files-head">
        <h4>Files that changed</h4>
        {slot?.busy ? (
          <>
            <span className="busy" role="status">
              Reading the rebuilt layers…
            </span>
            <button type="button" onClick={() => void filesStore.getState().cancel(key)} data-testid="divergence-files-cancel">
              Cancel
            </button>
          </>
        ) : (
          <button type="button" onClick={() => void filesStore.getState().openDivergence(a, b, leaf)} data-testid="divergence-files-open" title="Reads the layer blobs A and B hold at the rebuilt chain positions">
            {result ? 'Read again' : 'Show files that changed'}
          </button>
        )}
      </div>
      {slot?.busy && <ReadProgress progress={slot.progress} what={divergenceWhat} />}
      {slot?.error && (
        <p className="error-text small" role="alert">
          {slot.error}
        </p>
      )}
      {result && (
        <>
          <p className="small" data-testid="divergence-files-text">
            {result.text.charAt(0).toUpperCase() + result.text.slice(1)}.
          </p>
          {result.paths.length > 0 && (
            <ul className="divergence-paths" data-testid="divergence-paths" tabIndex={0} aria-label="Files that changed">
              {result.paths.slice(0, SHOWN).map((p) => (
                <li key={p}>
                  <code>{p}</code>
                </li>
              ))}
              {result.paths.length > SHOWN && <li className="muted">… {result.paths.length - SHOWN} more</li>}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
