/**
 * Export jobs behind the contract: startExport answers with a job id at once and runs the export in
 * the background; progress and the outcome arrive as exportProgress / exportFinished events through
 * the sink; cancelExport aborts the job's AbortSignal, which reaches every read and write.
 */
import { randomUUID } from 'node:crypto';
import { CacheError, toContractError } from '../../../shared/contract/errors';
import type { EventSink, ExportFinished, Params, Result } from '../../../shared/contract/index';
import type { ExportProgress } from '../../../shared/export/types';
import { previewExport, resolveForExport, runExport } from './exporter';
import type { ExportRun } from './exporter';
import type { OpenedSource } from '../sources/open-cache';

export interface ExportHandlerDeps {
  opened: (cacheId: string) => OpenedSource;
  emit: EventSink;
  /** Test seam: extra settings for every run (e.g. a failing store, a fake clock). */
  runDefaults?: Partial<Pick<ExportRun, 'allowLink' | 'convertConcurrency' | 'copyConcurrency' | 'copyWorkers' | 'clock' | 'wrapDestStore' | 'verifyMemo'>>;
}

export interface ExportHandlers {
  previewExport(params: Params<'previewExport'>): Promise<Result<'previewExport'>>;
  startExport(params: Params<'startExport'>): Promise<Result<'startExport'>>;
  cancelExport(params: Params<'cancelExport'>): Promise<Result<'cancelExport'>>;
  getExportJob(params: Params<'getExportJob'>): Promise<Result<'getExportJob'>>;
  /** Cancels every running job and waits until each has stopped (service shutdown). */
  cancelAll(): Promise<void>;
  /** Resolves when the job has finished (after its exportFinished event); for tests and the CLI. */
  settled(jobId: string): Promise<void>;
}

interface Job {
  controller: AbortController;
  done: Promise<void>;
}

interface JobState {
  progress: ExportProgress | null;
  finished: ExportFinished | null;
}

/** Outcomes kept for pages that reconnect after a job ended; the oldest are forgotten first. */
const KEPT_OUTCOMES = 50;

export function createExportHandlers(deps: ExportHandlerDeps): ExportHandlers {
  const jobs = new Map<string, Job>();
  const states = new Map<string, JobState>();
  const emit: EventSink = (event, payload) => {
    const jobId = (payload as { jobId: string }).jobId;
    const state = states.get(jobId);
    if (state && event === 'exportProgress') state.progress = payload as ExportProgress;
    if (state && event === 'exportFinished') {
      state.finished = payload as ExportFinished;
      for (const id of [...states.keys()].slice(0, Math.max(0, states.size - KEPT_OUTCOMES))) if (states.get(id)!.finished) states.delete(id);
    }
    deps.emit(event, payload);
  };
  return {
    async previewExport({ cacheId, options }) {
      return previewExport(deps.opened(cacheId), options);
    },

    async startExport({ cacheId, dest, options }) {
      const opened = deps.opened(cacheId);
      // Bad options are the caller's mistake: answer them now rather than as a failed job.
      resolveForExport(options);
      const jobId = randomUUID();
      states.set(jobId, { progress: null, finished: null });
      const controller = new AbortController();
      const done = (async () => {
        try {
          const result = await runExport({
            ...deps.runDefaults,
            opened,
            dest,
            options,
            jobId,
            signal: controller.signal,
            onProgress: (p) => emit('exportProgress', p),
          });
          emit('exportFinished', { jobId, ok: true, result });
        } catch (err) {
          emit('exportFinished', { jobId, ok: false, error: toContractError(err) });
        } finally {
          jobs.delete(jobId);
        }
      })();
      jobs.set(jobId, { controller, done });
      return { jobId };
    },

    async cancelExport({ jobId }) {
      const job = jobs.get(jobId);
      if (!job) return { cancelled: false };
      job.controller.abort();
      return { cancelled: true };
    },

    async getExportJob({ jobId }) {
      const state = states.get(jobId);
      if (!state) throw new CacheError('not-found', `no export job with id ${jobId}`);
      return { progress: state.progress, finished: state.finished };
    },

    async cancelAll() {
      const running = [...jobs.values()];
      for (const job of running) job.controller.abort();
      await Promise.all(running.map((j) => j.done));
    },

    async settled(jobId) {
      await jobs.get(jobId)?.done;
    },
  };
}
