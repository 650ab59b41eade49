/**
 * Raw JSON: the manifest, cache config and index.json documents, pretty-printed or as stored.
 * A JSON worker formats and holds the text; the page draws only the lines in view (virtualized),
 * a large document starts folded below its top level, and "download raw" saves the exact bytes.
 */
import { useEffect, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { CacheView } from '../../../shared/cache/view-types';
import { exactBytes, formatBytes, percent } from '../format';
import { useJsonDoc } from '../json-worker-client';
import type { JsonDoc } from '../json-worker-client';

type What = 'manifest' | 'config' | 'index';

const LABEL: Record<What, string> = { manifest: 'Manifest', config: 'Cache config', index: 'index.json' };

const LINE_HEIGHT = 20;
/** Past this many lines "Expand all" is refused: the list would outgrow what a browser can scroll. */
const MAX_EXPANDED_LINES = 1_500_000;

/** The download's file name: the blob's digest for content-addressed documents. */
function fileName(what: What, view: CacheView): string {
  const digest = what === 'manifest' ? view.manifest?.digest : what === 'config' ? view.config.digest : null;
  if (what === 'index' || !digest) return what === 'index' ? 'index.json' : `${what}.json`;
  return `${what === 'config' ? 'cache-config' : 'manifest'}-${digest.replace(':', '-')}.json`;
}

/** Saves the exact bytes through a same-origin blob: URL (no server round trip, nothing re-encoded). */
function download(raw: Blob, name: string): void {
  const url = URL.createObjectURL(raw);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  // The download reads the blob after this task; release it once that has surely started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Copies the stored text from the worker's blob: the page never holds the text as a string. */
function CopyRaw({ raw }: { raw: Blob }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 1500);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.write([new ClipboardItem({ 'text/plain': new Blob([raw], { type: 'text/plain' }) })]);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <button type="button" className={`copy ${state}`} title="Copy the document as stored to the clipboard" aria-live="polite" onClick={() => void copy()}>
      {state === 'copied' ? 'copied' : state === 'failed' ? 'copy failed' : 'copy as stored'}
    </button>
  );
}

export function RawJson({ cacheId, view }: { cacheId: string; view: CacheView }) {
  const available: What[] = [...(view.manifest ? (['manifest'] as const) : []), 'config', ...(view.layout ? (['index'] as const) : [])];
  const [what, setWhat] = useState<What>(available[0]);
  const [pretty, setPretty] = useState(true);
  const doc = useJsonDoc({ cacheId, what }, pretty);
  const s = doc.state;
  return (
    <div className="view-fill">
      <div className="toolbar">
        <div className="segmented" role="group" aria-label="Document">
          {available.map((w) => (
            <button type="button" aria-pressed={w === what} key={w} className={w === what ? 'active' : ''} onClick={() => setWhat(w)} data-testid={`raw-${w}`}>
              {LABEL[w]}
            </button>
          ))}
        </div>
        <label className="check">
          <input type="checkbox" checked={pretty} onChange={(e) => setPretty(e.target.checked)} data-testid="raw-pretty" /> pretty-print
        </label>
        {s.phase === 'ready' && (
          <span className="muted small" data-testid="raw-stats" data-lines={s.lines} data-bytes={s.bytes}>
            <span data-testid="raw-line-count">{s.lines.toLocaleString('en-US')}</span> {s.pretty ? 'lines' : 'rows as stored'} · {exactBytes(s.bytes)} ({formatBytes(s.bytes)})
            {pretty && !s.pretty ? ' · not JSON, shown as stored' : ''}
          </span>
        )}
        <span className="spacer" />
        {s.phase === 'ready' && s.pretty && (
          <>
            <button type="button" onClick={() => doc.fold('all')} data-testid="raw-fold-all">
              Fold all
            </button>
            <button type="button" onClick={() => doc.fold('none')} disabled={s.lines > MAX_EXPANDED_LINES} title={s.lines > MAX_EXPANDED_LINES ? 'Too many lines to show at once: unfold members one by one' : undefined} data-testid="raw-expand-all">
              Expand all
            </button>
          </>
        )}
        {s.phase === 'ready' && (
          <button type="button" onClick={() => download(s.raw, fileName(what, view))} data-testid="raw-download" title="Save the document's exact bytes as stored">
            Download raw
          </button>
        )}
        {s.phase === 'ready' && <CopyRaw raw={s.raw} />}
      </div>
      {s.phase === 'loading' && (
        <p className="muted pad" role="status">
          Loading {LABEL[what]}…
        </p>
      )}
      {s.phase === 'error' && <p className="notice bad">{s.message}</p>}
      {s.phase === 'formatting' && (
        <p className="muted pad" data-testid="raw-formatting" role="status">
          Formatting {LABEL[what]}… {s.done > 0 ? percent(s.done) : ''}
        </p>
      )}
      {s.phase === 'ready' && <JsonLinesView doc={doc} count={s.visible} version={s.version} label={LABEL[what]} />}
    </div>
  );
}

function JsonLinesView({ doc, count, version, label }: { doc: JsonDoc; count: number; version: number; label: string }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scrollRef.current, estimateSize: () => LINE_HEIGHT, overscan: 30 });
  const items = virtualizer.getVirtualItems();
  const first = items.length > 0 ? items[0].index : 0;
  const last = items.length > 0 ? items[items.length - 1].index : 0;
  useEffect(() => {
    doc.want(first, last + 1);
  }, [first, last, version]);
  return (
    <div className="json-scroll" ref={scrollRef} data-testid="raw-json" tabIndex={0} role="region" aria-label={`${label} text`}>
      <div className="json-rows" style={{ height: virtualizer.getTotalSize() }}>
        {items.map((item) => {
          const row = doc.row(item.index);
          return (
            <div key={item.index} className="json-line" data-testid="raw-line" data-line={row?.line} style={{ transform: `translateY(${item.start}px)`, height: LINE_HEIGHT }}>
              <span className="json-gutter" aria-hidden="true">
                {row ? (row.continued ? '↪' : row.line + 1) : ''}
              </span>
              {row && row.open !== null ? (
                <button type="button" className="json-fold" aria-expanded={row.open} aria-label={`${row.open ? 'Fold' : 'Unfold'} line ${row.line + 1}`} onClick={() => doc.toggle(row.line)} data-testid="raw-fold">
                  {row.open ? '▾' : '▸'}
                </button>
              ) : (
                <span className="json-fold" aria-hidden="true" />
              )}
              <code className="json-text">
                {row ? '  '.repeat(row.depth) + row.text : ''}
                {row && row.cut > 0 && <span className="muted"> … {row.cut.toLocaleString('en-US')} more characters (download raw for all)</span>}
              </code>
              {row && row.open === false && (
                <span className="json-count muted small">
                  {row.children.toLocaleString('en-US')} {row.array ? (row.children === 1 ? 'item' : 'items') : row.children === 1 ? 'key' : 'keys'}
                </span>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}
