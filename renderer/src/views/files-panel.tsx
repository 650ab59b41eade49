/**
 * The Files panel of a layer entry or a record's result: the top layer's tar entries, the chain's
 * squashed tree, or the top layer's changes, as a virtualized tree with sizes and change markers,
 * searchable by path or glob. Opening reads blobs, so it waits for the "Open files" button, and then
 * shows a progress bar of the blob bytes read (or downloaded) so far, with the speed.
 */
import { useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { FileRow, LayerFilesResult, LayerFilesView } from '../../../shared/contract/index';
import { Bytes } from '../components/bytes';
import { ReadProgress } from '../components/read-progress';
import { plural } from '../format';
import { filesKey, filesStore, useSlot } from '../stores/files-store';
import type { FilesTarget } from '../stores/files-store';
import { isGlob, pathMatcher } from './file-search';
import { WasteReport } from './waste-panel';

const ROW = 24;
/** The tree grows with its rows up to this height, then scrolls. */
const MAX_TREE = 360;
const MARK: Record<NonNullable<FileRow['change']>, { sign: string; label: string }> = {
  added: { sign: '+', label: 'added' },
  modified: { sign: '~', label: 'modified' },
  removed: { sign: '−', label: 'removed' },
};
const VIEWS: { view: LayerFilesView; label: string; title: string }[] = [
  { view: 'entries', label: 'Entries', title: "The top layer's tar entries, as the archive has them" },
  { view: 'squash', label: 'Squashed', title: 'The whole chain applied: what a container sees, marked with what the top layer changed' },
  { view: 'changes', label: 'Changes', title: "Only the top layer's changes against the layers below it" },
];

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path || '/' : path.slice(i + 1);
}

