/** The left sidebar: the Open form and the list of opened caches. */
import { useState } from 'react';
import { api } from '../bridge';
import { short, shortSource } from '../format';
import { cachesStore, useCaches } from '../stores/caches-store';
import { statusStore } from '../stores/status-store';

const VARIANT_LABEL: Record<string, string> = {
  'image-manifest': 'image manifest',
  index: 'index',
  'legacy-index': 'legacy index',
  'config-only': 'config only',
  inline: 'inline',
};

function OpenForm() {
  const [source, setSource] = useState('');
  const electron = useCaches((s) => s.startup?.mode === 'electron');
  const openError = useCaches((s) => s.openError);
  const busy = useCaches((s) => s.opening.length > 0);
  const open = (value: string) => {
    const v = value.trim();
    if (v) void cachesStore.getState().open(v);
  };
  const browse = async () => {
    try {
      const { path } = await api.request('pickDirectory', { title: 'Open a BuildKit cache folder' });
      if (path) {
        setSource(path);
        open(path);
      }
    } catch (err) {
      statusStore.getState().report('Could not show the folder picker', err);
    }
  };
  return (
    <form
      className="open-form"
      onSubmit={(e) => {
        e.preventDefault();
        open(source);
      }}
    >
      <label htmlFor="open-source" className="side-label">
        Open a cache
      </label>
      <input
        id="open-source"
        data-testid="open-source-input"
        value={source}
        spellCheck={false}
        autoComplete="off"
        placeholder="/path/dir  ·  dir:tag  ·  dir@sha256:…"
        title="A cache folder (--cache-to type=local,dest=DIR), optionally with :tag or @sha256:digest, or a cache config / image config JSON file"
        onChange={(e) => {
          setSource(e.target.value);
          if (openError) cachesStore.getState().clearOpenError();
        }}
      />
      <div className="row">
        <button type="submit" className="primary" data-testid="open-source-button" disabled={!source.trim()}>
          {busy ? 'Opening…' : 'Open'}
        </button>
        {electron && (
          <button type="button" onClick={() => void browse()} data-testid="open-browse">
            Browse…
          </button>
        )}
      </div>
      {openError && (
        <p className="side-error" data-testid="open-error" title={`${openError.source}: ${openError.message}`}>
          {openError.code && <span className="badge err-code">{openError.code}</span>} {openError.message}
        </p>
      )}
    </form>
  );
}

/** The folder's parent shrinks first (with an ellipsis), so the last segment stays readable. */
function SourceName({ path }: { path: string }) {
  const parts = path.split(/[\\/]/).filter(Boolean);
  const leaf = parts.pop() ?? path;
  const parent = parts.pop();
  return (
    <span className="cache-source">
      {parent !== undefined && <span className="cache-parent">{parent}/</span>}
      <span className="cache-leaf">{leaf}</span>
    </span>
  );
}

export function Sidebar() {
  const caches = useCaches((s) => s.caches);
  const activeId = useCaches((s) => s.activeId);
  const tab = useCaches((s) => s.tab);
  const opening = useCaches((s) => s.opening);
  const version = useCaches((s) => s.startup?.version);
  return (
    <aside className="sidebar" aria-label="Opened caches">
      <div className="brand">
        Cachescope {version && <span className="version">v{version}</span>}
      </div>
      <OpenForm />
      <div className="side-label list-label">Opened caches</div>
      <nav className="cache-list">
        {caches.length === 0 && opening.length === 0 && <p className="side-empty">Nothing opened yet. Type a cache folder above, e.g. the <code>dest</code> of <code>--cache-to type=local</code>.</p>}
        {caches.map((c) => {
          const active = c.cacheId === activeId && tab !== 'diff';
          return (
            <div key={c.cacheId} className={`cache-item${active ? ' active' : ''}`} data-testid="cache-item">
              <button
                type="button"
                className="cache-select"
                aria-current={active ? 'true' : undefined}
                title={c.view.source}
                onClick={() => {
                  cachesStore.getState().setActive(c.cacheId);
                  if (cachesStore.getState().tab === 'diff') cachesStore.getState().setTab('overview');
                }}
              >
                <SourceName path={c.view.layout?.dir ?? c.view.source} />
                <span className="cache-meta">
                  {c.view.layout ? (c.view.layout.tag ? `:${c.view.layout.tag} · ` : '@') : ''}
                  {short(c.view.manifest?.digest ?? c.view.config.digest, 8)} · {VARIANT_LABEL[c.view.variant] ?? c.view.variant}
                  {c.view.summary.missingBlobs > 0 ? <span className="dot-missing" title={`${c.view.summary.missingBlobs} blobs missing`} /> : null}
                </span>
              </button>
              <button type="button" className="close" title={`Close ${c.view.source}`} aria-label={`Close ${c.view.source}`} onClick={() => void cachesStore.getState().close(c.cacheId)}>
                ×
              </button>
            </div>
          );
        })}
        {opening.map((source, i) => (
          <div key={`opening-${i}`} className="cache-item opening" title={source}>
            <span className="spinner" aria-hidden="true" /> <span className="cache-opening-source">{shortSource(source)}</span>
            <span className="cache-meta">opening…</span>
          </div>
        ))}
      </nav>
    </aside>
  );
}
