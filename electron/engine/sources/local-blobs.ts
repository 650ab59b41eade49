/** SourceBlobs of a local layout: its own `blobs/<alg>/<hex>` files, handed out as they are (nothing is copied or fetched). */
import { stat } from 'node:fs/promises';
import { CacheError } from '../../../shared/contract/errors';
import { blobPathIn } from './blob-path';
import type { SourceBlobFile, SourceBlobs } from './source-blobs';

const noRelease = async (): Promise<void> => {};

/** The layout at `dir`; `get` returns the layout's file itself (outcome 'local'), `has` is a stat. */
export function localSourceBlobs(dir: string): SourceBlobs {
  return {
    kind: 'local',
    location: dir,
    async has(digest) {
      try {
        return (await stat(blobPathIn(dir, digest))).isFile();
      } catch {
        return false;
      }
    },
    async get(desc, options = {}): Promise<SourceBlobFile> {
      options.signal?.throwIfAborted();
      const path = blobPathIn(dir, desc.digest);
      let size: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) throw new CacheError('io', `${path}: blob ${desc.digest} is not a regular file`, { digest: desc.digest, file: path });
        size = st.size;
      } catch (err) {
        if (err instanceof CacheError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') throw new CacheError('missing-blob', `blob ${desc.digest} is missing: ${path} does not exist`, { digest: desc.digest, file: path });
        throw new CacheError('io', `cannot read ${path}: ${code ?? (err as Error).message}`, { digest: desc.digest, file: path });
      }
      if (desc.size >= 0 && size !== desc.size) {
        throw new CacheError('size-mismatch', `${path}: blob is ${size} bytes, but its descriptor says ${desc.size}`, { digest: desc.digest, file: path, expected: desc.size, actual: size });
      }
      options.onProgress?.({ digest: desc.digest, state: 'local', bytes: size, total: size });
      return { digest: desc.digest, size, path, outcome: 'local', resumedFrom: null, release: noRelease };
    },
  };
}

/** A source with no blobs beside it (a bare config or manifest file): everything it references is missing. */
export function noSourceBlobs(file: string): SourceBlobs {
  return {
    kind: 'local',
    location: file,
    has: async () => false,
    async get(desc) {
      throw new CacheError('missing-blob', `blob ${desc.digest} is not available: ${file} is a single file, with no blobs beside it`, { digest: desc.digest, file });
    },
  };
}
