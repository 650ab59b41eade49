/**
 * Opening a layer's file listing from any opened source: the per-user listing cache first (by diffID,
 * or by blob digest once it has been read), else the blob through `opened.blobs` (a layout's own file,
 * or a registry blob fetched into the blob cache), read whole once. An explicit, cancellable action.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheModel } from '../../../shared/cache/model';
import { isDigest } from '../../../shared/oci/digest';
import { Annotation } from '../../../shared/oci/media-types';
import { writeFileAtomic } from '../store/atomic-file';
import type { SourceBlobs } from '../sources/source-blobs';
import { openListingCache } from './listing-cache';
import type { ListingCache } from './listing-cache';
import { listLayerFile } from './read-layer';
import type { LayerListing } from './read-layer';

export interface OpenLayerProgress {
  digest: string;
  phase: 'cached' | 'fetching' | 'reading' | 'done';
  bytes: number;
  total: number;
  entries: number;
}

export interface OpenLayerOptions {
  signal?: AbortSignal;
  onProgress?: (p: OpenLayerProgress) => void;
  /** null disables the listing cache (never read, never written). */
  cache?: ListingCache | null;
  maxEntries?: number;
  /**
   * Hash the content to check the diffID the cache states (always done when it states none). Off by
   * default: a listing is cached by the stated diffID, as BuildKit trusts the same annotation.
   */
  verifyDiffID?: boolean;
}

export interface OpenedLayer {
  digest: string;
  diffID: string | null;
  listing: LayerListing;
  outcome: 'cached' | 'read';
  /** Said when the blob's content does not hash to the diffID its descriptor claims. */
  warning: string | null;
}

/** What an opened source offers for reading layers: its model (for descriptors) and its blobs. */
export interface LayerSource {
  model: CacheModel;
  blobs: SourceBlobs;
}

/** The diffID a cache states for a blob: its descriptor's `containerd.io/uncompressed`, else the config's layer annotation. */
export function statedDiffID(model: CacheModel, digest: string): string | null {
  const fromDesc = model.descriptors.get(digest)?.annotations?.[Annotation.uncompressed];
  if (isDigest(fromDesc)) return fromDesc;
  for (const l of model.norm.layers) if (l.blob === digest && isDigest(l.annotations?.diffID)) return l.annotations!.diffID!;
  return null;
}

function blobMapFile(cache: ListingCache, digest: string): string {
  return join(cache.dir, 'by-blob', digest.replace(':', '-'));
}

async function knownDiffID(cache: ListingCache, digest: string): Promise<string | null> {
  if (!isDigest(digest)) return null;
  try {
    const text = (await readFile(blobMapFile(cache, digest), 'utf8')).trim();
    return isDigest(text) ? text : null;
  } catch {
    return null;
  }
}

/** The cached listing of `digest`'s layer, or null: never reads the blob. */
export async function cachedListing(source: LayerSource, digest: string, cache: ListingCache = openListingCache()): Promise<LayerListing | null> {
  const key = statedDiffID(source.model, digest) ?? (await knownDiffID(cache, digest));
  return key ? cache.get(key) : null;
}

/** The listing of `digest`'s layer: from the listing cache when it is there, else read from the blob (and remembered). */
export async function openLayer(source: LayerSource, digest: string, options: OpenLayerOptions = {}): Promise<OpenedLayer> {
  const { signal, onProgress } = options;
  const cache = options.cache === undefined ? openListingCache() : options.cache;
  signal?.throwIfAborted();
  const stated = statedDiffID(source.model, digest);
  if (cache) {
    const key = stated ?? (await knownDiffID(cache, digest));
    const hit = key ? await cache.get(key) : null;
    if (hit) {
      onProgress?.({ digest, phase: 'cached', bytes: hit.compressedBytes, total: hit.compressedBytes, entries: hit.entryCount });
      return { digest, diffID: key, listing: hit, outcome: 'cached', warning: null };
    }
  }
  const size = source.model.descriptors.get(digest)?.size ?? -1;
  const blob = await source.blobs.get({ digest, size }, {
    signal,
    onProgress: (p) => onProgress?.({ digest, phase: 'fetching', bytes: p.bytes, total: p.total, entries: 0 }),
  });
  let listing: LayerListing;
  try {
    listing = await listLayerFile(blob.path, {
      signal,
      maxEntries: options.maxEntries,
      hash: options.verifyDiffID === true || stated === null,
      onProgress: (p) => onProgress?.({ digest, phase: 'reading', bytes: p.bytes, total: p.total, entries: p.entries }),
    });
  } finally {
    await blob.release();
  }
  let warning: string | null = null;
  if (stated && listing.diffID && stated !== listing.diffID) {
    warning = `layer ${digest}: its content hashes to ${listing.diffID}, but the cache says its diffID is ${stated}`;
  }
  // Only a full listing is remembered: a capped one is read again with the cap a caller asks for.
  if (!listing.diffID && stated) listing.diffID = stated;
  if (cache && listing.diffID && !listing.truncated && warning === null) {
    await cache.put(listing.diffID, listing);
    await mkdir(join(cache.dir, 'by-blob'), { recursive: true });
    await writeFileAtomic(blobMapFile(cache, digest), listing.diffID, { durable: false });
  }
  onProgress?.({ digest, phase: 'done', bytes: listing.compressedBytes, total: listing.compressedBytes, entries: listing.entryCount });
  return { digest, diffID: listing.diffID, listing, outcome: 'read', warning };
}

/** Says plainly that a layer cannot be read because its blob is missing, naming it. */
export function missingLayerMessage(err: unknown, digest: string): string | null {
  return err instanceof CacheError && err.code === 'missing-blob' ? `blob ${digest} is missing, so its files cannot be listed` : null;
}
