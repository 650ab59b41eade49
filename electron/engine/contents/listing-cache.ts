/**
 * Layer listings remembered per user, by diffID (the uncompressed content), so a layer read once
 * opens instantly again, whatever blob (gzip, zstd, eStargz) carried it. Files are written atomically
 * beside the blob cache: `<cache root>/listings/sha256-<hex>.json`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest } from '../../../shared/oci/digest';
import { defaultBlobCacheDir } from '../store/blob-cache-dir';
import { writeFileAtomic } from '../store/atomic-file';
import type { LayerListing } from './read-layer';

/** `<cachescope cache root>/listings`: the blob cache's sibling (CACHESCOPE_CACHE_DIR or XDG_CACHE_HOME apply). */
export function defaultListingDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(defaultBlobCacheDir(env)), 'listings');
}

export interface ListingCache {
  readonly dir: string;
  get(diffID: string): Promise<LayerListing | null>;
  put(diffID: string, listing: LayerListing): Promise<void>;
}

function fileFor(dir: string, diffID: string): string {
  if (!isDigest(diffID)) throw new Error(`not a digest: ${diffID}`);
  return join(dir, `${diffID.replace(':', '-')}.json`);
}

export function openListingCache(dir: string = defaultListingDir()): ListingCache {
  return {
    dir,
    async get(diffID) {
      if (!isDigest(diffID)) return null;
      let text: string;
      try {
        text = await readFile(fileFor(dir, diffID), 'utf8');
      } catch {
        return null;
      }
      try {
        const value = JSON.parse(text) as LayerListing;
        // A listing of another shape (older version) or of other content is read again, never trusted.
        return value && value.version === 1 && Array.isArray(value.entries) && value.diffID === diffID ? value : null;
      } catch {
        return null;
      }
    },
    async put(diffID, listing) {
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(fileFor(dir, diffID), JSON.stringify(listing), { durable: false });
    },
  };
}
