/** Every request of the contract: name -> params -> result. Preload, web bridge, server and CLI all use these types. */
import type { CacheView } from '../cache/view-types';
import type { CacheDiff } from '../diff/types';
import type { ExportOptions, ExportPreview, ExportProgress } from '../export/types';
import type { ExportFinished } from './events';
import type { DivergenceFilesResult, LayerFilesResult, LayerFilesView, WasteSummary } from './layer-files';
import type { ImageExportFinished, ImageExportParams, ImageExportPreview, ImageExportProgress } from '../image/image-export-wire';

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
  /** The manifest blob's own size. */
  size: number;
  /**
   * The whole generation: its manifest, its cache config and every distinct layer blob it names
   * (descriptor sizes; blobs shared with other generations count in each).
   */
  totalBytes: number;
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
  /** Whose blob it is: the opened cache's, another one's in the folder (another index.json entry or a running export holds it), or an orphan no index.json entry reaches. */
  owner?: 'source' | 'other' | 'orphan';
}

export interface VerifyReport {
  checked: number;
  bytes: number;
  missing: string[];
  problems: VerifyProblem[];
  ok: boolean;
  /** What was hashed: every blob in the layout folder (the default), or only the blobs the opened cache references. */
  scope: 'folder' | 'source';
  /** Blobs hashed that the opened cache does not reference (other tags' and orphans). */
  others: number;
  /** Of those, the ones no index.json entry reaches (what gc would delete); null when that cannot be said (no usable index.json). */
  orphans: string[] | null;
}

export interface GcReport {
  dryRun: boolean;
  blobs: number;
  bytes: number;
  deleted: { digest: string; size: number }[];
}

/** What `runGc` answers: the report, and which generations (cache manifests) it deleted. */
export interface GcOutcome extends GcReport {
  /** Digests of the cache manifests deleted (or, in a dry run, that would be). */
  removedGenerations: string[];
  /** The `layoutChanged` event's id for this run (null when nothing was deleted, so no event was sent). */
  changeId: string | null;
}

/** How a registry tag stores what it holds. */
export type RegistryTagForm = 'index' | 'image-manifest' | 'legacy-index' | 'image' | 'image-index' | 'other';

/** What a tag is to Cachescope: a cache, an image carrying inline cache, or neither. */
export type RegistryTagKind = 'cache' | 'inline' | 'neither';

/** One row of the registry browser (`cachescope tags`, `listRegistryTags`). */
export interface RegistryTagRow {
  tag: string;
  /** The source string that opens this tag: `registry/repo:tag`. */
  source: string;
  /** The manifest's digest (null when it could not be read: see `error`). */
  digest: string | null;
  /** The manifest's (or index's) media type. */
  mediaType: string | null;
  form: RegistryTagForm | null;
  kind: RegistryTagKind | null;
  /** OCI or Docker media types (`mixed` when the manifest and its layers disagree). */
  family: 'oci' | 'docker' | 'mixed' | null;
  /** Distinct layer compressions, e.g. ['gzip', 'zstd']. */
  compressions: string[];
  layerCount: number;
  /** The manifest, its config and every distinct blob it names (descriptor sizes). */
  totalBytes: number;
  /** Of those, the bytes of blobs no other listed tag references (0 when another tag shares the manifest). */
  uniqueBytes: number;
  /** Newest `buildkit/createdat` (layer annotations and cache-config results), original string, or null. */
  createdAt: string | null;
  /** Other listed tags whose manifest is the same one. */
  sharedWith: string[];
  /** Why this tag's details could not be read (the row still lists the tag). */
  error: string | null;
}

export interface RegistryTagsResult {
  /** `registry/repository` as normalised. */
  repository: string;
  rows: RegistryTagRow[];
}

export interface RegistryDeleteResult {
  digest: string;
  /** Every tag that pointed at the deleted manifest (the asked one and any shared ones). */
  removedTags: string[];
}

