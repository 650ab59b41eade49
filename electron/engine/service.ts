/**
 * The engine side of the contract: one handler per request, shared by Electron main and browser mode.
 * Callers validate sender and payload first; handlers throw CacheError, which the transports turn into values.
 */
import { randomUUID } from 'node:crypto';
import { CacheError } from '../../shared/contract/errors';
import type { EventSink, Generation, Handlers } from '../../shared/contract/index';
import { viewOf } from './sources/cache-view';
import { openCacheSource } from './sources/open-cache';
import type { OpenedSource } from './sources/open-cache';
import { listGenerations } from './sources/generations';
import { collectGarbage } from './store/gc';
import { verifyOpened } from './store/verify-opened';
import { createExportHandlers } from './export/export-jobs';
import { RegistryClient } from './registry/client';
import { loginRegistry, logoutRegistry, registryStatus } from './registry/login';
import { deleteRegistryTag, listRegistryTags } from './sources/registry-tags';

export interface ServiceOptions {
  startupSource: string | null;
  mode: 'electron' | 'browser';
  emit: EventSink;
  version?: string;
  /** DOCKER_CONFIG, PATH (credential helpers), proxies and CAs for registries (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export type Service = Handlers & { dispose(): Promise<void>; opened(cacheId: string): OpenedSource };

export function createService(options: ServiceOptions): Service {
  const caches = new Map<string, OpenedSource>();
  const opened = (cacheId: string): OpenedSource => {
    const entry = caches.get(cacheId);
    if (!entry) throw new CacheError('not-found', `no opened cache with id ${cacheId}`);
    return entry;
  };
  const exportHandlers = createExportHandlers({ opened, emit: options.emit });
  // Reads of layer blobs in flight, by the caller's requestId, so cancelLayerFiles can stop one.
  const reads = new Map<string, AbortController>();
  const cancellable = async <T>(requestId: string | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    if (requestId !== undefined) {
      if (reads.has(requestId)) throw new CacheError('bad-request', `requestId ${requestId} is already in use`);
      reads.set(requestId, controller);
    }
    try {
      return await work(controller.signal);
    } catch (err) {
      if (controller.signal.aborted) throw new CacheError('cancelled', 'cancelled: the layer files were not read to the end');
      throw err;
    } finally {
      if (requestId !== undefined) reads.delete(requestId);
    }
  };
  const env = options.env ?? process.env;
  // One client per registry request: a login or logout in between is seen at once, and no token outlives it.
  const withClient = async <T>(work: (client: RegistryClient) => Promise<T>): Promise<T> => {
    const client = new RegistryClient({ env });
    try {
      return await work(client);
    } finally {
      client.close();
    }
  };
  return {
    opened,
    async getStartup() {
      return { source: options.startupSource, mode: options.mode, version: options.version ?? '0.1.0' };
    },
    async openCache({ source }) {
      const entry = await openCacheSource(source);
      const cacheId = randomUUID();
      caches.set(cacheId, entry);
      return { cacheId, view: await viewOf(entry) };
    },
    async closeCache({ cacheId }) {
      return { closed: caches.delete(cacheId) };
    },
    async getRawJson({ cacheId, what }) {
      const text = opened(cacheId).texts[what];
      if (text === null) throw new CacheError('not-found', `this cache has no ${what} document`);
      return { text };
    },
    async listGenerations({ dir }) {
      return { generations: await listGenerations(dir) };
    },
    async verifyCache({ cacheId }) {
      return verifyOpened(opened(cacheId));
    },
    async runGc({ dir, dryRun }) {
      // Which blobs are generations must be read before gc deletes them.
      const generations = await listGenerations(dir).catch(() => [] as Generation[]);
      const report = await collectGarbage(dir, { dryRun });
      const deleted = new Set(report.deleted.map((d) => d.digest));
      const removedGenerations = generations.filter((g) => deleted.has(g.digest)).map((g) => g.digest);
      // Every open view of this folder is a snapshot: tell every window (this one included) to read it again.
      const changeId = !dryRun && report.deleted.length > 0 ? randomUUID() : null;
      if (changeId) options.emit('layoutChanged', { dir, changeId, why: 'gc', removedGenerations, deletedBlobs: report.deleted.length });
      return { ...report, removedGenerations, changeId };
    },
    previewExport: exportHandlers.previewExport,
    startExport: exportHandlers.startExport,
    cancelExport: exportHandlers.cancelExport,
    getExportJob: exportHandlers.getExportJob,
    async diffCaches({ a, b }) {
      const [left, right] = [opened(a), opened(b)];
      // Loaded on first use: most sessions never diff.
      const { diffOpened } = await import('./sources/diff-opened');
      return diffOpened(left, right);
    },
    async openLayerFiles({ cacheId, layer, record, view, requestId }) {
      const source = opened(cacheId);
      // Registered before the first await, so a cancel sent right after the request always finds it.
      return cancellable(requestId, async (signal) => {
        const { layerFiles } = await import('./contents/layer-files-wire');
        return layerFiles(source, layer !== undefined ? { layer } : { record }, view, signal);
      });
    },
    async cancelLayerFiles({ requestId }) {
      const controller = reads.get(requestId);
      controller?.abort();
      return { cancelled: controller !== undefined };
    },
    async resultWaste({ cacheId, record, requestId }) {
      const source = opened(cacheId);
      return cancellable(requestId, async (signal) => {
        const { resultWaste } = await import('./contents/layer-files-wire');
        return resultWaste(source, record, signal);
      });
    },
    async divergenceFiles({ a, b, leaf, requestId }) {
      const [left, right] = [opened(a), opened(b)];
      return cancellable(requestId, async (signal) => {
        const { divergenceFilesOf } = await import('./contents/layer-files-wire');
        return divergenceFilesOf(left, right, leaf, signal);
      });
    },
    async pickDirectory() {
      // Browser mode has no native folder picker; the UI falls back to its text field.
      return { path: null };
    },
    listRegistryTags({ repository }) {
      return withClient((client) => listRegistryTags(client, repository));
    },
    deleteRegistryTag({ repository, tag, force }) {
      return withClient((client) => deleteRegistryTag(client, repository, tag, { force }));
    },
    async registryLogin({ registry, username, password }) {
      // Only the name crosses back: the secret stays in the helper or config file.
      const { loggedInAs } = await loginRegistry(registry, username, password, { env });
      return { loggedInAs };
    },
    async registryLogout({ registry }) {
      const { loggedOut } = await logoutRegistry(registry, { env });
      return { loggedOut };
    },
    async registryStatus({ registry }) {
      const { loggedInAs } = await registryStatus(registry, { env });
      return { loggedInAs };
    },
    async dispose() {
      await exportHandlers.cancelAll();
      for (const controller of reads.values()) controller.abort();
      caches.clear();
    },
  };
}
