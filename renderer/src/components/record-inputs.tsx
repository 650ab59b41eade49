/** A record's input slots as OR-alternatives (any one link fills the slot); shared by the Records and Diff views. */
import type { CacheView, RecordRow } from '../../../shared/cache/view-types';
import { short } from '../format';

/** What kind of key a record is, in words. */
export function recordKind(view: CacheView, r: RecordRow): string {
  if (r.isSource) {
    // A source record linked without a selector next to other alternatives is a content-checksum key (BuildKit's slow cache).
    const contentKey = r.dependents.some((d) => view.records[d]?.inputs.some((slot) => slot.length > 1 && slot.some((l) => l.link === r.index && l.selector === null)));
    return contentKey ? 'content-checksum key' : 'source record';
  }
  return `op, ${r.inputs.length} input${r.inputs.length === 1 ? '' : 's'}`;
}

export function RecordInputs({ view, record, onPick, highlightSlot = null }: { view: CacheView; record: RecordRow; onPick?: (index: number) => void; highlightSlot?: number | null }) {
  if (record.inputs.length === 0) return <p className="muted">No inputs: a source record, {recordKind(view, record) === 'source record' ? 'such as an image pull or a local context' : 'derived from the content checksum of a dependency'}.</p>;
  return (
    <div className="slots">
      {record.inputs.map((slot, k) => (
        <div className={`slot${highlightSlot === k ? ' highlight' : ''}`} key={k} data-testid="input-slot">
          <div className="slot-title">
            input {k}
            {slot.length > 1 ? <span className="muted"> · {slot.length} alternatives, any one satisfies it</span> : null}
            {highlightSlot === k ? <span className="badge warn">diverged</span> : null}
          </div>
          {slot.map((l, j) => {
            const target = view.records[l.link];
            return (
              <div className="alt" key={j}>
                <span className="or">{j > 0 ? 'OR' : ''}</span>
                {onPick ? (
                  <button type="button" className="link" onClick={() => onPick(l.link)} title={`Select record #${l.link}`}>
                    #{l.link}
                  </button>
                ) : (
                  <span className="mono">#{l.link}</span>
                )}
                <code title={target?.digest}>{short(target?.digest)}</code>
                {l.selector ? (
                  <span className="badge sel" title={`selector ${l.selector}`}>
                    selector {short(l.selector, 8)}
                  </span>
                ) : target?.isSource ? (
                  <span className="badge cc" title="A link without a selector to a source record: the key derived from the dependency's content checksum">
                    content checksum (no selector)
                  </span>
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
