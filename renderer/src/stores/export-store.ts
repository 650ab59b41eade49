/**
 * Export jobs by id. Progress events are coalesced per animation frame at the sink: the latest event
 * per job is buffered and flushed once per frame, so a burst of events costs one React update.
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { ExportFinished } from '../../../shared/contract/index';
import type { ExportOptions, ExportProgress } from '../../../shared/export/types';
import { api } from '../bridge';

export interface ExportJob {
  jobId: string;
  cacheId: string;
  /** What was sent as `dest`: a folder, or a registry reference (maybe BuildKit's `type=registry,…`). */
  dest: string;
  /** The destination as the user wrote it, for the progress panel. */
  label: string;
  kind: 'folder' | 'registry';
  /** The options the job was started with: Retry starts the same export again. */
  options: ExportOptions;
  tag: string;
  startedAt: number;
  progress: ExportProgress | null;
  /** BuildKit's progress lines, oldest first, capped at MAX_LOG. */
  log: string[];
  finished: ExportFinished | null;
  /** When the exportFinished event arrived (ms since the epoch), or null while running. */
  finishedAt: number | null;
  /** Set while a cancel request is on its way. */
  cancelling: boolean;
}

export interface ExportDialogState {
  cacheId: string;
  /** The job whose progress the dialog shows, or null for the options form. */
  jobId: string | null;
}

export interface ExportState {
  jobs: Record<string, ExportJob>;
  dialog: ExportDialogState | null;
  /** Opens the dialog for a cache: on its running job if it has one, else on the options form. */
  openDialog(cacheId: string): void;
  closeDialog(): void;
  /** Back from a finished job to the options form. */
  newExport(): void;
  start(cacheId: string, dest: string, options: ExportOptions, meta?: { label?: string; kind?: 'folder' | 'registry'; tag?: string }): Promise<string>;
  /** Starts a finished job's export again (same cache, destination and options); a push resumes what the last run uploaded. */
  retry(jobId: string): Promise<string>;
  cancel(jobId: string): Promise<void>;
}

const MAX_LOG = 400;

function blankJob(jobId: string): ExportJob {
  return { jobId, cacheId: '', dest: '', label: '', kind: 'folder', options: {}, tag: '', startedAt: Date.now(), progress: null, log: [], finished: null, finishedAt: null, cancelling: false };
}

export function isRunning(job: ExportJob | undefined | null): boolean {
  return Boolean(job && !job.finished);
}

export const exportStore = createStore<ExportState>()((set, get) => ({
  jobs: {},
  dialog: null,
  openDialog(cacheId) {
    const running = Object.values(get().jobs).find((j) => j.cacheId === cacheId && !j.finished);
    set({ dialog: { cacheId, jobId: running?.jobId ?? null } });
  },
  closeDialog: () => set({ dialog: null }),
  newExport: () => set((s) => ({ dialog: s.dialog ? { ...s.dialog, jobId: null } : null })),
  async start(cacheId, dest, options, meta = {}) {
    connectExportEvents();
    const startedAt = Date.now();
    const { jobId } = await api.request('startExport', { cacheId, dest, options });
    heardFrom.set(jobId, Date.now());
    ensureCatchUp();
    // Events can arrive before the answer: keep what they brought.
    set((s) => {
      const seen = s.jobs[jobId] ?? blankJob(jobId);
      return {
        jobs: { ...s.jobs, [jobId]: { ...seen, cacheId, dest, label: meta.label ?? dest, kind: meta.kind ?? 'folder', options, tag: meta.tag ?? options.tag ?? 'latest', startedAt } },
        dialog: s.dialog && s.dialog.cacheId === cacheId ? { cacheId, jobId } : s.dialog,
      };
    });
    return jobId;
  },
  async retry(jobId) {
    const job = get().jobs[jobId];
    if (!job) throw new Error(`no export job ${jobId} to retry`);
    return get().start(job.cacheId, job.dest, job.options, { label: job.label, kind: job.kind, tag: job.tag });
  },
  async cancel(jobId) {
    set((s) => (s.jobs[jobId] ? { jobs: { ...s.jobs, [jobId]: { ...s.jobs[jobId], cancelling: true } } } : {}));
    try {
      await api.request('cancelExport', { jobId });
    } finally {
      set((s) => (s.jobs[jobId] ? { jobs: { ...s.jobs, [jobId]: { ...s.jobs[jobId], cancelling: false } } } : {}));
    }
  },
}));

/** Latest progress per job and every line since the last flush: what the next frame will show. */
const pending = new Map<string, { progress: ExportProgress; lines: string[] }>();
let frame = 0;

function flush(): void {
  frame = 0;
  if (pending.size === 0) return;
  const batch = [...pending.values()];
  pending.clear();
  exportStore.setState((s) => {
    const jobs = { ...s.jobs };
    for (const { progress, lines } of batch) {
      const job = jobs[progress.jobId] ?? blankJob(progress.jobId);
      // Events of one job are ordered by seq; an old one that arrives late is ignored.
      if (job.progress && job.progress.seq > progress.seq) continue;
      const log = lines.length > 0 ? [...job.log, ...lines].slice(-MAX_LOG) : job.log;
      jobs[progress.jobId] = { ...job, progress, log };
    }
    return { jobs };
  });
}

function onProgress(p: ExportProgress): void {
  heardFrom.set(p.jobId, Date.now());
  const prev = pending.get(p.jobId);
  const lines = [...(prev?.lines ?? []), ...(p.lines ?? (p.text ? [p.text] : []))];
  if (!prev || prev.progress.seq <= p.seq) pending.set(p.jobId, { progress: p, lines });
  else pending.set(p.jobId, { progress: prev.progress, lines });
  if (!frame) frame = requestAnimationFrame(flush);
}

function onFinished(f: ExportFinished): void {
  // The final state must not be overwritten by a progress frame still queued.
  if (frame) {
    cancelAnimationFrame(frame);
    frame = 0;
  }
  flush();
  exportStore.setState((s) => ({ jobs: { ...s.jobs, [f.jobId]: { ...(s.jobs[f.jobId] ?? blankJob(f.jobId)), finished: f, finishedAt: Date.now(), cancelling: false } } }));
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
    const running = Object.values(exportStore.getState().jobs).filter((j) => !j.finished);
    if (running.length === 0) {
      clearInterval(catchUp!);
      catchUp = null;
      return;
    }
    for (const job of running) {
      if (Date.now() - (heardFrom.get(job.jobId) ?? 0) < SILENCE_MS) continue;
      heardFrom.set(job.jobId, Date.now());
      api.request('getExportJob', { jobId: job.jobId }).then(
        (state) => {
          const seen = exportStore.getState().jobs[job.jobId]?.progress;
          if (state.progress && (!seen || state.progress.seq > seen.seq)) onProgress(state.progress);
          if (state.finished && !exportStore.getState().jobs[job.jobId]?.finished) onFinished(state.finished);
        },
        () => undefined,
      );
    }
  }, SILENCE_MS / 2);
}

let connected = false;

/** Subscribes to the export events once. Called at startup, so the event stream is up before any job starts. */
export function connectExportEvents(): void {
  if (connected) return;
  connected = true;
  api.on('exportProgress', onProgress);
  api.on('exportFinished', onFinished);
}

export function useExport<T>(selector: (s: ExportState) => T): T {
  return useStore(exportStore, selector);
}
