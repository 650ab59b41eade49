/** A record's input slots as OR-alternatives, with selectors; shared by the Records and Diff views. */
import type { CacheView, RecordRow } from '../../../../shared/cache/view-types';
import { short } from '../format';

export function recordKind(view: CacheView, r: RecordRow): string {
  if (r.isRoot) {
    const linkedWithoutSelector = view.records.some((o) => o.inputs.some((slot) => slot.length > 1 && slot.some((l) => l.link === r.index && l.selector === null)));
    return linkedWithoutSelector ? 'content checksum' : 'root / source';
  }
  return `op with ${r.inputs.length} input${r.inputs.length === 1 ? '' : 's'}`;
}

export function RecordInputs({ view, record, onPick }: { view: CacheView; record: RecordRow; onPick?: (index: number) => void }) {
  if (record.inputs.length === 0) return <p className="muted">No inputs: a root ({recordKind(view, record)}).</p>;
  return (
    <div className="slots">
      {record.inputs.map((slot, k) => (
        <div className="slot" key={k}>
          <div className="slot-title">input {k}{slot.length > 1 ? ` · ${slot.length} alternatives (any one satisfies it)` : ''}</div>
          {slot.map((l, j) => {
            const target = view.records[l.link];
            return (
              <div className="alt" key={j}>
                {j > 0 && <span className="or">OR</span>}
                <button type="button" className="link" onClick={() => onPick?.(l.link)}>
                  #{l.link}
                </button>{' '}
                <code title={target?.digest}>{short(target?.digest)}</code>{' '}
                {l.selector ? (
                  <span className="badge sel" title={l.selector}>selector {short(l.selector, 8)}</span>
                ) : target?.isRoot ? (
                  <span className="badge cc">content checksum (no selector)</span>
                ) : (
                  <span className="badge">no selector</span>
                )}
              </div>
            );
          })}
        </div>
      ))}
    </div>
  );
}
