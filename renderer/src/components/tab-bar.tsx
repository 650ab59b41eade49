/**
 * The view tabs, after the WAI-ARIA tabs pattern: one tab in the Tab order (roving tabindex), Left and
 * Right move to the previous and next enabled tab (wrapping), Home and End to the first and last;
 * the tab that gets focus is selected at once (switching views is cheap).
 */
import { useRef } from 'react';
import type { KeyboardEvent } from 'react';
import { cachesStore, useCaches } from '../stores/caches-store';
import type { Tab } from '../stores/caches-store';

export const TABS: { id: Tab; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'layers', label: 'Layers' },
  { id: 'records', label: 'Records' },
  { id: 'chains', label: 'Chains' },
  { id: 'orphans', label: 'Orphans' },
  { id: 'raw', label: 'Raw JSON' },
  { id: 'registry', label: 'Registry' },
  { id: 'diff', label: 'Diff' },
];

/** Tabs that work with no cache open: they pick their own sources. */
const GLOBAL_TABS: readonly Tab[] = ['registry', 'diff'];

/** The one tab panel's id, named by every tab's aria-controls. */
export const TAB_PANEL_ID = 'view-panel';

export const tabId = (tab: Tab): string => `view-tab-${tab}`;

export interface TabCounts {
  layers?: number;
  records?: number;
  orphans: number;
}

export function TabBar({ hasCache, counts }: { hasCache: boolean; counts: TabCounts }) {
  const tab = useCaches((s) => s.tab);
  const refs = useRef(new Map<Tab, HTMLButtonElement>());
  const enabled = TABS.filter((t) => hasCache || GLOBAL_TABS.includes(t.id));
  // A disabled selected tab (no cache open) cannot hold focus: Registry (then Diff) is the way in then.
  const stop = enabled.some((t) => t.id === tab) ? tab : enabled[0].id;

  const onKeyDown = (e: KeyboardEvent<HTMLElement>) => {
    const at = enabled.findIndex((t) => t.id === stop);
    const n = enabled.length;
    const to = e.key === 'ArrowRight' ? (at + 1) % n : e.key === 'ArrowLeft' ? (at - 1 + n) % n : e.key === 'Home' ? 0 : e.key === 'End' ? n - 1 : -1;
    if (to < 0) return;
    e.preventDefault();
    const next = enabled[to].id;
    cachesStore.getState().setTab(next);
    refs.current.get(next)?.focus();
  };

  return (
    <nav className="tabs" role="tablist" aria-label="Views" onKeyDown={onKeyDown}>
      {TABS.map((t) => (
        <button
          key={t.id}
          ref={(el) => {
            if (el) refs.current.set(t.id, el);
            else refs.current.delete(t.id);
          }}
          type="button"
          role="tab"
          id={tabId(t.id)}
          aria-selected={tab === t.id}
          aria-controls={TAB_PANEL_ID}
          tabIndex={t.id === stop ? 0 : -1}
          className={`${tab === t.id ? 'active' : ''}${t.id === GLOBAL_TABS[0] ? ' tab-global' : ''}`}
          data-testid={`tab-${t.id}`}
          disabled={!hasCache && !GLOBAL_TABS.includes(t.id)}
          onClick={() => cachesStore.getState().setTab(t.id)}
        >
          {t.label}
          {t.id === 'layers' && counts.layers !== undefined ? <span className="pill">{counts.layers}</span> : null}
          {t.id === 'records' && counts.records !== undefined ? <span className="pill">{counts.records}</span> : null}
          {t.id === 'orphans' && counts.orphans > 0 ? <span className="pill warn">{counts.orphans}</span> : null}
        </button>
      ))}
    </nav>
  );
}
