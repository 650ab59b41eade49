/**
 * The caller side of the blob cache's fetch contract, for its tests: a fetcher that serves a blob's
 * bytes from a local file from any offset (as a registry answers `Range: bytes=offset-`), and can
 * stall at a byte position until a gate opens, corrupt a byte, or end early.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, open, writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobFetch, BlobFetchResume } from '../../../electron/engine/store/blob-cache';
import { CacheError } from '../../../shared/contract/errors';

export interface FileFetcherOptions {
  chunkSize?: number;
  /** Each call appends `<pid> <offset>` to this file: counts fetches across processes. */
  countFile?: string;
  /** Stop before serving the byte at this position until `gate` resolves (or the signal aborts). */
  stallAt?: number;
  gate?: (signal: AbortSignal) => Promise<void>;
  /** Calls (0-based) whose bytes have one byte flipped. */
  corruptCalls?: number[];
  /** Calls (0-based) that fail with CacheError('digest-mismatch') after sending every byte, as the registry client's verifying stream does. */
  failAtEndCalls?: number[];
  /** Calls (0-based) that end (resolve) at this absolute position, as a truncated response would. */
  endEarlyAt?: number;
  endEarlyCalls?: number[];
}

export interface FileFetcher extends BlobFetch {
  /** The offset of every call, in order. */
  readonly calls: number[];
  /** What the resume hash handed to each call had hashed (`sha256:…` of the prefix). */
  readonly prefixDigests: string[];
}

/** Serves `file` from `offset` into the sink through a real stream pipeline. */
export function fileFetcher(file: string, options: FileFetcherOptions = {}): FileFetcher {
  const calls: number[] = [];
  const prefixDigests: string[] = [];
  const chunkSize = options.chunkSize ?? 16 << 10;
  const fetch = async (offset: number, sink: Writable, signal: AbortSignal, resume: BlobFetchResume): Promise<void> => {
    const call = calls.length;
    calls.push(offset);
    prefixDigests.push(`sha256:${resume.hash.copy().digest('hex')}`);
    if (options.countFile) await appendFile(options.countFile, `${process.pid} ${offset}\n`);
    const corrupt = options.corruptCalls?.includes(call) ?? false;
    const endAt = options.endEarlyCalls?.includes(call) ? options.endEarlyAt : undefined;
    async function* body(): AsyncGenerator<Buffer> {
      const fh = await open(file, 'r');
      try {
        const size = (await fh.stat()).size;
        let pos = offset;
        let flipped = false;
        while (pos < size) {
          if (endAt !== undefined && pos >= endAt) return;
          if (options.stallAt !== undefined && pos === options.stallAt && options.gate) await options.gate(signal);
          let want = Math.min(chunkSize, size - pos);
          if (options.stallAt !== undefined && pos < options.stallAt) want = Math.min(want, options.stallAt - pos);
          if (endAt !== undefined && pos < endAt) want = Math.min(want, endAt - pos);
          const buf = Buffer.alloc(want);
          const { bytesRead } = await fh.read(buf, 0, want, pos);
          const chunk = buf.subarray(0, bytesRead);
          if (corrupt && !flipped) {
            chunk[0] ^= 0xff;
            flipped = true;
          }
          pos += bytesRead;
          yield chunk;
        }
      } finally {
        await fh.close();
      }
    }
    if (options.failAtEndCalls?.includes(call)) {
      // Like the registry client's verifying stream: all bytes sent, then a digest error.
      await pipeline(body(), sink, { signal, end: false });
      throw new CacheError('digest-mismatch', 'GET blob: the bytes are not the digest (seen by the fetcher)');
    }
    await pipeline(body(), sink, { signal });
  };
  return Object.assign(fetch satisfies BlobFetch, { calls, prefixDigests });
}

/** A gate opened by `open()`; waiting on it ends with the signal's reason when aborted. */
export function memoryGate(): { gate: (signal: AbortSignal) => Promise<void>; open: () => void } {
  let opened!: () => void;
  const openedP = new Promise<void>((resolve) => (opened = resolve));
  return {
    open: () => opened(),
    gate: (signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason as Error);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        void openedP.then(resolve);
      }),
  };
}

/** A gate that opens when `path` exists: lets a test release a fetcher in another process. */
export function fileGate(path: string): (signal: AbortSignal) => Promise<void> {
  return async (signal) => {
    while (!existsSync(path)) await sleep(20, undefined, { signal });
  };
}

/** Writes `size` random bytes to `file` and returns their digest. */
export async function makeBlobFile(file: string, size: number): Promise<{ digest: string; size: number; bytes: Buffer }> {
  const bytes = randomBytes(size);
  await writeFile(file, bytes);
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size, bytes };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
