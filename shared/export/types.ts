/** Export options (BuildKit's names and defaults), preview and progress shapes. */
import type { Descriptor } from '../oci/types';

export type ExportCompression = 'uncompressed' | 'gzip' | 'zstd';

export interface ExportOptions {
  /** BuildKit `oci-mediatypes`, default true. */
  'oci-mediatypes'?: boolean;
  /** BuildKit `image-manifest`, default true (false when only oci-mediatypes=false is given). */
  'image-manifest'?: boolean;
  /**
   * BuildKit `compression` (default gzip): the target of `force-compression`. Without
   * force-compression existing layers keep their compression, as in BuildKit (see options.ts).
   */
  compression?: ExportCompression;
  'compression-level'?: number;
  'force-compression'?: boolean;
  /** Default `latest`. */
  tag?: string;
  /** Drop layer entries whose chain needs an absent blob, and the results that use them. */
  'drop-missing'?: boolean;
  /**
   * Unset (the default): every blob is verified before it is linked, copied or reused, trusting a
   * remembered verification of the same unchanged file (electron/engine/verify-memo.ts). true: hash
   * every blob, remembered or not. false: the explicit opt-out (sizes only where nothing streams).
   */
  verify?: boolean;
}

/**
 * Per-layer states. A registry source adds `downloading` (bytes arriving into the per-user blob
 * cache, a resumed prefix included) and `cached` (already in the blob cache, nothing fetched); a
 * layer pulled from a registry ends `done` whether it was then hard-linked or copied. A registry
 * target adds `exists` (HEAD found it; skipped), `mounted`, `uploading` and `resumed`.
 */
export type LayerState =
  | 'queued'
  | 'downloading'
  | 'cached'
  | 'reading'
  | 'converting'
  | 'writing'
  | 'exists'
  | 'linked'
  | 'done'
  | 'failed'
  /** A registry target: the blob was mounted from another repository of the same registry (no bytes sent). */
  | 'mounted'
  /** A registry target: bytes going up. */
  | 'uploading'
  /** A registry target: an interrupted upload continues from what the registry already holds. */
  | 'resumed';

/** Where a layer's bytes came from: the source layout, the blob cache, or a download made now. */
export type LayerOrigin = 'local' | 'cached' | 'downloaded';

export interface ExportPreviewLayer {
  index: number;
  blob: string;
  size: number;
  mediaType: string;
  targetMediaType: string;
  convert: boolean;
  present: boolean;
  /** Why this entry will be dropped (drop-missing), or null. */
  dropped: string | null;
}

export interface ExportPreview {
  layers: ExportPreviewLayer[];
  totalBytes: number;
  convertCount: number;
  droppedLayers: number;
  droppedResults: number;
  missingBlobs: string[];
  manifestMediaType: string;
  tag: string;
  /** Set when the options are invalid (BuildKit's message), or the `missing blob …` lines without drop-missing. */
  error: string | null;
  /** Nothing would be exported (`skipping cache export for empty result`). */
  empty: boolean;
  /** Per blob: a corrected media type or a conversion that is skipped, and why. */
  notes: { blob: string; note: string }[];
  /** The compression level converted layers get (BuildKit's mapping of `compression-level`), or null when nothing is converted. */
  effectiveLevel: number | null;
  /** One line on the level: which runs and why it differs from the one asked for, or that it has no effect; null when there is nothing to say. */
  levelNote: string | null;
  /**
   * Before a push (previewExport with a registry `dest`): what the destination is known to reject or
   * what BuildKit would refuse to import, each with the option that works. Empty for a folder.
   */
  warnings?: PushWarning[];
}

/** One pre-push warning (registries.md §2, BuildKit's 1 MiB config import cap). */
export interface PushWarning {
  kind: 'index-form' | 'docker-image-manifest' | 'config-size';
  /** What will go wrong, naming the host or the size. */
  message: string;
  /** The option that works, e.g. `image-manifest=true`. */
  fix: string;
}

export interface LayerProgress {
  /** Source blob digest. */
  blob: string;
  state: LayerState;
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
  /** BuildKit's progress text, e.g. `writing layer sha256:…`. */
  text: string;
  /** Digest written, once known. */
  target: string | null;
  error: string | null;
  /**
   * Where the source bytes came from, once known (kept to the end, so a throttled stream of events
   * still tells a cached layer from a downloaded one); absent until the blob was needed.
   */
  origin?: LayerOrigin;
  /** A download that resumed a partial file: the bytes it already had. */
  resumedFrom?: number;
}

export interface ExportProgress {
  jobId: string;
  seq: number;
  /** The newest BuildKit progress line. */
  text: string;
  /** Every BuildKit progress line since the previous event, so throttling loses none. */
  lines?: string[];
  layers: LayerProgress[];
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
}

export interface ExportResult {
  /** The `cache.manifest` descriptor; null only when `skipped` (BuildKit returns no response then). */
  descriptor: Descriptor | null;
  dest: string;
  tag: string;
  /** True for `skipping cache export for empty result`: nothing was written. */
  skipped: boolean;
  /** Digest of the written cache config, or null when skipped. */
  config: string | null;
  /** Per-state count of distinct layer blobs: how many were written, converted, linked, or already there. */
  counts: { written: number; converted: number; linked: number; exists: number; reused: number; mounted?: number; resumed?: number };
  /** Bytes read from the source and written to the destination. */
  bytesRead: number;
  bytesWritten: number;
  durationMs: number;
}
