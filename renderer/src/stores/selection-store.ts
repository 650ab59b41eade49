/** What the detail pane shows: one layer entry or record of one opened cache. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { cachesStore } from './caches-store';

export type SelectionKind = 'layer' | 'record';

export interface Selection {
  cacheId: string;
  kind: SelectionKind;
  index: number;
}

export interface SelectionState {
  selection: Selection | null;
  select(selection: Selection | null): void;
}

export const selectionStore = createStore<SelectionState>()((set) => ({
  selection: null,
  select: (selection) => set({ selection }),
}));

// A selection belongs to one cache: forget it when that cache is closed or replaced (reopen).
cachesStore.subscribe((s) => {
  const sel = selectionStore.getState().selection;
  if (sel && !s.caches.some((c) => c.cacheId === sel.cacheId)) selectionStore.setState({ selection: null });
});

export function useSelection<T>(selector: (s: SelectionState) => T): T {
  return useStore(selectionStore, selector);
}

/** The selected index of `kind` in `cacheId`, or null. */
export function useSelectedIndex(cacheId: string, kind: SelectionKind): number | null {
  return useSelection((s) => (s.selection && s.selection.cacheId === cacheId && s.selection.kind === kind ? s.selection.index : null));
}

export function select(cacheId: string, kind: SelectionKind, index: number): void {
  selectionStore.getState().select({ cacheId, kind, index });
}
