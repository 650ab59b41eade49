/** The window: opened caches on the left, tabs for the active one, a detail pane with the raw JSON of the selection. */
import { useEffect, useState } from 'react';
import { api, errorText } from './bridge';
import { short } from './format';
import { cachesStore, useActiveCache, useCaches } from './stores/caches-store';
import type { Tab } from './stores/caches-store';
import { Chains } from './views/chains';
import { DiffView } from './views/diff';
import { ExportDialog } from './views/export-dialog';
import { Layers } from './views/layers';
import { Orphans } from './views/orphans';
import { Overview } from './views/overview';
import { Raw } from './views/raw';
import { Records } from './views/records';

const TABS: { id: Tab; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'layers', label: 'Layers' },
  { id: 'records', label: 'Records' },
  { id: 'chains', label: 'Chains' },
  { id: 'orphans', label: 'Orphans' },
  { id: 'raw', label: 'Raw JSON' },
  { id: 'diff', label: 'Diff' },
];

function OpenForm() {
  const [source, setSource] = useState('');
  const [electron, setElectron] = useState(false);
  useEffect(() => {
    api.request('getStartup', {}).then((s) => setElectron(s.mode === 'electron'), () => undefined);
  }, []);
  const submit = () => {
    if (source.trim()) void cachesStore.getState().open(source.trim());
  };
  return (
    <form
      className="open-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <input data-testid="open-source-input" value={source} placeholder="/path/dir, dir:tag, dir@sha256:…, config.json" onChange={(e) => setSource(e.target.value)} />
      <div className="row">
        <button type="submit" className="primary" data-testid="open-source-button">Open</button>
        {electron && (
          <button
            type="button"
            onClick={() =>
              void api.request('pickDirectory', { title: 'Open a cache folder' }).then((r) => {
                if (r.path) void cachesStore.getState().open(r.path);
              })
            }
          >
            Browse…
          </button>
        )}
      </div>
    </form>
  );
}

function Sidebar() {
  const caches = useCaches((s) => s.caches);
  const activeId = useCaches((s) => s.activeId);
  return (
    <aside className="sidebar">
      <div className="brand">Cachescope</div>
      <OpenForm />
      <div className="cache-list">
        {caches.length === 0 && <p className="muted small">No cache opened yet.</p>}
        {caches.map((c) => (
          <div key={c.cacheId} className={`cache-item ${c.cacheId === activeId ? 'active' : ''}`} onClick={() => cachesStore.getState().setActive(c.cacheId)} data-testid="cache-item">
            <div className="cache-source" title={c.view.source}>{c.view.source.split('/').slice(-2).join('/')}</div>
            <div className="small muted">
              {c.view.variant} · {short(c.view.manifest?.digest ?? c.view.config.digest, 8)}
            </div>
            <button
              type="button"
              className="close"
              title="Close"
              onClick={(e) => {
                e.stopPropagation();
                void cachesStore.getState().close(c.cacheId);
              }}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </aside>
  );
}

function DetailPane() {
  const active = useActiveCache();
  const selection = useCaches((s) => s.selection);
  if (!active || !selection) return null;
  const item = selection.kind === 'layer' ? active.view.layers[selection.index] : active.view.records[selection.index];
  return (
    <aside className="detail" data-testid="detail-pane">
      <h4>
        {selection.kind} #{selection.index}
        <button type="button" className="link" onClick={() => cachesStore.getState().select(null)} aria-label="Close the detail pane">
          ×
        </button>
      </h4>
      <pre className="raw">{JSON.stringify(item, null, 2)}</pre>
    </aside>
  );
}

export function App() {
  const active = useActiveCache();
  const tab = useCaches((s) => s.tab);
  const error = useCaches((s) => s.error);
  const loading = useCaches((s) => s.loading);
  const [exporting, setExporting] = useState<string | null>(null);
  useEffect(() => {
    api.request('getStartup', {}).then(
      (s) => {
        if (s.source) void cachesStore.getState().open(s.source);
      },
      (err) => cachesStore.getState().setError(`Could not reach the engine: ${errorText(err)}`),
    );
  }, []);
  const selection = useCaches((s) => s.selection);
  const showDetail = Boolean(active && selection && (tab === 'layers' || tab === 'records' || tab === 'chains'));
  return (
    <div className="app">
      <Sidebar />
      <main className="main">
        {error && (
          <div className="error-banner" role="alert" data-testid="error-banner">
            <span>{error}</span>
            <button type="button" onClick={() => cachesStore.getState().setError(null)} aria-label="Dismiss">×</button>
          </div>
        )}
        {loading && <div className="loading">{loading}</div>}
        <header className="header">
          <div className="title" title={active?.view.source}>{active ? active.view.source : 'Open a BuildKit cache folder, config or image config'}</div>
          {active && (
            <button type="button" className="primary" data-testid="export-button" onClick={() => setExporting(active.cacheId)}>
              Export…
            </button>
          )}
        </header>
        <nav className="tabs" role="tablist">
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              aria-selected={tab === t.id}
              className={tab === t.id ? 'active' : ''}
              data-testid={`tab-${t.id}`}
              disabled={!active && t.id !== 'diff'}
              onClick={() => cachesStore.getState().setTab(t.id)}
            >
              {t.label}
              {t.id === 'orphans' && active?.view.orphans && active.view.orphans.items.length > 0 ? <span className="pill">{active.view.orphans.items.length}</span> : null}
            </button>
          ))}
        </nav>
        <div className={`content ${showDetail ? 'with-detail' : ''}`}>
          <section className="view">
            {tab === 'diff' ? (
              <DiffView />
            ) : !active ? (
              <p className="muted pad">Nothing opened. Type a path on the left: a cache folder written by <code>--cache-to type=local,dest=DIR</code>.</p>
            ) : tab === 'overview' ? (
              <Overview view={active.view} />
            ) : tab === 'layers' ? (
              <Layers view={active.view} />
            ) : tab === 'records' ? (
              <Records view={active.view} />
            ) : tab === 'chains' ? (
              <Chains view={active.view} />
            ) : tab === 'orphans' ? (
              <Orphans view={active.view} cacheId={active.cacheId} />
            ) : (
              <Raw cacheId={active.cacheId} />
            )}
          </section>
          {showDetail && <DetailPane />}
        </div>
      </main>
      {exporting && <ExportDialog cacheId={exporting} onClose={() => setExporting(null)} />}
    </div>
  );
}
