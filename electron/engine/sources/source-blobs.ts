/**
 * Where an opened source's blobs come from, so export, verify and (later) the content view read any
 * source the same way: a local layout hands out its own files; a registry source downloads lazily
 * into the per-user blob cache (store/blob-cache.ts) and hands out the cached, verified file.
 * Nothing is fetched when a source is opened: only when one of these methods is called.
 */
import type { Descriptor } from '../../../shared/oci/types';

/** Per-blob progress of `get`: `cached`/`local` need no transfer; `downloading` carries bytes so far. */
export interface SourceBlobProgress {
  digest: string;
  state: 'local' | 'cached' | 'downloading' | 'done';
  bytes: number;
  total: number;
}

/** A blob made available as a local file; `release` lets the blob cache evict it again. */
export interface SourceBlobFile {
  digest: string;
  size: number;
  /** A verified, complete file: never written to by the caller (it may be hard-linked). */
  path: string;
  outcome: 'local' | 'cached' | 'downloaded';
  /** Bytes a resumed download had already (null when it did not resume). */
  resumedFrom: number | null;
  release(): Promise<void>;
}

export interface SourceBlobs {
  readonly kind: 'local' | 'registry';
  /** Where the blobs live, for messages: a folder, or `host/repository`. Never holds credentials. */
  readonly location: string;
  /**
   * Whether the blob exists, without transferring it: a stat for a layout, a HEAD (or the blob
   * cache) for a registry.
   */
  has(digest: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** The blob as a local verified file, downloading it first when needed (concurrent calls share one download). */
  get(desc: Pick<Descriptor, 'digest' | 'size'>, options?: { signal?: AbortSignal; onProgress?: (p: SourceBlobProgress) => void }): Promise<SourceBlobFile>;
  /**
   * Optional: says that `get` is about to be called for all of `digests` (an export), so the source
   * can prepare them in one go (the blob cache pins them all with one write). Release it after the gets.
   */
  hold?(digests: readonly string[]): Promise<{ release(): Promise<void> }>;
}
