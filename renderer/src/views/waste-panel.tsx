/** A result's waste: dive's efficiency score, the potential wasted space and the paths that cost most. */
import type { WasteSummary } from '../../../shared/contract/index';
import { Bytes } from '../components/bytes';
import { progressWhat, ReadProgress } from '../components/read-progress';
import { formatBytes } from '../format';
import { filesStore, useSlot, wasteKey } from '../stores/files-store';
import type { FilesProgress } from '../stores/files-store';

const SHOWN = 10;

export function WasteReport({ waste }: { waste: WasteSummary }) {
  const score = (waste.efficiency * 100).toFixed(1);
  return (
    <div className="waste-report" data-testid="waste-report">
      <p className="waste-score">
        <span className="waste-big" data-testid="waste-score" title="dive's efficiency score: the smallest copy of each path over all its copies">
          {score}%
        </span>{' '}
        efficient · <Bytes n={waste.wastedBytes} /> potentially wasted
      </p>
      <p className="muted small">
        Of {formatBytes(waste.totalBytes)} in the layers, {formatBytes(waste.visibleBytes)} is visible; hidden: {formatBytes(waste.hidden.overwritten)} overwritten, {formatBytes(waste.hidden.removed)} removed,{' '}
        {formatBytes(waste.hidden.duplicates)} duplicated within a layer.
      </p>
      {waste.top.length === 0 ? (
        <p className="muted small">No path is found in more than one layer.</p>
      ) : (
        <table className="waste-top" data-testid="waste-top">
          <caption className="muted small">Paths in more than one layer{waste.inefficientCount > SHOWN ? ` (top ${SHOWN} of ${waste.inefficientCount})` : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Layers</th>
              <th scope="col">Bytes</th>
              <th scope="col">Path</th>
            </tr>
          </thead>
          <tbody>
            {waste.top.slice(0, SHOWN).map((p) => (
              <tr key={p.path}>
                <td>{p.count}×</td>
                <td>
                  <Bytes n={p.bytes} />
                </td>
                <td>
                  <code>{p.path || '/'}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** The Files panel's words, except what follows the read: measuring, not listing. */
function wasteWhat(p: FilesProgress): string {
  return p.phase === 'done' ? 'Read; measuring the waste' : progressWhat(p);
}

/** The Waste panel of a record's result: measured on request (it reads the chain's blobs or cached listings, with a bar of the bytes read). */
export function WastePanel({ cacheId, record }: { cacheId: string; record: number }) {
  const key = wasteKey(cacheId, record);
  const slot = useSlot<WasteSummary>(key);
  return (
    <section className="waste-panel" data-testid="waste-panel" aria-label={`Waste of record ${record}'s result`}>
      <div className="files-head">
        <h4>Waste</h4>
        {slot?.busy ? (
          <>
            <span className="busy" role="status">
              Reading layers…
            </span>
            <button type="button" onClick={() => void filesStore.getState().cancel(key)} data-testid="waste-cancel">
              Cancel
            </button>
          </>
        ) : (
          <button type="button" onClick={() => void filesStore.getState().openWaste(cacheId, record)} data-testid="waste-open" title="Reads every layer blob of this result (or its cached listing)">
            {slot?.result ? 'Measure again' : 'Measure waste'}
          </button>
        )}
      </div>
      {slot?.busy && <ReadProgress progress={slot.progress} what={wasteWhat} />}
      {slot?.error && <p className="error-text" role="alert">{slot.error}</p>}
      {slot?.result ? <WasteReport waste={slot.result} /> : !slot?.busy && <p className="muted small">Reads the result's layers to measure what they carry that no one sees.</p>}
    </section>
  );
}
