/** The diff of two opened caches. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { CacheDiff } from '../../../../shared/diff/types';
import { api, errorText } from '../bridge';

export interface DiffState {
  a: string | null;
  b: string | null;
  result: CacheDiff | null;
  /** The cache ids the result was computed for. */
  ran: { a: string; b: string } | null;
  loading: boolean;
  error: string | null;
  selected: number | null;
  setSides(a: string | null, b: string | null): void;
  run(): Promise<void>;
  selectDivergence(i: number | null): void;
}

export const diffStore = createStore<DiffState>()((set, get) => ({
  a: null,
  b: null,
  result: null,
  ran: null,
  loading: false,
  error: null,
  selected: null,
  setSides: (a, b) => set({ a, b }),
  async run() {
    const { a, b } = get();
    if (!a || !b) {
      set({ error: 'Pick two caches to compare.' });
      return;
    }
    set({ loading: true, error: null });
    try {
      const result = await api.request('diffCaches', { a, b });
      set({ result, ran: { a, b }, loading: false, selected: result.divergences.length > 0 ? 0 : null });
    } catch (err) {
      set({ loading: false, error: errorText(err) });
    }
  },
  selectDivergence: (i) => set({ selected: i }),
}));

export function useDiff<T>(selector: (s: DiffState) => T): T {
  return useStore(diffStore, selector);
}
