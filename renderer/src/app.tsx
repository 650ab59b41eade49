/** The window: opened caches on the left, tabs for the active one, the detail pane of the selection on the right. */
import { useEffect } from 'react';
import { DetailPane } from './components/detail-pane';
import { BusyIndicator, ErrorBanner } from './components/error-banner';
import { Sidebar } from './components/sidebar';
import { TAB_PANEL_ID, TabBar, tabId } from './components/tab-bar';
import { cachesStore, useActiveCache, useCaches } from './stores/caches-store';
import type { Tab } from './stores/caches-store';
import { connectExportEvents, exportStore, isRunning, useExport } from './stores/export-store';
import { useSelection } from './stores/selection-store';
import type { SelectionKind } from './stores/selection-store';
import { Chains } from './views/chains';
import { DiffView } from './views/diff';
import { ExportDialog } from './views/export-dialog';
import { ImageExportDialog } from './views/image-export-dialog';
import { Layers } from './views/layers';
import { Orphans } from './views/orphans';
import { Overview } from './views/overview';
import { RawJson } from './views/raw-json';
import { Records } from './views/records';
import { RegistryView } from './views/registry';

/**
 * Which selections each tab's detail pane shows: its own rows (the Chains tree has both kinds). Not
 * Records: its bottom panel already details the selected record, and one place is enough.
 */
const DETAIL_KINDS: Partial<Record<Tab, readonly SelectionKind[]>> = { layers: ['layer'], chains: ['layer', 'record'] };

function Welcome() {
  const opening = useCaches((s) => s.opening.length > 0);
  const startup = useCaches((s) => s.startup);
  if (opening) return <p className="muted pad">Opening…</p>;
  return (
    <div className="welcome pad" data-testid="empty-state">
      <h2>Open a BuildKit cache</h2>
      <p>Type a source in the sidebar and press Open:</p>
      <ul>
        <li>
          <code>/path/to/cache-dir</code>: a folder written by <code>docker buildx build --cache-to type=local,dest=DIR</code> (the <code>latest</code> tag)
        </li>
        <li>
          <code>/path/to/cache-dir:tag</code> or <code>/path/to/cache-dir@sha256:…</code>: another tag or generation of that folder
        </li>
        <li>a cache config JSON file, or an image config with an inline cache</li>
      </ul>
      <p className="muted">The Diff tab compares two opened caches, or two generations of one folder.{startup ? ` Cachescope ${startup.version}, ${startup.mode} mode.` : ''}</p>
    </div>
  );
}

function ExportButton({ cacheId }: { cacheId: string }) {
  const running = useExport((s) => Object.values(s.jobs).some((j) => j.cacheId === cacheId && isRunning(j)));
  return (
    <button type="button" className="primary" data-testid="export-button" onClick={() => exportStore.getState().openDialog(cacheId)} title="Export this cache to a local OCI layout, converting it on the way">
      {running ? 'Exporting…' : 'Export…'}
    </button>
  );
}

export function App() {
  const active = useActiveCache();
  const tab = useCaches((s) => s.tab);
  const selectedKind = useSelection((s) => (active && s.selection && s.selection.cacheId === active.cacheId ? s.selection.kind : null));

  useEffect(() => {
    connectExportEvents();
    void cachesStore.getState().init();
  }, []);

  const showDetail = Boolean(active && selectedKind && DETAIL_KINDS[tab]?.includes(selectedKind));
  const orphanCount = active?.view.orphans?.items.length ?? 0;
  return (
    <div className="app">
      <Sidebar />
      <main className="main">
        <ErrorBanner />
        <header className="header">
          <div className="title" title={tab === 'diff' || tab === 'registry' ? undefined : active?.view.source}>
            {tab === 'diff' ? <strong>Compare two caches</strong> : tab === 'registry' ? <strong>Browse a registry repository</strong> : active ? <code>{active.view.source}</code> : <span className="muted">No cache opened</span>}
          </div>
          <BusyIndicator />
          {active && tab !== 'diff' && tab !== 'registry' && <ExportButton cacheId={active.cacheId} />}
        </header>
        <TabBar hasCache={Boolean(active)} counts={{ layers: active?.view.summary.layerEntries, records: active?.view.summary.records, orphans: orphanCount }} />
        <div className={`content${showDetail ? ' with-detail' : ''}`}>
          <section className="view" role="tabpanel" id={TAB_PANEL_ID} aria-labelledby={tabId(tab)}>
            {tab === 'diff' ? (
              <DiffView />
            ) : tab === 'registry' ? (
              <RegistryView />
            ) : !active ? (
              <Welcome />
            ) : tab === 'overview' ? (
              <Overview key={active.cacheId} view={active.view} cacheId={active.cacheId} />
            ) : tab === 'layers' ? (
              <Layers key={active.cacheId} view={active.view} cacheId={active.cacheId} />
            ) : tab === 'records' ? (
              <Records key={active.cacheId} view={active.view} cacheId={active.cacheId} />
            ) : tab === 'chains' ? (
              <Chains key={active.cacheId} view={active.view} cacheId={active.cacheId} />
            ) : tab === 'orphans' ? (
              <Orphans key={active.view.source} view={active.view} cacheId={active.cacheId} />
            ) : (
              <RawJson key={active.cacheId} view={active.view} cacheId={active.cacheId} />
            )}
          </section>
          {showDetail && active && <DetailPane cacheId={active.cacheId} view={active.view} />}
        </div>
      </main>
      <ExportDialog />
      <ImageExportDialog />
    </div>
  );
}
