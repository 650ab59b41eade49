/**
 * Blob verification: each distinct digest is read once, hashed as it streams, and compared with its
 * name, its descriptor size and (for layers whose codec we can undo) its diffID. Layers are never held
 * in memory; a gzip layer is gunzipped in the same pass that hashes it.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { VerifyProblem, VerifyReport } from '../../../shared/contract/requests';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { compressionOfMediaType } from '../../../shared/oci/media-types';
import type { ContentStore } from './content-store';

export interface VerifyDescriptor {
  digest: string;
  /** Descriptor size; negative means unknown (not checked). */
  size: number;
  mediaType: string;
  /** `containerd.io/uncompressed`, when the descriptor has it. */
  diffID?: string;
  /** Whose blob it is, copied onto its problems (a layout's other generations and orphans are hashed too). */
  owner?: VerifyProblem['owner'];
}

export interface VerifyProgress {
  done: number;
  total: number;
  digest: string;
  /** Bytes hashed so far, over all blobs. */
  bytes: number;
}

export interface VerifyBlobsOptions {
  signal?: AbortSignal;
  onProgress?: (progress: VerifyProgress) => void;
  /**
   * zstd layers get a diffID check only when a decompressor is given (compression.ts's
   * `() => createDecompressor('zstd')`): this module stays free of the native zstd binding.
   */
  createZstdDecompressor?: () => Transform;
}

type StoreReader = Pick<ContentStore, 'readStream' | 'blobPath'>;

interface HashResult {
  digest: string;
  size: number;
  /** Digest of the decompressed stream, when one was computed. */
  diffID: string | null;
  /** Why the decompressed stream could not be hashed (corrupt gzip, …). */
  decompressError: string | null;
}

/** Collapses repeated digests (a blob used at several chain positions) into one check, keeping the first known size, type and diffID. */
function distinct(descriptors: VerifyDescriptor[]): VerifyDescriptor[] {
  const byDigest = new Map<string, VerifyDescriptor>();
  for (const d of descriptors) {
    const seen = byDigest.get(d.digest);
    if (!seen) {
      byDigest.set(d.digest, { ...d });
      continue;
    }
    if (seen.size < 0 && d.size >= 0) seen.size = d.size;
    if (!seen.mediaType && d.mediaType) seen.mediaType = d.mediaType;
    if (!seen.diffID && d.diffID) seen.diffID = d.diffID;
    if (!seen.owner && d.owner) seen.owner = d.owner;
  }
  return [...byDigest.values()];
}

async function hashBlob(store: StoreReader, digest: string, decompressor: Transform | null, diffAlgorithm: string, signal?: AbortSignal): Promise<HashResult> {
  const { algorithm } = parseDigest(digest);
  const blobHash = createHash(algorithm);
  let size = 0;
  let decompressError: string | null = null;
  let diffHash: ReturnType<typeof createHash> | null = null;
  let decompressed: Promise<void> = Promise.resolve();
  if (decompressor) {
    const h = createHash(diffAlgorithm);
    diffHash = h;
    decompressor.on('data', (chunk: Buffer) => h.update(chunk));
    decompressed = new Promise<void>((resolve) => {
      decompressor.once('end', () => resolve());
      decompressor.once('error', (err: Error) => {
        decompressError = err.message;
        resolve();
      });
    });
  }
  const stream = await store.readStream(digest, { signal });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      blobHash.update(chunk);
      size += chunk.length;
      // Keep hashing the compressed bytes even after the codec failed: the blob digest still matters.
      if (decompressor && decompressError === null && !decompressor.destroyed) {
        if (!decompressor.write(chunk)) {
          try {
            await once(decompressor, 'drain', { signal });
          } catch (err) {
            if (signal?.aborted) throw err;
            // 'error' while waiting: recorded by the listener above.
          }
        }
      }
    }
    if (decompressor && decompressError === null) decompressor.end();
    await decompressed;
  } finally {
    stream.destroy();
    decompressor?.destroy();
  }
  return {
    digest: `${algorithm}:${blobHash.digest('hex')}`,
    size,
    diffID: diffHash && decompressError === null ? `${diffAlgorithm}:${diffHash.digest('hex')}` : null,
    decompressError,
  };
}

/** What sits at a blob path: absent, a regular file, or something that is not one (directory, FIFO, socket, device). */
async function blobFileKind(file: string): Promise<'absent' | 'file' | string> {
  try {
    const st = await stat(file);
    if (st.isFile()) return 'file';
    return st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or special file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    return `unreadable (${code ?? (err as Error).message})`;
  }
}

