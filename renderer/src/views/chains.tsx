/**
 * Chains: the tree of layer entries from each root (parent -1), each node with the records whose
 * result ends there. The visible part of the tree is flattened and virtualized, so deep or wide
 * caches stay responsive. Keyboard as in the WAI-ARIA tree pattern: Up/Down move, Right expands or
 * moves to the first child, Left collapses or moves to the parent, Home/End; focus and selection move
 * together, and one row at a time is in the Tab order.
 */
import { useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { CacheView } from '../../../shared/cache/view-types';
import { Bytes } from '../components/bytes';
import { short } from '../format';
import { select, useSelectedIndex, useSelection } from '../stores/selection-store';
import { displayName } from '../../../shared/graph/history-names';
import { ChainsPicture } from './chains-picture';
import { ImageExportButton } from './image-export-dialog';

const NODE_HEIGHT = 30;
const INDENT = 16;
/** Deeper levels are not indented further (the depth is printed instead), so rows stay on screen. */
const MAX_INDENT_LEVELS = 24;
const MAX_RECORD_BADGES = 6;

interface FlatNode {
  index: number;
  depth: number;
  hasChildren: boolean;
}

/** Pre-order walk of the expanded part of the tree; iterative, and a visited set guards against any loop. */
function flatten(view: CacheView, collapsed: Set<number>): FlatNode[] {
  const out: FlatNode[] = [];
  const seen = new Set<number>();
  const stack: { index: number; depth: number }[] = [...view.chain.roots].reverse().map((index) => ({ index, depth: 0 }));
  while (stack.length > 0) {
    const { index, depth } = stack.pop()!;
    if (seen.has(index)) continue;
    seen.add(index);
    const children = view.chain.children[index] ?? [];
    out.push({ index, depth, hasChildren: children.length > 0 });
    if (!collapsed.has(index)) for (let i = children.length - 1; i >= 0; i--) stack.push({ index: children[i], depth: depth + 1 });
  }
  return out;
}

export function Chains({ view, cacheId }: { view: CacheView; cacheId: string }) {
  const [collapsed, setCollapsed] = useState<Set<number>>(() => new Set());
  const [asPicture, setAsPicture] = useState(false);
  const nodes = useMemo(() => flatten(view, collapsed), [view, collapsed]);
  const selectedLayer = useSelectedIndex(cacheId, 'layer');
  const selectedRecord = useSelection((s) => (s.selection?.cacheId === cacheId && s.selection.kind === 'record' ? s.selection.index : null));
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: nodes.length, getScrollElement: () => scrollRef.current, estimateSize: () => NODE_HEIGHT, overscan: 12 });
  const toggle = (index: number) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(index)) next.delete(index);
      else next.add(index);
      return next;
    });
  // The row a key moved to gets focus once it is drawn (it may be scrolled in first).
  const focusPos = useRef<number | null>(null);
  useLayoutEffect(() => {
    if (focusPos.current === null) return;
    const row = scrollRef.current?.querySelector<HTMLElement>(`[role="treeitem"][data-pos="${focusPos.current}"]`);
    if (row) {
      row.focus({ preventScroll: true });
      focusPos.current = null;
    }
  });
  const selectedPos = selectedLayer === null ? -1 : nodes.findIndex((n) => n.index === selectedLayer);
  const moveTo = (pos: number) => {
    // A drawn row takes focus now; one scrolled in takes it after the render (the selection may not change).
    const row = scrollRef.current?.querySelector<HTMLElement>(`[role="treeitem"][data-pos="${pos}"]`);
    focusPos.current = row ? null : pos;
    row?.focus({ preventScroll: true });
    virtualizer.scrollToIndex(pos, { align: 'auto' });
    select(cacheId, 'layer', nodes[pos].index);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (nodes.length === 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const item = (e.target as HTMLElement).closest('[role="treeitem"]');
    const pos = item ? Number(item.getAttribute('data-pos')) : Math.max(0, selectedPos);
    const node = nodes[pos];
    if (!node) return;
    const open = node.hasChildren && !collapsed.has(node.index);
    let handled = true;
    if (e.key === 'ArrowDown') moveTo(Math.min(nodes.length - 1, pos + 1));
    else if (e.key === 'ArrowUp') moveTo(Math.max(0, pos - 1));
    else if (e.key === 'Home') moveTo(0);
    else if (e.key === 'End') moveTo(nodes.length - 1);
    else if (e.key === 'ArrowRight') {
      if (node.hasChildren && !open) toggle(node.index);
      else if (open) moveTo(pos + 1);
    } else if (e.key === 'ArrowLeft') {
      if (open) toggle(node.index);
      else {
        let parent = pos - 1;
        while (parent >= 0 && nodes[parent].depth >= node.depth) parent--;
        if (parent >= 0) moveTo(parent);
      }
    } else if ((e.key === 'Enter' || e.key === ' ') && e.target === item) {
      // On the row itself; on a record badge the key presses the badge.
      if (node.hasChildren) toggle(node.index);
      select(cacheId, 'layer', node.index);
    } else handled = false;
    if (handled) e.preventDefault();
  };
  const items = virtualizer.getVirtualItems();
  const tabStop = items.some((i) => i.index === selectedPos) ? selectedPos : (items[0]?.index ?? -1);
  const withChildren = useMemo(() => view.chain.children.map((c, i) => (c.length > 0 ? i : -1)).filter((i) => i >= 0), [view]);

  if (view.chain.roots.length === 0 && view.chain.detached.length === 0) return <p className="muted pad">This cache has no layer chains.</p>;
  return (
    <div className="view-fill">
      <div className="toolbar">
        <span className="muted">
          {view.chain.roots.length} chain root{view.chain.roots.length === 1 ? '' : 's'}
          {view.chain.roots.length > 1 ? ' (one per base image or platform)' : ''} · badges name the records whose result ends at an entry
        </span>
        <span className="spacer" />
        {selectedLayer !== null && view.layers[selectedLayer] && !view.layers[selectedLayer].problem && (
          <ImageExportButton
            target={{ cacheId, selection: { chain: view.layers[selectedLayer].blob }, label: `chain ending in ${short(view.layers[selectedLayer].blob)}` }}
            title="The selected chain (root to this entry) as a runnable image"
          />
        )}
        <button type="button" aria-pressed={asPicture} onClick={() => setAsPicture((p) => !p)} data-testid="chains-as-picture">
          {asPicture ? 'Show as tree' : 'Show as picture'}
        </button>
        <button type="button" onClick={() => setCollapsed(new Set())} disabled={collapsed.size === 0}>
          Expand all
        </button>
        <button type="button" onClick={() => setCollapsed(new Set(withChildren))}>
          Collapse all
        </button>
      </div>
      {view.chain.detached.length > 0 && (
        <div className="notice warn" data-testid="chains-detached">
          {view.chain.detached.length} entr{view.chain.detached.length === 1 ? 'y' : 'ies'} no root reaches (BuildKit ignores them):{' '}
          {view.chain.detached.map((i) => (
            <button type="button" className="chip" key={i} onClick={() => select(cacheId, 'layer', i)} title={view.layers[i]?.problem ?? ''}>
              #{i} {short(view.layers[i]?.blob, 8)}
            </button>
          ))}
        </div>
      )}
      {asPicture && <ChainsPicture view={view} cacheId={cacheId} />}
      <div className="tree-scroll" hidden={asPicture} ref={scrollRef} role="tree" aria-label="Layer chains" onKeyDown={onKeyDown}>
        <div className="tree-rows" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const node = nodes[item.index];
            const layer = view.layers[node.index];
            const records = view.chain.recordsEndingAt[node.index] ?? [];
            const open = !collapsed.has(node.index);
            const indent = Math.min(node.depth, MAX_INDENT_LEVELS) * INDENT;
            return (
              <div
                key={node.index}
                role="treeitem"
                aria-level={node.depth + 1}
                aria-expanded={node.hasChildren ? open : undefined}
                aria-selected={selectedLayer === node.index}
                tabIndex={item.index === tabStop ? 0 : -1}
                data-pos={item.index}
                className={`chain-node${selectedLayer === node.index ? ' selected' : ''}${layer.present ? '' : ' row-missing'}`}
                data-testid="chain-node"
                data-index={node.index}
                style={{ transform: `translateY(${item.start}px)`, height: NODE_HEIGHT, paddingLeft: 8 + indent }}
                onClick={() => select(cacheId, 'layer', node.index)}
              >
                {node.hasChildren ? (
                  <button
                    type="button"
                    className="toggle"
                    tabIndex={-1}
                    aria-expanded={open}
                    onClick={(e) => {
                      e.stopPropagation();
                      toggle(node.index);
                    }}
                    aria-label={open ? 'Collapse' : 'Expand'}
                  >
                    {open ? '▾' : '▸'}
                  </button>
                ) : (
                  <span className="toggle leaf" aria-hidden="true">
                    ·
                  </span>
                )}
                {node.depth > MAX_INDENT_LEVELS && <span className="depth">depth {node.depth}</span>}
                <span className="muted idx">#{node.index}</span>
                <code title={layer.blob} className="blob">
                  {short(layer.blob)}
                </code>
                {view.names?.layers[node.index] && (
                  <span className="record-name chain-name" title={`${view.names.layers[node.index]!.text}\n${view.names.layers[node.index]!.from}`} data-testid="chain-node-name">
                    {displayName(view.names.layers[node.index]!.text)}
                  </span>
                )}
                <Bytes n={layer.size} className="size" />
                <span className="muted small" title={layer.diffID ?? 'no diffID'}>
                  diffID <code>{short(layer.diffID, 8)}</code>
                </span>
                <code className="muted small">{layer.createdAt ?? ''}</code>
                {!layer.present && <span className="badge missing">missing</span>}
                {layer.blobUses > 1 && (
                  <span className="badge dup" title="The same blob sits at several chain positions">
                    duplicate ×{layer.blobUses}
                  </span>
                )}
                {records.slice(0, MAX_RECORD_BADGES).map((r) => (
                  <button
                    type="button"
                    key={r}
                    className={`badge rec${selectedRecord === r ? ' selected' : ''}`}
                    // Only the focused row's badges are Tab stops: Tab goes from the row to its records, then on.
                    tabIndex={item.index === tabStop ? 0 : -1}
                    onClick={(e) => {
                      e.stopPropagation();
                      select(cacheId, 'record', r);
                    }}
                    title={`Record #${r} ${view.records[r]?.digest ?? ''}${view.names?.records[r] ? ` (${displayName(view.names.records[r]!.text)})` : ''}: its result ends at this entry`}
                  >
                    record #{r}
                  </button>
                ))}
                {records.length > MAX_RECORD_BADGES && <span className="muted small">+{records.length - MAX_RECORD_BADGES} more</span>}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
