/**
 * Export jobs behind the contract: startExport answers with a job id at once and runs the export in
 * the background; progress and the outcome arrive as exportProgress / exportFinished events through
 * the sink; cancelExport aborts the job's AbortSignal, which reaches every read and write. A
 * destination that names a registry (`host[:port]/repo:tag`, `type=registry,ref=…`, read as the CLI
 * reads it) is pushed with a client of its own, closed when the job ends.
 */
import { randomUUID } from 'node:crypto';
import { CacheError, toContractError } from '../../../shared/contract/errors';
import type { EventSink, ExportFinished, Params, Result } from '../../../shared/contract/index';
import type { ExportOptions, ExportProgress } from '../../../shared/export/types';
import { RegistryClient } from '../registry/client';
import { previewExport, resolveForExport, runExport } from './exporter';
import type { ExportRun } from './exporter';
import { parseExportAttrs } from '../../../shared/export/options';
import { parseRegistryDestination, withDestinationAttributes } from './registry-target';
import type { RegistryDestination } from './registry-target';
import type { OpenedSource } from '../sources/open-cache';

export interface ExportHandlerDeps {
  opened: (cacheId: string) => OpenedSource;
  emit: EventSink;
  /** Test seam: extra settings for every run (e.g. a failing store, a fake clock). */
  runDefaults?: Partial<Pick<ExportRun, 'allowLink' | 'convertConcurrency' | 'copyConcurrency' | 'copyWorkers' | 'clock' | 'wrapDestStore' | 'verifyMemo'>>;
  /** A new client for one push (the service's env: docker's credentials, certs, proxies); closed when the job ends. */
  registryClient?: (registry: string, insecure: boolean) => RegistryClient;
  /** Where pushes keep resumable-upload state (default: the per-user cache's `uploads/`). */
  uploadStateDir?: string | null;
}

/** Where an export goes, read as the CLI reads it, and the options with the tag a registry reference names. */
export interface ExportDestination {
  registry: RegistryDestination | null;
  options: ExportOptions;
}

/**
 * Reads `dest` as `cachescope export` does: a registry reference or a folder. A bad reference is
 * refused with the CLI's own words (details.field = 'dest', so a form can show it by the field).
 */
export function exportDestination(dest: string, options: ExportOptions): ExportDestination {
  let registry: RegistryDestination | null;
  try {
    registry = parseRegistryDestination(dest);
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    throw new CacheError('invalid-options', err.message, { ...err.details, field: 'dest' });
  }
  if (!registry) return { registry: null, options };
  // Options written into `type=registry,…,key=value`, read like --opt; the same key set both ways must agree.
  const fromDest = parseExportAttrs(withDestinationAttributes([], registry));
  for (const [key, value] of Object.entries(fromDest) as [keyof ExportOptions, unknown][]) {
    if (options[key] !== undefined && options[key] !== value) {
      throw new CacheError('invalid-options', `${key} given twice: ${JSON.stringify(value)} in the destination and ${JSON.stringify(options[key])} in the options`, { field: 'dest' });
    }
  }
  options = { ...options, ...fromDest };
  const tag = registry.reference.tag ?? 'latest';
  if (options.tag !== undefined && options.tag !== tag) {
    throw new CacheError('invalid-options', `two tags: "${tag}" after the destination and "${options.tag}" in --opt tag=`, { field: 'dest' });
  }
  return { registry, options: { ...options, tag } };
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
  /** Resolves once no job reads from this cache any more (so its registry connections may close). */
  idle(cacheId: string): Promise<void>;
}

interface Job {
  cacheId: string;
  controller: AbortController;
  done: Promise<void>;
}

interface JobState {
  progress: ExportProgress | null;
  finished: ExportFinished | null;
}

/** A client with the process's env, for handlers made without a service (tests, the CLI's own jobs). */
function defaultClient(registry: string, insecure: boolean): RegistryClient {
  return new RegistryClient({ insecureRegistries: insecure ? [registry] : [] });
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
    async previewExport({ cacheId, options, dest }) {
      const opened = deps.opened(cacheId);
      if (dest === undefined) return previewExport(opened, options);
      // A bad reference is answered before any preview work, in the CLI's words.
      const target = exportDestination(dest, options);
      // The engine's preview adds the pre-push warnings for a registry `dest` (registries.md §2).
      return previewExport(opened, target.options, dest);
    },

    async startExport({ cacheId, dest, options: asked }) {
      const opened = deps.opened(cacheId);
      // Bad options and a bad reference are the caller's mistake: answer them now rather than as a failed job.
      const { registry, options } = exportDestination(dest, asked);
      resolveForExport(options);
      const jobId = randomUUID();
      states.set(jobId, { progress: null, finished: null });
      const controller = new AbortController();
      const done = (async () => {
        let client: RegistryClient | null = null;
        try {
          if (registry) client = (deps.registryClient ?? defaultClient)(registry.reference.registry, registry.insecure);
          const result = await runExport({
            ...deps.runDefaults,
            opened,
            dest,
            options,
            jobId,
            signal: controller.signal,
            onProgress: (p) => emit('exportProgress', p),
            ...(registry && client ? { registry: { ...registry, client, ...(deps.uploadStateDir !== undefined ? { stateDir: deps.uploadStateDir } : {}) } } : {}),
          });
          emit('exportFinished', { jobId, ok: true, result });
        } catch (err) {
          emit('exportFinished', { jobId, ok: false, error: toContractError(err) });
        } finally {
          // The push's pooled connections go with its job.
          client?.close();
          jobs.delete(jobId);
        }
      })();
      jobs.set(jobId, { cacheId, controller, done });
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

    async idle(cacheId) {
      await Promise.all([...jobs.values()].filter((j) => j.cacheId === cacheId).map((j) => j.done));
    },
  };
}
