/** Orphans: blobs no index.json entry reaches (what BuildKit's reset=true would delete), with a guarded GC. */
import { useState } from 'react';
import type { CacheView } from '../../../../shared/cache/view-types';
import type { GcReport } from '../../../../shared/contract/index';
import { api, errorText } from '../bridge';
import { formatBytes } from '../format';
import { cachesStore } from '../stores/caches-store';

export function Orphans({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const [preview, setPreview] = useState<GcReport | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<GcReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!view.layout || !view.orphans) return <p className="muted pad">Orphans exist only in a local layout folder.</p>;
  const dir = view.layout.dir;
  const ask = async () => {
    setError(null);
    setBusy(true);
    try {
      setPreview(await api.request('runGc', { dir, dryRun: true }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const confirm = async () => {
    setBusy(true);
    try {
      const report = await api.request('runGc', { dir, dryRun: false });
      setDone(report);
      setPreview(null);
      await cachesStore.getState().reopen(cacheId);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="scroll pad">
      <div className="toolbar">
        <strong>{formatBytes(view.orphans.bytes)}</strong>&nbsp;reclaimable in {view.orphans.items.length} unreferenced blob{view.orphans.items.length === 1 ? '' : 's'}
        <button type="button" className="danger" data-testid="gc-button" disabled={busy || view.orphans.items.length === 0} onClick={() => void ask()}>
          Delete unreferenced blobs…
        </button>
      </div>
      {done && <p className="ok-text">Deleted {done.blobs} blobs, {formatBytes(done.bytes)} reclaimed.</p>}
      {error && <p className="error-text">{error}</p>}
      <table className="plain">
        <thead>
          <tr>
            <th>Digest</th>
            <th>Kind</th>
            <th>Size</th>
          </tr>
        </thead>
        <tbody>
          {view.orphans.items.map((o) => (
            <tr key={o.digest} data-testid="orphan-row">
              <td><code>{o.digest}</code></td>
              <td>{o.kind}</td>
              <td>{formatBytes(o.size)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {preview && (
        <div className="modal-backdrop">
          <div className="modal" role="dialog" aria-label="Confirm garbage collection">
            <h3>Delete {preview.blobs} unreferenced blobs?</h3>
            <p>
              This removes {formatBytes(preview.bytes)} from <code>{dir}</code>: every blob that no index.json entry reaches. It runs under the folder's
              index.json.lock, so a concurrent export cannot lose blobs.
            </p>
            <div className="actions">
              <button type="button" onClick={() => setPreview(null)}>Cancel</button>
              <button type="button" className="danger" data-testid="gc-confirm" disabled={busy} onClick={() => void confirm()}>
                Delete {preview.blobs} blobs
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
