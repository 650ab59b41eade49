/** What crosses the contract for an image export: the request, its preview, progress and outcome. */
import type { ContractError } from '../contract/errors';
import type { LayerState } from '../export/types';
import type { ImageLayerOptions } from './layer-options';

/** Which result becomes the image: a record's result, a layer entry's chain, or a chain by its top blob. */
export type ImageSelectionSpec = { record: number } | { layer: number } | { chain: string };

/** The starting config: a config file, or an image reference (`DIR:tag`, `DIR@sha256:…`, `host/repo:tag`). Absent: the inline-cache source's config, else the empty one. */
export interface ImageConfigSpec {
  kind: 'file' | 'image';
  value: string;
}

export interface ImageExportParams {
  cacheId: string;
  selection: ImageSelectionSpec;
  /** `DIR[:tag]`, `docker-archive:FILE` or a registry reference `host/repo[:tag]`. */
  dest: string;
  /** `os/arch[/variant]`; default this machine's (or the config's). */
  platform?: string;
  /** `name=a,b` as BuildKit takes it, without the `name=`. */
  names?: string;
  config?: ImageConfigSpec;
  inlineCache?: boolean;
  options?: ImageLayerOptions;
}

export interface ImagePreviewLayer {
  /** Position in the image, base first. */
  index: number;
  /** Layer entry of the cache. */
  entry: number;
  blob: string;
  size: number;
  mediaType: string;
  /** `containerd.io/uncompressed`, or null (then it is computed). */
  diffID: string | null;
  createdAt: string | null;
  description: string | null;
  present: boolean;
  /** The compression it is converted to, or null when it is kept (from the media type; the blob's bytes decide at export). */
  convertTo: 'uncompressed' | 'gzip' | 'zstd' | null;
}

export interface ImageExportPreview {
  chain: ImagePreviewLayer[];
  totalBytes: number;
  /** Records whose result is this chain (the inline cache starts from them). */
  targets: number[];
  /** The platform the image will have, `os/arch[/variant]`. */
  platform: string;
  /** Normalised names (`docker.io/library/app:latest`). */
  names: string[];
  /** `empty (linux/amd64)`, `inline-cache source`, `file …`, `image …`. */
  configOrigin: string;
  /** Whether the source carries an image config of its own (an inline-cache source). */
  sourceHasConfig: boolean;
  /** Where the image goes, or null when no destination was given. */
  destination: { kind: 'folder' | 'docker-archive' | 'registry'; label: string } | null;
  layerNote: string | null;
  /** Set when the request cannot be exported as it is (bad name, platform, config, missing blob…): the message. */
  error: string | null;
}

export interface ImageExportOutcome {
  'containerimage.config.digest': string;
  'containerimage.digest': string;
  'image.name'?: string;
  chain: number[];
  diffIDs: string[];
  layers: { digest: string; size: number; mediaType: string; converted: boolean }[];
  configOrigin: string;
  inlineRecords: number;
  warnings: string[];
  /** The source string that opens the image (a folder tag or a registry reference), or null for a tar. */
  openSource: string | null;
}

export interface ImageLayerProgressWire {
  index: number;
  blob: string;
  size: number;
  state: LayerState;
  bytes: number;
  convertTo?: 'uncompressed' | 'gzip' | 'zstd' | null;
}

export interface ImageExportProgress {
  jobId: string;
  /** Increases with every event of the job: an older one arriving late is ignored. */
  seq: number;
  /** Every layer's latest state, by position. */
  layers: ImageLayerProgressWire[];
  /** The exporter's lines so far: `exporting layers`, `writing image sha256:…`, for a registry `pushing layers` and `pushing manifest for …`, then `naming to …`. */
  lines: string[];
}

export type ImageExportFinished = { jobId: string; ok: true; result: ImageExportOutcome } | { jobId: string; ok: false; error: ContractError };
