/** Chains: the tree of layer entries from each root, with the records whose result ends at each entry. */
import { useState } from 'react';
import type { CacheView } from '../../../../shared/cache/view-types';
import { formatBytes, short } from '../format';
import { cachesStore } from '../stores/caches-store';

function Node({ view, index, depth, seen }: { view: CacheView; index: number; depth: number; seen: Set<number> }) {
  const [open, setOpen] = useState(depth < 12);
  const layer = view.layers[index];
  const children = view.chain.children[index];
  const records = view.chain.recordsEndingAt[index];
  // A loop in parent pointers must not hang the tree.
  if (seen.has(index)) return <li className="muted">loop at entry {index}</li>;
  const next = new Set(seen).add(index);
  return (
    <li>
      <div className="chain-node" data-testid="chain-node" data-index={index}>
        {children.length > 0 ? (
          <button type="button" className="toggle" onClick={() => setOpen(!open)} aria-label={open ? 'collapse' : 'expand'}>
            {open ? '▾' : '▸'}
          </button>
        ) : (
          <span className="toggle" />
        )}
        <span className="muted">#{index}</span> <code title={layer.blob}>{short(layer.blob)}</code> <span>{formatBytes(layer.size)}</span>{' '}
        <span className="muted small" title={layer.diffID ?? ''}>diffID {short(layer.diffID, 8)}</span> <span className="muted small">{layer.createdAt ?? ''}</span>{' '}
        {!layer.present && <span className="badge missing">missing</span>}
        {layer.blobUses > 1 && <span className="badge dup" title="The same blob sits at several chain positions">duplicate ×{layer.blobUses}</span>}
        {records.map((r) => (
          <button type="button" key={r} className="badge rec" onClick={() => cachesStore.getState().select({ kind: 'record', index: r })} title={view.records[r].digest}>
            record #{r}
          </button>
        ))}
      </div>
      {open && children.length > 0 && (
        <ul>
          {children.map((c) => (
            <Node key={c} view={view} index={c} depth={depth + 1} seen={next} />
          ))}
        </ul>
      )}
    </li>
  );
}

export function Chains({ view }: { view: CacheView }) {
  if (view.chain.roots.length === 0) return <p className="muted pad">No layer chains.</p>;
  return (
    <div className="chains scroll">
      <p className="muted">
        {view.chain.roots.length} root{view.chain.roots.length === 1 ? '' : 's'}
        {view.chain.roots.length > 1 ? ' (one per platform or base image)' : ''}. Badges name the records whose result ends at an entry.
      </p>
      <ul className="tree">
        {view.chain.roots.map((r) => (
          <Node key={r} view={view} index={r} depth={0} seen={new Set()} />
        ))}
      </ul>
      {view.chain.detached.length > 0 && (
        <div className="card">
          <h3>Entries no root reaches</h3>
          <ul>
            {view.chain.detached.map((i) => (
              <li key={i}>
                <span className="muted">#{i}</span> <code>{short(view.layers[i].blob)}</code> <span className="error-text small">{view.layers[i].problem}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
