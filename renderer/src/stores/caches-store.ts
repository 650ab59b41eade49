/** Opened caches by id, the active one and its tab, the startup info; fed only through the bridge. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { OpenedCache, StartupInfo } from '../../../shared/contract/index';
import { api } from '../bridge';
import { errorParts, statusStore } from './status-store';

export type Tab = 'overview' | 'layers' | 'records' | 'chains' | 'orphans' | 'raw' | 'diff';

export type OpenCache = OpenedCache;

export interface OpenFailure {
  source: string;
  message: string;
  code: string | null;
}

export interface CachesState {
  startup: StartupInfo | null;
  caches: OpenCache[];
  activeId: string | null;
  tab: Tab;
  /** Sources being opened right now (shown as loading rows in the sidebar). */
  opening: string[];
  /** The last failed open, shown under the Open form (the banner shows it too). */
  openError: OpenFailure | null;
  /** Asks the engine for the startup info once and opens its source, if any. */
  init(): Promise<void>;
  /** Opens a source (or refreshes it when it is open already); resolves to null (and reports the error) when it cannot be opened. */
  open(source: string, options?: { activate?: boolean }): Promise<OpenCache | null>;
  /** Opens the same source again (after a GC, say) and puts the fresh view where the old one was. */
  reopen(cacheId: string): Promise<OpenCache | null>;
  close(cacheId: string): Promise<void>;
  setActive(cacheId: string): void;
  setTab(tab: Tab): void;
  clearOpenError(): void;
}

let initialised = false;

export const cachesStore = createStore<CachesState>()((set, get) => ({
  startup: null,
  caches: [],
  activeId: null,
  tab: 'overview',
  opening: [],
  openError: null,

  async init() {
    if (initialised) return;
    initialised = true;
    let startup: StartupInfo;
    try {
      startup = await api.request('getStartup', {});
    } catch (err) {
      statusStore.getState().report('Could not reach the Cachescope engine', err);
      return;
    }
    set({ startup });
    if (startup.source) await get().open(startup.source);
  },

  async open(source, options = {}) {
    const activate = options.activate ?? true;
    // Opening a source that is already open reads it again in place instead of listing it twice.
    const existing = get().caches.find((c) => c.view.source === source);
    if (existing) {
      const fresh = await get().reopen(existing.cacheId);
      if (fresh && activate) set((s) => ({ activeId: fresh.cacheId, tab: s.tab !== 'diff' ? 'overview' : s.tab }));
      return fresh;
    }
    set((s) => ({ opening: [...s.opening, source], openError: null }));
    try {
      const opened = await statusStore.getState().track(`Opening ${source}…`, api.request('openCache', { source }));
      set((s) => ({
        caches: [...s.caches, opened],
        activeId: activate ? opened.cacheId : (s.activeId ?? opened.cacheId),
        // A new cache starts on its overview, unless the user is comparing caches.
        tab: activate && s.tab !== 'diff' ? 'overview' : s.tab,
      }));
      return opened;
    } catch (err) {
      set({ openError: { source, ...errorParts(err) } });
      statusStore.getState().report(`Could not open ${source}`, err);
      return null;
    } finally {
      set((s) => {
        const i = s.opening.indexOf(source);
        return { opening: i < 0 ? s.opening : [...s.opening.slice(0, i), ...s.opening.slice(i + 1)] };
      });
    }
  },

  async reopen(cacheId) {
    const old = get().caches.find((c) => c.cacheId === cacheId);
    if (!old) return null;
    let fresh: OpenCache;
    try {
      fresh = await statusStore.getState().track(`Reloading ${old.view.source}…`, api.request('openCache', { source: old.view.source }));
    } catch (err) {
      statusStore.getState().report(`Could not reload ${old.view.source}`, err);
      return null;
    }
    set((s) => ({
      caches: s.caches.map((c) => (c.cacheId === cacheId ? fresh : c)),
      activeId: s.activeId === cacheId ? fresh.cacheId : s.activeId,
    }));
    await api.request('closeCache', { cacheId }).catch(() => undefined);
    return fresh;
  },

  async close(cacheId) {
    set((s) => {
      const i = s.caches.findIndex((c) => c.cacheId === cacheId);
      const caches = s.caches.filter((c) => c.cacheId !== cacheId);
      const neighbour = caches[Math.min(Math.max(i, 0), caches.length - 1)]?.cacheId ?? null;
      return { caches, activeId: s.activeId === cacheId ? neighbour : s.activeId };
    });
    // The engine forgets it too; a failure here only leaks memory in the engine, so it is not shown.
    await api.request('closeCache', { cacheId }).catch(() => undefined);
  },

  setActive: (cacheId) => set({ activeId: cacheId }),
  setTab: (tab) => set({ tab }),
  clearOpenError: () => set({ openError: null }),
}));

export function useCaches<T>(selector: (s: CachesState) => T): T {
  return useStore(cachesStore, selector);
}

function activeOf(s: CachesState): OpenCache | null {
  return s.caches.find((c) => c.cacheId === s.activeId) ?? null;
}

export function useActiveCache(): OpenCache | null {
  return useCaches(activeOf);
}

export function findCache(cacheId: string | null): OpenCache | null {
  return cacheId ? (cachesStore.getState().caches.find((c) => c.cacheId === cacheId) ?? null) : null;
}