function depthOf(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/** The rows to draw: filtered flat (search, changes only), or the tree with collapsed directories left out. */
function visibleRows(rows: FileRow[], query: string, onlyChanges: boolean, collapsed: Set<string>): { rows: FileRow[]; flat: boolean } {
  if (query.trim() || onlyChanges) {
    const match = pathMatcher(query);
    return { rows: rows.filter((r) => (!onlyChanges || r.change !== undefined) && match(r.path)), flat: true };
  }
  if (collapsed.size === 0) return { rows, flat: false };
  const out: FileRow[] = [];
  let hiddenUnder: string | null = null;
  for (const r of rows) {
    // Tree order puts a directory's children right after it, so one prefix at a time is enough.
    if (hiddenUnder !== null && r.path.startsWith(`${hiddenUnder}/`)) continue;
    hiddenUnder = null;
    out.push(r);
    if (r.type === 'dir' && collapsed.has(r.path)) hiddenUnder = r.path;
  }
  return { rows: out, flat: false };
}

function FileTree({ result }: { result: LayerFilesResult }) {
  const [query, setQuery] = useState('');
  const [onlyChanges, setOnlyChanges] = useState(false);
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const shown = useMemo(() => visibleRows(result.rows, query, onlyChanges, collapsed), [result.rows, query, onlyChanges, collapsed]);
  const changes = useMemo(() => result.rows.reduce((n, r) => n + (r.change ? 1 : 0), 0), [result.rows]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: shown.rows.length, getScrollElement: () => scrollRef.current, estimateSize: () => ROW, overscan: 12 });
  const toggle = (path: string) =>
    setCollapsed((s) => {
      const next = new Set(s);
      if (next.has(path)) next.delete(path);
      else next.add(path);
      return next;
    });
  const filtered = shown.rows.length !== result.rows.length;
  return (
    <div className="files-tree-wrap">
      <div className="files-tools">
        <input
          type="search"
          className="filter"
          spellCheck={false}
          aria-label="Search files by path or glob"
          placeholder="Search: path text, or a glob like *.txt or app/**"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          data-testid="files-search"
        />
        <label className="small files-only-changes">
          <input type="checkbox" checked={onlyChanges} onChange={(e) => setOnlyChanges(e.target.checked)} data-testid="files-only-changes" /> Show only changes ({changes})
        </label>
      </div>
      <p className="muted small" data-testid="files-count" aria-live="polite">
        {filtered ? `${shown.rows.length} of ${plural(result.rows.length, 'path')}` : plural(result.rows.length, 'path')}
        {query.trim() && isGlob(query) ? ' (glob)' : ''}
        {result.cachedLayers > 0 ? ` · ${plural(result.cachedLayers, 'listing')} from the cache` : ''}
      </p>
      {result.truncated && (
        <p className="warn-text small" data-testid="files-truncated">
          Only the first {result.rows.length.toLocaleString('en-US')} of {result.total.toLocaleString('en-US')} entries are shown; the CLI (`cachescope files --json`) lists them all.
        </p>
      )}
      <div className="files-tree" ref={scrollRef} role="list" aria-label="Files" data-testid="files-tree" tabIndex={0} style={{ height: Math.min(MAX_TREE, Math.max(2, shown.rows.length) * ROW + 2) }}>
        {shown.rows.length === 0 ? (
          <p className="muted small pad">{result.rows.length === 0 ? 'No files.' : 'No file matches.'}</p>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((v) => {
              const r = shown.rows[v.index];
              const isDir = r.type === 'dir';
              const open = !collapsed.has(r.path);
              const mark = r.change ? MARK[r.change] : null;
              return (
                <div
                  key={v.key}
                  role="listitem"
                  className={`file-row${r.change ? ` change-${r.change}` : ''}`}
                  data-testid="file-row"
                  data-path={r.path}
                  data-change={r.change ?? ''}
                  style={{ transform: `translateY(${v.start}px)`, height: ROW }}
                >
                  <span className="file-mark" title={mark?.label} aria-label={mark?.label}>
                    {mark?.sign ?? ''}
                  </span>
                  <span className="file-name" style={{ paddingLeft: shown.flat ? 0 : depthOf(r.path) * 14 }} title={r.link !== undefined ? `${r.path} → ${r.link}` : r.path}>
                    {isDir && !shown.flat ? (
                      <button type="button" className="file-toggle" aria-expanded={open} aria-label={`${open ? 'Collapse' : 'Expand'} ${r.path || '/'}`} onClick={() => toggle(r.path)}>
                        {open ? '▾' : '▸'}
                      </button>
                    ) : (
                      <span className="file-toggle-space" />
                    )}
                    <span className={isDir ? 'file-dir' : r.type === 'symlink' ? 'file-link' : ''}>{shown.flat ? r.path || '/' : baseName(r.path)}{isDir ? '/' : ''}</span>
                    {r.link !== undefined && <span className="muted"> → {r.link}</span>}
                    {r.warning && (
                      <span className="badge warn" title={r.warning}>
                        !
                      </span>
                    )}
                  </span>
                  <span className="file-size">{r.type === 'file' || r.type === 'hardlink' ? <Bytes n={r.size} /> : ''}</span>
                </div>
              );
            })}
          </div>
        )}
      </div>
      {result.notes.length > 0 && (
        <ul className="files-notes small muted">
          {result.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function FilesPanel({ cacheId, target }: { cacheId: string; target: FilesTarget }) {
  const [view, setView] = useState<LayerFilesView>('layer' in target ? 'entries' : 'squash');
  const key = filesKey(cacheId, target, view);
  const slot = useSlot<LayerFilesResult>(key);
  const what = 'layer' in target ? `layer entry ${target.layer}` : `record ${target.record}'s result`;
  return (
    <section className="files-panel" data-testid="files-panel" aria-label={`Files of ${what}`}>
      <div className="files-head">
        <h4>Files</h4>
        <div className="segmented" role="group" aria-label="Which listing">
          {VIEWS.map((v) => (
            <button type="button" key={v.view} title={v.title} aria-pressed={view === v.view} className={view === v.view ? 'active' : ''} onClick={() => setView(v.view)} data-testid={`files-view-${v.view}`}>
              {v.label}
            </button>
          ))}
        </div>
        {slot?.busy ? (
          <>
            <span className="busy" role="status" data-testid="files-busy">
              Reading layers…
            </span>
            <button type="button" onClick={() => void filesStore.getState().cancel(key)} data-testid="files-cancel">
              Cancel
            </button>
          </>
        ) : (
          <button type="button" className={slot?.result ? '' : 'primary'} onClick={() => void filesStore.getState().openFiles(cacheId, target, view)} data-testid="files-open" title="Reads the layer blobs (or their cached listings)">
            {slot?.result ? 'Read again' : 'Open files'}
          </button>
        )}
      </div>
      {slot?.busy && <ReadProgress progress={slot.progress} />}
      {slot?.error && (
        <p className="error-text small" role="alert" data-testid="files-error">
          {slot.error}
        </p>
      )}
      {slot?.result ? (
        <>
          <FileTree key={key} result={slot.result} />
          {slot.result.waste && (
            <section className="waste-panel" aria-label="Waste of this chain" data-testid="files-waste">
              <h4>Waste</h4>
              <WasteReport waste={slot.result.waste} />
            </section>
          )}
        </>
      ) : (
        !slot?.busy && <p className="muted small">Opening reads the {view === 'entries' ? "top layer's blob" : "chain's layer blobs"} (or the listings cached from an earlier read).</p>
      )}
    </section>
  );
}
