/**
 * The engine side of the contract: one handler per request, shared by Electron main and browser mode.
 * Callers validate sender and payload first; handlers throw CacheError, which the transports turn into values.
 */
import { randomUUID } from 'node:crypto';
import { CacheError } from '../../shared/contract/errors';
import type { EventSink, Events, Generation, Handlers } from '../../shared/contract/index';
import { viewOf } from './sources/cache-view';
import { openCacheSource } from './sources/open-cache';
import type { OpenedSource } from './sources/open-cache';
import { listGenerations } from './sources/generations';
import { collectGarbage } from './store/gc';
import { verifyOpened } from './store/verify-opened';
import { createExportHandlers } from './export/export-jobs';
import { createImageExportHandlers } from './export/image-export-jobs';
import { defaultUploadStateDir } from './export/registry-target';
import { RegistryClient } from './registry/client';
import { registryConcurrencyFromEnv } from './registry/concurrency-setting';
import { createRegistryAccess } from './sources/registry-source';
import type { RegistryAccess } from './sources/registry-source';
import { openBlobCache } from './store/blob-cache';
import type { BlobCache } from './store/blob-cache';
import { defaultBlobCacheDir } from './store/blob-cache-dir';
import { loginRegistry, logoutRegistry, registryStatus } from './registry/login';
import type { CredentialStore } from './registry/credentials';
import { deleteRegistryTag, listRegistryTags } from './sources/registry-tags';
import { checkAttachable, readImageHistory } from './sources/image-history';
import type { ImageHistorySource } from '../../shared/graph/history-names';

export interface ServiceOptions {
  startupSource: string | null;
  mode: 'electron' | 'browser';
  emit: EventSink;
  version?: string;
  /** DOCKER_CONFIG, PATH (credential helpers), proxies and CAs for registries (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where registry credentials live (Electron main: safeStorage or docker's helper); default docker's own config. */
  credentials?: CredentialStore;
}

export type Service = Handlers & { dispose(): Promise<void>; opened(cacheId: string): OpenedSource };

export function createService(options: ServiceOptions): Service {
  const caches = new Map<string, OpenedSource>();
  const opened = (cacheId: string): OpenedSource => {
    const entry = caches.get(cacheId);
    if (!entry) throw new CacheError('not-found', `no opened cache with id ${cacheId}`);
    return entry;
  };
  const env = options.env ?? process.env;
  const exportHandlers = createExportHandlers({
    opened,
    emit: options.emit,
    // A push gets its own client with this service's env (docker's credentials and helpers), closed when its job ends.
    registryClient: (registry, insecure) => new RegistryClient({ env, credentials: options.credentials, concurrency: registryConcurrencyFromEnv(env), insecureRegistries: insecure ? [registry] : [] }),
    uploadStateDir: defaultUploadStateDir(env),
  });
  // Every opened cache has its own registry clients (closed with it); all share one blob cache.
  const accesses = new Map<string, RegistryAccess>();
  let blobCache: Promise<BlobCache> | null = null;
  const newAccess = (): RegistryAccess => {
    const clients = createRegistryAccess({ client: { env, credentials: options.credentials } });
    return {
      client: (registry, insecure) => clients.client(registry, insecure),
      blobCache: () => (blobCache ??= openBlobCache({ root: defaultBlobCacheDir(env) })),
      close: () => clients.close(),
    };
  };
  // Images attached to name each cache's records (attachImage), in the order they were attached.
  const attachedImages = new Map<string, ImageHistorySource[]>();
  // Image exports: registry clients of their own per job (a --config image or a registry destination), closed when it ends.
  const imageHandlers = createImageExportHandlers({ opened, emit: options.emit, env, registry: () => createRegistryAccess({ client: { env, credentials: options.credentials } }) });
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
  // One client per registry request: a login or logout in between is seen at once, and no token outlives it.
  const withClient = async <T>(work: (client: RegistryClient) => Promise<T>): Promise<T> => {
    const client = new RegistryClient({ env, credentials: options.credentials, concurrency: registryConcurrencyFromEnv(env) });
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
      const access = newAccess();
      let entry: OpenedSource;
      try {
        entry = await openCacheSource(source, { registry: access });
      } catch (err) {
        access.close();
        throw err;
      }
      const cacheId = randomUUID();
      caches.set(cacheId, entry);
      accesses.set(cacheId, access);
      return { cacheId, view: await viewOf(entry) };
    },
    async closeCache({ cacheId }) {
      attachedImages.delete(cacheId);
      const access = accesses.get(cacheId);
      accesses.delete(cacheId);
      // Its connections close once no export reads from it any more (an export outlives its window's view).
      if (access) void Promise.all([exportHandlers.idle(cacheId), imageHandlers.idle(cacheId)]).then(() => access.close());
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
    previewImageExport: (params) => imageHandlers.previewImageExport(params),
    startImageExport: (params) => imageHandlers.startImageExport(params),
    cancelImageExport: (params) => imageHandlers.cancelImageExport(params),
    getImageExportJob: (params) => imageHandlers.getImageExportJob(params),
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
        // Bytes read (or downloaded) so far, for the Files panel's progress bar; only a caller with a requestId can tell its own.
        const progress = requestId !== undefined ? (p: Omit<Events['layerFilesProgress'], 'requestId'>) => options.emit('layerFilesProgress', { requestId, ...p }) : undefined;
        return layerFiles(source, layer !== undefined ? { layer } : { record }, view, signal, undefined, progress);
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
        const progress = requestId !== undefined ? (p: Omit<Events['layerFilesProgress'], 'requestId'>) => options.emit('layerFilesProgress', { requestId, ...p }) : undefined;
        return resultWaste(source, record, signal, progress);
      });
    },
    async divergenceFiles({ a, b, leaf, requestId }) {
      const [left, right] = [opened(a), opened(b)];
      return cancellable(requestId, async (signal) => {
        const { divergenceFilesOf } = await import('./contents/layer-files-wire');
        // Bytes of both sides' rebuilt layers read so far, for the divergence's progress bar.
        const progress = requestId !== undefined ? (p: Omit<Events['layerFilesProgress'], 'requestId'>) => options.emit('layerFilesProgress', { requestId, ...p }) : undefined;
        return divergenceFilesOf(left, right, leaf, signal, progress);
      });
    },
    async attachImage({ cacheId, image }) {
      const entry = opened(cacheId);
      // A one-off read of a manifest or two and a config: clients of its own, closed at once.
      const access = createRegistryAccess({ client: { env, credentials: options.credentials } });
      let history: ImageHistorySource;
      try {
        history = await readImageHistory(image, { registry: access });
      } finally {
        access.close();
      }
      // Attaching the same reference again reads it again in place.
      const images = (attachedImages.get(cacheId) ?? []).filter((h) => h.ref !== history.ref).concat(history);
      const view = await viewOf(entry, images);
      checkAttachable(view, history);
      attachedImages.set(cacheId, images);
      return { view };
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
      const { loggedInAs } = await loginRegistry(registry, username, password, { env, store: options.credentials });
      return { loggedInAs };
    },
    async registryLogout({ registry }) {
      const { loggedOut } = await logoutRegistry(registry, { env, store: options.credentials });
      return { loggedOut };
    },
    async registryStatus({ registry }) {
      const { loggedInAs } = await registryStatus(registry, { env, store: options.credentials });
      return { loggedInAs };
    },
    async dispose() {
      await exportHandlers.cancelAll();
      await imageHandlers.cancelAll();
      for (const controller of reads.values()) controller.abort();
      for (const access of accesses.values()) access.close();
      accesses.clear();
      caches.clear();
    },
  };
}
