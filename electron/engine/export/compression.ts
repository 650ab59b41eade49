/**
 * The one place that knows how to (de)compress layer blobs: gzip through node:zlib, zstd through
 * node:zlib when the runtime has it (newer Node/Electron) and through zstd-napi otherwise. Every
 * codec is a stream Transform, so no blob is ever held whole in memory.
 */
import { open } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { CompressStream, DecompressStream } from 'zstd-napi';
import { detectCompression } from '../../../shared/oci/media-types';
import type { Compression } from '../../../shared/oci/media-types';

export type { Compression };

/** BuildKit's defaults: gzip.DefaultCompression (6 in zlib terms) and zstd's default speed (level 3). */
export const DEFAULT_LEVEL: Record<Exclude<Compression, 'uncompressed'>, number> = { gzip: 6, zstd: 3 };

/** 1 MiB chunks: large enough to keep zlib's thread-pool round trips and zstd calls cheap. */
const CHUNK = 1 << 20;

interface ZlibZstd {
  createZstdCompress(options?: { params?: Record<number, number>; chunkSize?: number }): Transform;
  createZstdDecompress(options?: { chunkSize?: number }): Transform;
  constants: Record<string, number>;
}

/** node:zlib's zstd (Node >= 22.15 / 23.8) runs in libuv's pool, off the main thread, so prefer it when present. */
function nodeZstd(): ZlibZstd | null {
  const z = zlib as unknown as Partial<ZlibZstd>;
  // CACHESCOPE_ZSTD=napi forces zstd-napi, to compare the two where both exist.
  if (process.env.CACHESCOPE_ZSTD === 'napi') return null;
  return typeof z.createZstdCompress === 'function' && typeof z.createZstdDecompress === 'function' && z.constants?.ZSTD_c_compressionLevel !== undefined
    ? (z as ZlibZstd)
    : null;
}

/** Which zstd implementation this process uses (reported by the bench). */
export function zstdBackend(): 'node:zlib' | 'zstd-napi' {
  return nodeZstd() ? 'node:zlib' : 'zstd-napi';
}

/**
 * zstd-napi's CompressStream compresses synchronously on the calling thread. With nbWorkers >= 1,
 * libzstd (built with ZSTD_MULTITHREAD) hands the work to its own thread, so the main thread stays
 * free for hashing and I/O. Measured on 2 cores, gzip→zstd -3 of a 256 MiB tar (read, gunzip,
 * diffID hash, compress, hash): nbWorkers 0: 160 MiB/s one stream, 191 MiB/s two streams;
 * nbWorkers 1: 225 / 263 MiB/s; nbWorkers 2: 243 / 267 MiB/s; `gzip -dc | zstd -3`: 173 MiB/s.
 * Two concurrent streams with one zstd worker each use both cores without a worker_threads pool.
 */
const NAPI_ZSTD_WORKERS = 1;

/** A Transform that decompresses `compression`; `uncompressed` is a pass-through. */
export function createDecompressor(compression: Compression): Transform {
  switch (compression) {
    case 'uncompressed':
      return new PassThrough({ highWaterMark: CHUNK });
    case 'gzip':
      // Go's gzip reader accepts concatenated members (multistream), and so does zlib's gunzip.
      return zlib.createGunzip({ chunkSize: CHUNK });
    case 'zstd': {
      const z = nodeZstd();
      return z ? z.createZstdDecompress({ chunkSize: CHUNK }) : new DecompressStream();
    }
  }
}

/**
 * A Transform that compresses into `compression` at `level` (the codec's default when null). Exports
 * pass the effective level of shared/export/options.ts (zstd 1, 3, 7 or 11): libzstd's levels 20–22
 * take 0.7–1.6 GB per stream even for a 10 KiB input.
 */
export function createCompressor(compression: Compression, level: number | null = null): Transform {
  switch (compression) {
    case 'uncompressed':
      return new PassThrough({ highWaterMark: CHUNK });
    case 'gzip':
      // Go's gzip levels: -2 is HuffmanOnly (zlib's Z_HUFFMAN_ONLY strategy), -1 DefaultCompression.
      if (level === -2) return zlib.createGzip({ level: 1, strategy: zlib.constants.Z_HUFFMAN_ONLY, chunkSize: CHUNK });
      return zlib.createGzip({ level: level === null || level === -1 ? DEFAULT_LEVEL.gzip : level, chunkSize: CHUNK });
    case 'zstd': {
      const lvl = level ?? DEFAULT_LEVEL.zstd;
      const z = nodeZstd();
      if (z) return z.createZstdCompress({ chunkSize: CHUNK, params: { [z.constants.ZSTD_c_compressionLevel]: lvl } });
      return new CompressStream({ compressionLevel: lvl, nbWorkers: NAPI_ZSTD_WORKERS });
    }
  }
}

/** Reads the first bytes of a file and applies BuildKit's magic-byte detection. */
export async function sniffCompression(file: string, signal?: AbortSignal): Promise<Compression> {
  signal?.throwIfAborted();
  const fh = await open(file, 'r');
  try {
    const head = new Uint8Array(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}
