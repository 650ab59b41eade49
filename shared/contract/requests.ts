/** Every request of the contract: name -> params -> result. Preload, web bridge, server and CLI all use these types. */
import type { CacheView } from '../cache/view-types';
import type { CacheDiff } from '../diff/types';
import type { ExportOptions, ExportPreview, ExportProgress } from '../export/types';
import type { ExportFinished } from './events';

export interface StartupInfo {
  /** The source opened at start (CLI argument or the bundled demo), or null. */
  source: string | null;
  mode: 'electron' | 'browser';
  version: string;
}

export interface OpenedCache {
  cacheId: string;
  view: CacheView;
}

export interface Generation {
  /** Source string that opens this generation (`DIR:tag` or `DIR@sha256:…`). */
  source: string;
  digest: string;
  size: number;
  mediaType: string;
  tags: string[];
  orphan: boolean;
  /** Newest `buildkit/createdat` among its layers, as the original string, or null. */
  createdAt: string | null;
  layerCount: number;
}

export interface VerifyProblem {
  digest: string;
  kind: 'missing' | 'digest-mismatch' | 'size-mismatch' | 'diffid-mismatch' | 'unreadable';
  message: string;
}

export interface VerifyReport {
  checked: number;
  bytes: number;
  missing: string[];
  problems: VerifyProblem[];
  ok: boolean;
}

export interface GcReport {
  dryRun: boolean;
  blobs: number;
  bytes: number;
  deleted: { digest: string; size: number }[];
}

export interface Requests {
  getStartup: { params: Record<string, never>; result: StartupInfo };
  openCache: { params: { source: string }; result: OpenedCache };
  closeCache: { params: { cacheId: string }; result: { closed: boolean } };
  getRawJson: { params: { cacheId: string; what: 'manifest' | 'config' | 'index' }; result: { text: string } };
  listGenerations: { params: { dir: string }; result: { generations: Generation[] } };
  verifyCache: { params: { cacheId: string }; result: VerifyReport };
  runGc: { params: { dir: string; dryRun: boolean }; result: GcReport };
  previewExport: { params: { cacheId: string; options: ExportOptions }; result: ExportPreview };
  startExport: { params: { cacheId: string; dest: string; options: ExportOptions }; result: { jobId: string } };
  cancelExport: { params: { jobId: string }; result: { cancelled: boolean } };
  /** A job's latest progress and outcome: how a page catches up after its event stream dropped. */
  getExportJob: { params: { jobId: string }; result: { progress: ExportProgress | null; finished: ExportFinished | null } };
  diffCaches: { params: { a: string; b: string }; result: CacheDiff };
  pickDirectory: { params: { title?: string }; result: { path: string | null } };
}

export type RequestName = keyof Requests;
export type Params<N extends RequestName> = Requests[N]['params'];
export type Result<N extends RequestName> = Requests[N]['result'];

/** The runtime list of request names: bindings are checked against it so none is forgotten. */
export const REQUEST_NAMES = [
  'getStartup',
  'openCache',
  'closeCache',
  'getRawJson',
  'listGenerations',
  'verifyCache',
  'runGc',
  'previewExport',
  'startExport',
  'cancelExport',
  'getExportJob',
  'diffCaches',
  'pickDirectory',
] as const satisfies readonly RequestName[];