export interface Requests {
  getStartup: { params: Record<string, never>; result: StartupInfo };
  openCache: { params: { source: string }; result: OpenedCache };
  closeCache: { params: { cacheId: string }; result: { closed: boolean } };
  getRawJson: { params: { cacheId: string; what: 'manifest' | 'config' | 'index' }; result: { text: string } };
  listGenerations: { params: { dir: string }; result: { generations: Generation[] } };
  verifyCache: { params: { cacheId: string }; result: VerifyReport };
  runGc: { params: { dir: string; dryRun: boolean }; result: GcOutcome };
  /** `dest` (optional): a folder or registry reference; a registry adds the pre-push `warnings`. */
  previewExport: { params: { cacheId: string; options: ExportOptions; dest?: string }; result: ExportPreview };
  startExport: { params: { cacheId: string; dest: string; options: ExportOptions }; result: { jobId: string } };
  cancelExport: { params: { jobId: string }; result: { cancelled: boolean } };
  /** A job's latest progress and outcome: how a page catches up after its event stream dropped. */
  getExportJob: { params: { jobId: string }; result: { progress: ExportProgress | null; finished: ExportFinished | null } };
  /** What an image export of a result would write (chain, platform, names, config source), or why it cannot. */
  previewImageExport: { params: Omit<ImageExportParams, 'dest'> & { dest?: string }; result: ImageExportPreview };
  /** Starts an image export; progress and the outcome arrive as imageExportProgress / imageExportFinished. */
  startImageExport: { params: ImageExportParams; result: { jobId: string } };
  cancelImageExport: { params: { jobId: string }; result: { cancelled: boolean } };
  /** An image job's latest progress and outcome: how a page catches up after its event stream dropped. */
  getImageExportJob: { params: { jobId: string }; result: { progress: ImageExportProgress | null; finished: ImageExportFinished | null } };
  diffCaches: { params: { a: string; b: string }; result: CacheDiff };
  pickDirectory: { params: { title?: string }; result: { path: string | null } };
  listRegistryTags: { params: { repository: string }; result: RegistryTagsResult };
  deleteRegistryTag: { params: { repository: string; tag: string; force: boolean }; result: RegistryDeleteResult };
  /** Verifies the credentials against the registry, then stores them as `docker login` does; the answer never holds a secret. */
  registryLogin: { params: { registry: string; username: string; password: string }; result: { loggedInAs: string } };
  registryLogout: { params: { registry: string }; result: { loggedOut: boolean } };
  registryStatus: { params: { registry: string }; result: { loggedInAs: string | null } };
  /**
   * The files of a layer entry's chain (`layer`) or a record's result (`record`): reads the blobs (or
   * their cached listings). `requestId`, chosen by the caller, lets `cancelLayerFiles` stop the read.
   */
  openLayerFiles: { params: { cacheId: string; layer?: number; record?: number; view: LayerFilesView; requestId?: string }; result: LayerFilesResult };
  cancelLayerFiles: { params: { requestId: string }; result: { cancelled: boolean } };
  /** The waste of a record's result (reads its chain's blobs or cached listings). */
  resultWaste: { params: { cacheId: string; record: number; requestId?: string }; result: WasteSummary };
  /** The files that differ at a divergence of diffCaches(a, b), named by its leaf. */
  divergenceFiles: { params: { a: string; b: string; leaf: number; requestId?: string }; result: DivergenceFilesResult };
  /**
   * Names the cache's records from an image of the same build (a layout `DIR[:tag|@digest]`, an image
   * config file or a registry reference): its history's `created_by` mapped by diffID. The cacheId stays;
   * the answer is the view with `names`. Refused when the image has no diffID in common with the cache.
   */
  attachImage: { params: { cacheId: string; image: string }; result: { view: CacheView } };
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
  'previewImageExport',
  'startImageExport',
  'cancelImageExport',
  'getImageExportJob',
  'diffCaches',
  'pickDirectory',
  'listRegistryTags',
  'deleteRegistryTag',
  'registryLogin',
  'registryLogout',
  'registryStatus',
  'openLayerFiles',
  'cancelLayerFiles',
  'resultWaste',
  'divergenceFiles',
  'attachImage',
] as const satisfies readonly RequestName[];
