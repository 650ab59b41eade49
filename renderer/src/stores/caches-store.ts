/** Opened caches by id, the active one and its tab, the startup info; fed only through the bridge. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { LayoutChanged, OpenedCache, StartupInfo } from '../../../shared/contract/index';
import { api } from '../bridge';
import { errorParts, statusStore } from './status-store';

export type Tab = 'overview' | 'layers' | 'records' | 'chains' | 'orphans' | 'raw' | 'diff' | 'registry';

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
  /**
   * Attaches an image of the same build to name the cache's records from its history; the view is
   * replaced in place (same cacheId). Resolves to null, or to the error's words when it is refused.
   */
  attachImage(cacheId: string, image: string): Promise<string | null>;
  /**
   * A layout folder changed under its views (a gc, from this window or another): every open view of
   * that folder is read again, a view of a deleted generation is closed, and a notice names each
   * deleted generation. Handled once per change, whether the event or the gc answer comes first.
   */
  layoutChanged(change: LayoutChanged): Promise<void>;
}

/** Layout folders compare equal whatever trailing slashes they were typed with. */
export function sameDir(a: string, b: string): boolean {
  const trim = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  return trim(a) === trim(b);
}

/** The generation a view shows: its manifest digest in a layout folder, or null. */
function generationOf(c: OpenCache): string | null {
  return c.view.layout ? (c.view.manifest?.digest ?? c.view.layout.digest) : null;
}

/** Change ids already handled, and reopen calls in flight (a second caller waits for the first). */
const handledChanges = new Set<string>();
const reopening = new Map<string, Promise<OpenCache | null>>();

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
    api.on('layoutChanged', (change) => void get().layoutChanged(change));
    let startup: StartupInfo;
    try {
      startup = await api.request('getStartup', {});
    } catch (err) {
      statusStore.getState().report('Could not reach the Cachescope engine', err, 'engine');
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
      if (fresh && activate) set((s) => ({ activeId: fresh.cacheId, tab: s.tab !== 'diff' && s.tab !== 'registry' ? 'overview' : s.tab }));
      return fresh;
    }
    set((s) => ({ opening: [...s.opening, source], openError: null }));
    try {
      const opened = await statusStore.getState().track(`Opening ${source}…`, api.request('openCache', { source }));
      statusStore.getState().clearSource('open');
      set((s) => ({
        caches: [...s.caches, opened],
        activeId: activate ? opened.cacheId : (s.activeId ?? opened.cacheId),
        // A new cache starts on its overview, unless the user is comparing caches or browsing a registry
        // (the startup cache finishing late must not pull them off it; the registry view switches itself).
        tab: activate && s.tab !== 'diff' && s.tab !== 'registry' ? 'overview' : s.tab,
      }));
      return opened;
    } catch (err) {
      set({ openError: { source, ...errorParts(err) } });
      statusStore.getState().report(`Could not open ${source}`, err, 'open');
      return null;
    } finally {
      set((s) => {
        const i = s.opening.indexOf(source);
        return { opening: i < 0 ? s.opening : [...s.opening.slice(0, i), ...s.opening.slice(i + 1)] };
      });
    }
  },

  reopen(cacheId) {
    const inFlight = reopening.get(cacheId);
    if (inFlight) return inFlight;
    const work = (async () => {
      const old = get().caches.find((c) => c.cacheId === cacheId);
      if (!old) return null;
      let fresh: OpenCache;
      try {
        fresh = await statusStore.getState().track(`Reloading ${old.view.source}…`, api.request('openCache', { source: old.view.source }));
      } catch (err) {
        statusStore.getState().report(`Could not reload ${old.view.source}`, err, 'open');
        return null;
      }
      // Images attached to the old view name the fresh one too (an image that no longer fits is dropped).
      for (const img of old.view.names?.images ?? []) {
        if (img.inline) continue;
        const named = await api.request('attachImage', { cacheId: fresh.cacheId, image: img.ref }).catch(() => null);
        if (named) fresh = { ...fresh, view: named.view };
      }
      set((s) => ({
        caches: s.caches.map((c) => (c.cacheId === cacheId ? fresh : c)),
        activeId: s.activeId === cacheId ? fresh.cacheId : s.activeId,
      }));
      await api.request('closeCache', { cacheId }).catch(() => undefined);
      return fresh;
    })();
    reopening.set(cacheId, work);
    return work.finally(() => reopening.delete(cacheId));
  },

  async layoutChanged(change) {
    if (handledChanges.has(change.changeId)) return;
    handledChanges.add(change.changeId);
    const removed = new Set(change.removedGenerations);
    const closed: string[] = [];
    const moved: string[] = [];
    const views = get().caches.filter((c) => c.view.layout && sameDir(c.view.layout.dir, change.dir));
    await Promise.all(
      views.map(async (c) => {
        const gen = generationOf(c);
        if (gen && removed.has(gen) && c.view.layout?.tag === null) {
          // Opened by digest: there is nothing left to read, so the view goes and the notice says why.
          closed.push(c.view.source);
          await get().close(c.cacheId);
          return;
        }
        const fresh = await get().reopen(c.cacheId);
        if (fresh && gen && removed.has(gen)) moved.push(`${c.view.source} now shows ${generationOf(fresh) ?? 'its current generation'}`);
      }),
    );
    if (change.removedGenerations.length > 0) {
      const list = change.removedGenerations.map((d) => `generation ${d} was removed by gc`).join('; ');
      const after = [closed.length > 0 ? ` Closed ${closed.length === 1 ? 'its view' : 'their views'}: ${closed.join(', ')}.` : '', moved.length > 0 ? ` ${moved.join('; ')}.` : ''].join('');
      statusStore.getState().notify(`gc:${change.dir}`, `In ${change.dir}: ${list}.${after}`);
    }
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
  async attachImage(cacheId, image) {
    try {
      const { view } = await statusStore.getState().track(`Reading image ${image}…`, api.request('attachImage', { cacheId, image }));
      set((s) => ({ caches: s.caches.map((c) => (c.cacheId === cacheId ? { ...c, view } : c)) }));
      return null;
    } catch (err) {
      return errorParts(err).message;
    }
  },
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
