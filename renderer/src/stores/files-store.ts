/**
 * Layer contents asked for from the panels: one slot per (cache, layer entry or record, view), one per
 * record's waste and one per diff divergence. Nothing is read until a panel's "Open files" is pressed
 * (it reads blobs); a slot that is busy can be cancelled, and shows the bytes read so far (the engine's
 * layerFilesProgress events, matched to the slot by its requestId).
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { DivergenceFilesResult, Events, LayerFilesResult, LayerFilesView, WasteSummary } from '../../../shared/contract/index';
import { api } from '../bridge';
import { cachesStore } from './caches-store';
import { errorText } from './status-store';

/** Bytes read so far while busy, and the speed since the first report (null until there are two). */
export type FilesProgress = Omit<Events['layerFilesProgress'], 'requestId'> & { bytesPerSecond: number | null; firstAt: number; firstBytes: number };

export interface Slot<T> {
  busy: boolean;
  result: T | null;
  error: string | null;
  /** The request's id while busy (for cancelLayerFiles). */
  requestId: string | null;
  /** The engine's latest progress report for this request, while busy. */
  progress?: FilesProgress | null;
}

export type FilesTarget = { layer: number } | { record: number };

export interface FilesState {
  slots: Record<string, Slot<unknown>>;
  openFiles(cacheId: string, target: FilesTarget, view: LayerFilesView): Promise<void>;
  openWaste(cacheId: string, record: number): Promise<void>;
  openDivergence(a: string, b: string, leaf: number): Promise<void>;
  cancel(key: string): Promise<void>;
}

export function filesKey(cacheId: string, target: FilesTarget, view: LayerFilesView): string {
  return 'layer' in target ? `files:${cacheId}:layer:${target.layer}:${view}` : `files:${cacheId}:record:${target.record}:${view}`;
}

export function wasteKey(cacheId: string, record: number): string {
  return `waste:${cacheId}:${record}`;
}

export function divergenceKey(a: string, b: string, leaf: number): string {
  return `divergence:${a}:${b}:${leaf}`;
}

let counter = 0;
function newRequestId(): string {
  counter += 1;
  return `files-${Date.now().toString(36)}-${counter}`;
}

export const filesStore = createStore<FilesState>()((set, get) => {
  const empty: Slot<unknown> = { busy: false, result: null, error: null, requestId: null };
  const patch = (key: string, slot: Partial<Slot<unknown>>) => set((s) => ({ slots: { ...s.slots, [key]: { ...(s.slots[key] ?? empty), ...slot } } }));
  const run = async <T>(key: string, ask: (requestId: string) => Promise<T>) => {
    if (get().slots[key]?.busy) return;
    const requestId = newRequestId();
    patch(key, { busy: true, error: null, requestId, progress: null });
    try {
      const result = await ask(requestId);
      patch(key, { busy: false, result, requestId: null, progress: null });
    } catch (err) {
      patch(key, { busy: false, error: errorText(err), requestId: null, progress: null });
    }
  };
  return {
    slots: {},
    openFiles: (cacheId, target, view) => run(filesKey(cacheId, target, view), (requestId) => api.request('openLayerFiles', { cacheId, ...target, view, requestId })),
    openWaste: (cacheId, record) => run(wasteKey(cacheId, record), (requestId) => api.request('resultWaste', { cacheId, record, requestId })),
    openDivergence: (a, b, leaf) => run(divergenceKey(a, b, leaf), (requestId) => api.request('divergenceFiles', { a, b, leaf, requestId })),
    async cancel(key) {
      const requestId = get().slots[key]?.requestId;
      if (requestId) await api.request('cancelLayerFiles', { requestId });
    },
  };
});

/** A progress report goes to the busy slot that sent its requestId; a late one (the answer came first) is dropped. */
export function onLayerFilesProgress(p: Events['layerFilesProgress'], now: number = performance.now()): void {
  const slots = filesStore.getState().slots;
  const key = Object.keys(slots).find((k) => slots[k].busy && slots[k].requestId === p.requestId);
  if (!key) return;
  const prev = slots[key].progress ?? null;
  // Reports of one request arrive in order; one that goes back (a reordered frame) is not drawn.
  if (prev && p.bytesDone < prev.bytesDone) return;
  const { requestId: _id, ...rest } = p;
  void _id;
  const firstAt = prev?.firstAt ?? now;
  const firstBytes = prev?.firstBytes ?? p.bytesDone;
  const seconds = (now - firstAt) / 1000;
  const bytesPerSecond = seconds > 0 ? (p.bytesDone - firstBytes) / seconds : null;
  filesStore.setState((s) => ({ slots: { ...s.slots, [key]: { ...s.slots[key], progress: { ...rest, bytesPerSecond, firstAt, firstBytes } } } }));
}

api.on('layerFilesProgress', (p) => onLayerFilesProgress(p));

// A closed cache's listings go with it.
cachesStore.subscribe((s) => {
  const ids = s.caches.map((c) => c.cacheId);
  const slots = filesStore.getState().slots;
  const kept = Object.fromEntries(Object.entries(slots).filter(([k]) => ids.some((id) => k.includes(`:${id}:`))));
  if (Object.keys(kept).length !== Object.keys(slots).length) filesStore.setState({ slots: kept });
});

export function useSlot<T>(key: string): Slot<T> | undefined {
  return useStore(filesStore, (s) => s.slots[key] as Slot<T> | undefined);
}

export type { DivergenceFilesResult, LayerFilesResult, WasteSummary };
