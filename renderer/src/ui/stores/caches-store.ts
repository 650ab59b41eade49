/** Opened caches, the active one, the tab and the selection; fed only through the bridge. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { CacheView } from '../../../../shared/cache/view-types';
import { api, errorText } from '../bridge';

export type Tab = 'overview' | 'layers' | 'records' | 'chains' | 'orphans' | 'raw' | 'diff';

export interface OpenCache {
  cacheId: string;
  view: CacheView;
}

export type Selection = { kind: 'layer' | 'record'; index: number } | null;

export interface CachesState {
  caches: OpenCache[];
  activeId: string | null;
  tab: Tab;
  loading: string | null;
  error: string | null;
  selection: Selection;
  open(source: string): Promise<OpenCache | null>;
  reopen(cacheId: string): Promise<void>;
  close(cacheId: string): Promise<void>;
  setActive(cacheId: string): void;
  setTab(tab: Tab): void;
  select(selection: Selection): void;
  setError(error: string | null): void;
}

export const cachesStore = createStore<CachesState>()((set, get) => ({
  caches: [],
  activeId: null,
  tab: 'overview',
  loading: null,
  error: null,
  selection: null,
  async open(source) {
    set({ loading: `Opening ${source}…`, error: null });
    try {
      const opened = await api.request('openCache', { source });
      set((s) => ({ caches: [...s.caches, opened], activeId: opened.cacheId, tab: s.tab === 'diff' ? 'diff' : 'overview', selection: null, loading: null }));
      return opened;
    } catch (err) {
      set({ loading: null, error: `Could not open ${source}: ${errorText(err)}` });
      return null;
    }
  },
  async reopen(cacheId) {
    const entry = get().caches.find((c) => c.cacheId === cacheId);
    if (!entry) return;
    const opened = await get().open(entry.view.source);
    if (opened) {
      await api.request('closeCache', { cacheId }).catch(() => undefined);
      set((s) => ({ caches: s.caches.filter((c) => c.cacheId !== cacheId) }));
    }
  },
  async close(cacheId) {
    await api.request('closeCache', { cacheId }).catch(() => undefined);
    set((s) => {
      const caches = s.caches.filter((c) => c.cacheId !== cacheId);
      return { caches, activeId: s.activeId === cacheId ? (caches[caches.length - 1]?.cacheId ?? null) : s.activeId, selection: null };
    });
  },
  setActive: (cacheId) => set({ activeId: cacheId, selection: null }),
  setTab: (tab) => set({ tab }),
  select: (selection) => set({ selection }),
  setError: (error) => set({ error }),
}));

export function useCaches<T>(selector: (s: CachesState) => T): T {
  return useStore(cachesStore, selector);
}

export function useActiveCache(): OpenCache | null {
  return useCaches((s) => s.caches.find((c) => c.cacheId === s.activeId) ?? null);
}
