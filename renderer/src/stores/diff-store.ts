/** The diff of two opened caches (A = before, B = after), and the generations picker that feeds it. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { Generation } from '../../../shared/contract/index';
import type { CacheDiff } from '../../../shared/diff/types';
import { api } from '../bridge';
import { cachesStore, sameDir } from './caches-store';
import { errorText, statusStore } from './status-store';

export type BlobCategory = 'all' | 'a' | 'b' | 'both' | 'recompressed';

export interface GenerationsState {
  dir: string;
  list: Generation[] | null;
  loading: boolean;
  error: string | null;
  pickA: string | null;
  pickB: string | null;
}

export interface DiffState {
  a: string | null;
  b: string | null;
  result: CacheDiff | null;
  /** The cache ids the result was computed for. */
  ran: { a: string; b: string } | null;
  loading: boolean;
  error: string | null;
  /** Index into result.divergences. */
  selected: number | null;
  category: BlobCategory;
  generations: GenerationsState;
  setA(cacheId: string | null): void;
  setB(cacheId: string | null): void;
  swap(): void;
  run(): Promise<void>;
  selectDivergence(i: number | null): void;
  setCategory(category: BlobCategory): void;
  setGenerationsDir(dir: string): void;
  pickGeneration(side: 'a' | 'b', source: string): void;
  listGenerations(): Promise<void>;
  /** Opens the two picked generations (or finds them already open) and diffs them. */
  diffGenerations(): Promise<void>;
}

const NO_GENERATIONS: GenerationsState = { dir: '', list: null, loading: false, error: null, pickA: null, pickB: null };

export const diffStore = createStore<DiffState>()((set, get) => ({
  a: null,
  b: null,
  result: null,
  ran: null,
  loading: false,
  error: null,
  selected: null,
  category: 'all',
  generations: NO_GENERATIONS,
  setA: (a) => set({ a }),
  setB: (b) => set({ b }),
  swap: () => set((s) => ({ a: s.b, b: s.a })),
  async run() {
    const { a, b } = get();
    if (!a || !b) {
      set({ error: 'Pick two caches to compare.' });
      return;
    }
    set({ loading: true, error: null });
    try {
      const result = await statusStore.getState().track('Comparing caches…', api.request('diffCaches', { a, b }));
      set({ result, ran: { a, b }, loading: false, selected: result.divergences.length > 0 ? 0 : null, category: 'all' });
    } catch (err) {
      // Shown in the Diff view, next to the pickers; a banner would say it a second time.
      set({ loading: false, error: errorText(err) });
    }
  },
  selectDivergence: (selected) => set({ selected }),
  setCategory: (category) => set({ category }),
  setGenerationsDir: (dir) => set((s) => ({ generations: { ...s.generations, dir } })),
  pickGeneration: (side, source) => set((s) => ({ generations: { ...s.generations, [side === 'a' ? 'pickA' : 'pickB']: source } })),
  async listGenerations() {
    const dir = get().generations.dir.trim();
    if (!dir) return;
    set((s) => ({ generations: { ...s.generations, loading: true, error: null } }));
    try {
      const { generations } = await api.request('listGenerations', { dir });
      // Default pick: the newest orphaned generation as A (before), the current tagged one as B (after).
      const current = generations.find((g) => !g.orphan) ?? null;
      const before = generations.find((g) => g.orphan) ?? generations.find((g) => g !== current) ?? null;
      set((s) => ({ generations: { ...s.generations, list: generations, loading: false, pickA: before?.source ?? null, pickB: current?.source ?? null } }));
    } catch (err) {
      set((s) => ({ generations: { ...s.generations, loading: false, list: null, error: errorText(err) } }));
    }
  },
  async diffGenerations() {
    const { pickA, pickB } = get().generations;
    if (!pickA || !pickB || pickA === pickB) return;
    const { list } = get().generations;
    // A generation already open (by this source, or the same manifest of the same folder) is reused, not opened twice.
    const find = (source: string) => {
      const gen = list?.find((g) => g.source === source);
      return (
        cachesStore.getState().caches.find((c) => c.view.source === source || (gen && c.view.manifest?.digest === gen.digest && c.view.layout !== null && source.startsWith(c.view.layout.dir))) ?? null
      );
    };
    const a = find(pickA) ?? (await cachesStore.getState().open(pickA, { activate: false }));
    const b = find(pickB) ?? (await cachesStore.getState().open(pickB, { activate: false }));
    if (!a || !b) return;
    set({ a: a.cacheId, b: b.cacheId });
    await get().run();
  },
}));

// Closing a cache takes it out of the pickers and drops a result computed for it.
cachesStore.subscribe((s) => {
  const ids = new Set(s.caches.map((c) => c.cacheId));
  const d = diffStore.getState();
  const patch: Partial<DiffState> = {};
  if (d.a && !ids.has(d.a)) patch.a = null;
  if (d.b && !ids.has(d.b)) patch.b = null;
  if (d.ran && (!ids.has(d.ran.a) || !ids.has(d.ran.b))) Object.assign(patch, { ran: null, result: null, selected: null });
  if (Object.keys(patch).length > 0) diffStore.setState(patch);
});

// A gc in a listed folder deletes generations: list them again so the pickers offer only what exists.
api.on('layoutChanged', (change) => {
  const { dir, list } = diffStore.getState().generations;
  if (list && dir.trim() && sameDir(dir.trim(), change.dir)) void diffStore.getState().listGenerations();
});

export function useDiff<T>(selector: (s: DiffState) => T): T {
  return useStore(diffStore, selector);
}