/**
 * Verifies blobs in a store. `missing` lists absent digests (normal for committed caches, whose large
 * layers are often left out); `problems` lists corruption. `ok` means nothing is missing or corrupt.
 */
export async function verifyBlobs(store: StoreReader, descriptors: VerifyDescriptor[], options: VerifyBlobsOptions = {}): Promise<VerifyReport> {
  const { signal, onProgress } = options;
  const list = distinct(descriptors);
  const missing: string[] = [];
  const problems: VerifyProblem[] = [];
  let checked = 0;
  let bytes = 0;
  let done = 0;
  for (const d of list) {
    signal?.throwIfAborted();
    const badDigest = digestProblem(d.digest);
    if (badDigest) {
      problems.push({ digest: String(d.digest), kind: 'unreadable', message: `not a valid digest: ${badDigest}` });
      onProgress?.({ done: ++done, total: list.length, digest: String(d.digest), bytes });
      continue;
    }
    const file = store.blobPath(d.digest);
    const tag = d.owner ? { owner: d.owner } : {};
    // Never open what is not a regular file: a FIFO would block the read for ever.
    const kind = await blobFileKind(file);
    if (kind === 'absent') {
      missing.push(d.digest);
      onProgress?.({ done: ++done, total: list.length, digest: d.digest, bytes });
      continue;
    }
    if (kind !== 'file') {
      problems.push({ digest: d.digest, kind: 'unreadable', message: `${file}: cannot read the blob: it is ${kind}, not a regular file`, ...tag });
      onProgress?.({ done: ++done, total: list.length, digest: d.digest, bytes });
      continue;
    }
    const compression = compressionOfMediaType(d.mediaType);
    let diffID = d.diffID;
    if (diffID !== undefined && compression !== null) {
      const bad = digestProblem(diffID);
      if (bad) {
        problems.push({ digest: d.digest, kind: 'diffid-mismatch', message: `${file}: the descriptor's diffID ${JSON.stringify(diffID)} is not a valid digest (${bad})`, ...tag });
        diffID = undefined;
      }
    }
    // A diffID only matters for a layer (its codec is known); on a config or manifest it is ignored, even when malformed.
    if (compression === null) diffID = undefined;
    const diffAlgorithm = diffID ? parseDigest(diffID).algorithm : 'sha256';
    let decompressor: Transform | null = null;
    if (diffID && compression === 'gzip') decompressor = createGunzip();
    else if (diffID && compression === 'zstd' && options.createZstdDecompressor) decompressor = options.createZstdDecompressor();
    let result: HashResult;
    try {
      result = await hashBlob(store, d.digest, decompressor, diffAlgorithm, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof CacheError && err.code === 'missing-blob') {
        missing.push(d.digest); // deleted between the stat and the read
      } else {
        const code = (err as NodeJS.ErrnoException).code;
        problems.push({ digest: d.digest, kind: 'unreadable', message: `${file}: cannot read: ${code ?? (err as Error).message}`, ...tag });
      }
      onProgress?.({ done: ++done, total: list.length, digest: d.digest, bytes });
      continue;
    }
    checked++;
    bytes += result.size;
    if (result.digest !== d.digest) {
      problems.push({ digest: d.digest, kind: 'digest-mismatch', message: `${file}: content hashes to ${result.digest}, not ${d.digest} as its name says`, ...tag });
    }
    if (d.size >= 0 && result.size !== d.size) {
      problems.push({ digest: d.digest, kind: 'size-mismatch', message: `${file}: file is ${result.size} bytes, but its descriptor says ${d.size}`, ...tag });
    }
    if (diffID) {
      if (compression === 'uncompressed' && diffID !== result.digest) {
        problems.push({ digest: d.digest, kind: 'diffid-mismatch', message: `${file}: uncompressed layer hashes to ${result.digest}, but its diffID (containerd.io/uncompressed) says ${diffID}`, ...tag });
      } else if (decompressor && result.decompressError !== null) {
        problems.push({ digest: d.digest, kind: 'diffid-mismatch', message: `${file}: cannot ${compression === 'gzip' ? 'gunzip' : 'decompress'} the layer to check its diffID ${diffID}: ${result.decompressError}`, ...tag });
      } else if (result.diffID !== null && result.diffID !== diffID) {
        problems.push({ digest: d.digest, kind: 'diffid-mismatch', message: `${file}: ${compression} layer decompresses to ${result.diffID}, but its diffID (containerd.io/uncompressed) says ${diffID}`, ...tag });
      }
    }
    onProgress?.({ done: ++done, total: list.length, digest: d.digest, bytes });
  }
  return { checked, bytes, missing, problems, ok: missing.length === 0 && problems.length === 0, scope: 'source', others: 0, orphans: null };
}
