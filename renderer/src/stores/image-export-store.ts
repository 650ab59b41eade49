/**
 * Image exports: which result the "Export as image…" dialog is about, and the jobs it started, fed by
 * the imageExportProgress / imageExportFinished events (an old progress event arriving late is ignored).
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { ImageExportFinished, ImageExportParams, ImageExportProgress, ImageSelectionSpec } from '../../../shared/image/image-export-wire';
import { api } from '../bridge';

/** What the dialog exports: a record's result, a layer entry's chain, or a chain by its top blob. */
export interface ImageExportTarget {
  cacheId: string;
  selection: ImageSelectionSpec;
  /** How the entry point names it: `record #4`, `layer entry #2`, `chain ending in sha256:…`. */
  label: string;
}

export interface ImageJob {
  jobId: string;
  params: ImageExportParams;
  progress: ImageExportProgress | null;
  finished: ImageExportFinished | null;
  cancelling: boolean;
}

export interface ImageExportState {
  dialog: ImageExportTarget | null;
  /** The job the dialog shows, or null for the form. */
  jobId: string | null;
  jobs: Record<string, ImageJob>;
  open(target: ImageExportTarget): void;
  close(): void;
  /** Back from a finished job to the form. */
  again(): void;
  start(params: ImageExportParams): Promise<string>;
  cancel(jobId: string): Promise<void>;
}

function blank(jobId: string): ImageJob {
  return { jobId, params: { cacheId: '', selection: { record: 0 }, dest: '' }, progress: null, finished: null, cancelling: false };
}

export const imageExportStore = createStore<ImageExportState>()((set, get) => ({
  dialog: null,
  jobId: null,
  jobs: {},
  open(target) {
    connectImageExportEvents();
    set({ dialog: target, jobId: null });
  },
  close: () => set({ dialog: null, jobId: null }),
  again: () => set({ jobId: null }),
  async start(params) {
    connectImageExportEvents();
    const { jobId } = await api.request('startImageExport', params);
    // Events can arrive before the answer: keep what they brought.
    set((s) => ({ jobs: { ...s.jobs, [jobId]: { ...(s.jobs[jobId] ?? blank(jobId)), params } }, jobId: s.dialog ? jobId : s.jobId }));
    if (!heardFrom.has(jobId) && !get().jobs[jobId]?.finished) heardFrom.set(jobId, Date.now());
    ensureCatchUp();
    return jobId;
  },
  async cancel(jobId) {
    const mark = (cancelling: boolean) => set((s) => (s.jobs[jobId] ? { jobs: { ...s.jobs, [jobId]: { ...s.jobs[jobId], cancelling } } } : {}));
    mark(true);
    try {
      await api.request('cancelImageExport', { jobId });
    } finally {
      mark(false);
    }
  },
}));

function onProgress(p: ImageExportProgress): void {
  heardFrom.set(p.jobId, Date.now());
  ensureCatchUp();
  imageExportStore.setState((s) => {
    const job = s.jobs[p.jobId] ?? blank(p.jobId);
    if (job.progress && job.progress.seq > p.seq) return {};
    return { jobs: { ...s.jobs, [p.jobId]: { ...job, progress: p } } };
  });
}

function onFinished(f: ImageExportFinished): void {
  heardFrom.delete(f.jobId);
  imageExportStore.setState((s) => ({ jobs: { ...s.jobs, [f.jobId]: { ...(s.jobs[f.jobId] ?? blank(f.jobId)), finished: f, cancelling: false } } }));
}

/** When each running job last sent anything; a silent job is asked for its state. */
const heardFrom = new Map<string, number>();
const SILENCE_MS = 2000;
let catchUp: ReturnType<typeof setInterval> | null = null;

/**
 * Events can be lost while an event stream reconnects (browser mode). A job that has been silent for
 * a while is asked for its latest progress and outcome, so the dialog never hangs on a stale bar.
 */
function ensureCatchUp(): void {
  if (catchUp) return;
  catchUp = setInterval(() => {
    const running = Object.values(imageExportStore.getState().jobs).filter((j) => !j.finished);
    if (running.length === 0) {
      clearInterval(catchUp!);
      catchUp = null;
      return;
    }
    for (const job of running) {
      if (Date.now() - (heardFrom.get(job.jobId) ?? 0) < SILENCE_MS) continue;
      heardFrom.set(job.jobId, Date.now());
      api.request('getImageExportJob', { jobId: job.jobId }).then(
        (state) => {
          if (state.progress) onProgress(state.progress);
          if (state.finished && !imageExportStore.getState().jobs[job.jobId]?.finished) onFinished(state.finished);
        },
        () => undefined,
      );
    }
  }, SILENCE_MS / 2);
}

let connected = false;

/** Subscribes to the image export events once (before the first job starts). */
export function connectImageExportEvents(): void {
  if (connected) return;
  connected = true;
  api.on('imageExportProgress', onProgress);
  api.on('imageExportFinished', onFinished);
}

export function useImageExport<T>(selector: (s: ImageExportState) => T): T {
  return useStore(imageExportStore, selector);
}
