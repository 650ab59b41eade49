/** Export options (BuildKit's names and defaults), preview and progress shapes. */
import type { Descriptor } from '../oci/types';

export type ExportCompression = 'uncompressed' | 'gzip' | 'zstd';

export interface ExportOptions {
  /** BuildKit `oci-mediatypes`, default true. */
  'oci-mediatypes'?: boolean;
  /** BuildKit `image-manifest`, default true (false when only oci-mediatypes=false is given). */
  'image-manifest'?: boolean;
  /** BuildKit `compression`; when unset, layers keep their compression. */
  compression?: ExportCompression;
  'compression-level'?: number;
  'force-compression'?: boolean;
  /** Default `latest`. */
  tag?: string;
  /** Drop layer entries whose chain needs an absent blob, and the results that use them. */
  'drop-missing'?: boolean;
  /** Check digests of blobs that already exist at the destination, not only sizes. */
  verify?: boolean;
}

export type LayerState = 'queued' | 'reading' | 'converting' | 'writing' | 'exists' | 'linked' | 'done' | 'failed';

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
  /** Set when the options are invalid (BuildKit's message). */
  error: string | null;
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
}

export interface ExportProgress {
  jobId: string;
  seq: number;
  text: string;
  layers: LayerProgress[];
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number;
}

export interface ExportResult {
  /** The `cache.manifest` descriptor. */
  descriptor: Descriptor;
  dest: string;
  tag: string;
  skipped: boolean;
}
