/**
 * Content hashes of chosen files of a layer, for the file diff when size, mode and link target are
 * equal and the user asks: the blob is read once more and only the chosen files' data is hashed.
 */
import { createHash } from 'node:crypto';
import type { LayerSource, OpenLayerOptions } from './open-layer';
import { listLayerFile } from './read-layer';

/** sha256 (`sha256:…`) of each regular file of `digest`'s layer whose landing path is in `paths`; the last copy of a path wins. */
export async function hashLayerFiles(source: LayerSource, digest: string, paths: ReadonlySet<string>, options: Pick<OpenLayerOptions, 'signal'> = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.size === 0) return out;
  const size = source.model.descriptors.get(digest)?.size ?? -1;
  const blob = await source.blobs.get({ digest, size }, { signal: options.signal });
  try {
    await listLayerFile(blob.path, {
      signal: options.signal,
      hash: false,
      maxEntries: 0,
      onEntryData: (entry) => {
        if (entry.type !== 'file' || entry.whiteout !== undefined || !paths.has(entry.path)) return null;
        const h = createHash('sha256');
        return (chunk) => {
          if (chunk) h.update(chunk);
          else out.set(entry.path, `sha256:${h.digest('hex')}`);
        };
      },
    });
  } finally {
    await blob.release();
  }
  return out;
}
