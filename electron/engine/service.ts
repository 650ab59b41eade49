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

export interface ServiceOptions {
  startupSource: string | null;
  mode: 'electron' | 'browser';
  emit: EventSink;
  version?: string;
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
    async pickDirectory() {
      // Browser mode has no native folder picker; the UI falls back to its text field.
      return { path: null };
    },
    async dispose() {
      await exportHandlers.cancelAll();
      caches.clear();
    },
  };
}
