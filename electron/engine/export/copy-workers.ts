/**
 * Blob copies that hash on both cores. Copying a layer means reading it, hashing it (the digest is
 * checked while streaming) and writing it; on the main thread sha256 alone (~1.9 GB/s here) is
 * slower than `cp -r`, so each copy runs in a worker thread: read → hash → write into a temp file
 * under the destination's ingest/ folder. A blob whose verification is remembered (verify-memo.ts)
 * is copied without hashing, by the kernel (copy_file_range through copyFileSync). The caller then
 * checks the digest and hands the finished file to the content store (`adopt`), which fsyncs it and
 * publishes it atomically into blobs/: the fsync runs outside the worker, so the worker copies the
 * next blob while the disk writes this one.
 *
 * The worker is a plain CommonJS string (`eval: true`) using only Node built-ins, so the same code
 * runs under tsx, in the esbuild CJS bundle and in Electron's main process without a separate entry.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CacheError } from '../../../shared/contract/errors';

const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
parentPort.on('message', (job) => {
  const abort = new Int32Array(job.flag);
  let fin = -1;
  let fout = -1;
  try {
    if (!job.hash) {
      fs.copyFileSync(job.src, job.tmp, fs.constants.COPYFILE_EXCL);
      // copyFile takes the source's mode (often read-only); blobs we write are 0644 like the hashed copies.
      fs.chmodSync(job.tmp, 0o644);
      if (job.sync) {
        fout = fs.openSync(job.tmp, 'r');
        fs.fsyncSync(fout);
        fs.closeSync(fout);
        fout = -1;
      }
      parentPort.postMessage({ id: job.id, done: true, digest: null, size: fs.statSync(job.tmp).size });
      return;
    }
    fin = fs.openSync(job.src, 'r');
    fout = fs.openSync(job.tmp, 'wx', 0o644);
    const hash = createHash(job.algorithm);
    const buf = Buffer.allocUnsafe(job.chunk);
    let total = 0;
    let reported = 0;
    for (;;) {
      if (Atomics.load(abort, 0) !== 0) throw Object.assign(new Error('copy aborted'), { name: 'AbortError' });
      const n = fs.readSync(fin, buf, 0, job.chunk, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      let off = 0;
      while (off < n) off += fs.writeSync(fout, buf, off, n - off);
      total += n;
      if (total - reported >= job.reportEvery) {
        reported = total;
        parentPort.postMessage({ id: job.id, progress: total });
      }
    }
    if (job.sync) fs.fsyncSync(fout);
    fs.closeSync(fout);
    fout = -1;
    parentPort.postMessage({ id: job.id, done: true, digest: job.algorithm + ':' + hash.digest('hex'), size: total });
  } catch (err) {
    if (fout >= 0) { try { fs.closeSync(fout); } catch {} }
    try { fs.unlinkSync(job.tmp); } catch {}
    parentPort.postMessage({ id: job.id, error: { name: err.name, code: err.code, message: err.message, path: err.path } });
  } finally {
    if (fin >= 0) { try { fs.closeSync(fin); } catch {} }
  }
});
`;

/** Below this a worker round trip costs more than it saves; the caller streams small blobs itself. */
export const WORKER_COPY_MIN_BYTES = 1 << 20;
const CHUNK = 1 << 20;
const REPORT_EVERY = 4 << 20;

interface CopyRequest {
  src: string;
  tmp: string;
  algorithm: string;
  /** false: copy without hashing (the caller knows the bytes are right); the digest comes back null. Default true. */
  hash?: boolean;
  /** fsync the copy before answering. Default false: the store's `adopt` fsyncs it off the worker. */
  sync?: boolean;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

interface Pending extends CopyRequest {
  id: number;
  flag: SharedArrayBuffer;
  resolve: (v: CopyDone) => void;
  reject: (e: unknown) => void;
}

export interface CopyDone {
  /** `algorithm:hex` of the bytes written, or null when the copy was not hashed. */
  digest: string | null;
  size: number;
}

interface WorkerMessage {
  id: number;
  progress?: number;
  done?: boolean;
  digest?: string | null;
  size?: number;
  error?: { name: string; code?: string; message: string; path?: string };
}

interface Slot {
  worker: Worker;
  job: Pending | null;
}

/** A temp name in the destination's ingest folder (same file system as blobs/, so the store can link it). */
export function ingestTempPath(root: string, ingestDir: string): string {
  return join(root, ingestDir, `cachescope-${process.pid}-${randomBytes(8).toString('hex')}.copy`);
}

function toError(e: NonNullable<WorkerMessage['error']>, job: Pending): Error {
  if (e.name === 'AbortError') return Object.assign(new Error('copy aborted'), { name: 'AbortError' });
  const file = e.path ?? job.tmp;
  return new CacheError('io', `cannot copy ${job.src} to ${file}: ${e.code ?? e.message}`, { file, ...(e.code ? { errno: e.code } : {}) });
}

/** Up to `size` workers, created on first use; `close()` ends them (one pool per export). */
export class CopyPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly size = 2) {}

  /** Copies `src` to `tmp` (created), hashing on the way unless told not to; rejects with AbortError on abort. */
  copy(req: CopyRequest): Promise<CopyDone> {
    if (this.closed) return Promise.reject(new CacheError('internal', 'copy pool is closed'));
    req.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const job: Pending = { ...req, id: this.nextId++, flag: new SharedArrayBuffer(4), resolve, reject };
      const onAbort = () => {
        Atomics.store(new Int32Array(job.flag), 0, 1);
        const queued = this.queue.indexOf(job);
        if (queued >= 0) {
          this.queue.splice(queued, 1);
          reject(req.signal!.reason ?? Object.assign(new Error('copy aborted'), { name: 'AbortError' }));
        }
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = <T>(fn: (v: T) => void) => (v: T) => {
        req.signal?.removeEventListener('abort', onAbort);
        fn(v);
      };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.queue.push(job);
      this.pump();
    });
  }

  /** Starts the workers now, so their start-up overlaps the export's planning instead of its first copy. */
  warm(): void {
    while (!this.closed && this.slots.length < this.size) this.spawn();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, src: job.src, tmp: job.tmp, algorithm: job.algorithm, hash: job.hash !== false, sync: job.sync === true, flag: job.flag, chunk: CHUNK, reportEvery: REPORT_EVERY });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, job: null };
    worker.on('message', (m: WorkerMessage) => {
      const job = slot.job;
      if (!job || m.id !== job.id) return;
      if (m.progress !== undefined) {
        job.onProgress?.(m.progress);
        return;
      }
      slot.job = null;
      if (m.error) {
        const err = toError(m.error, job);
        job.reject(err.name === 'AbortError' && job.signal?.reason !== undefined ? job.signal.reason : err);
      } else job.resolve({ digest: m.digest ?? null, size: m.size! });
      this.pump();
    });
    worker.on('error', (err) => {
      // A crashed worker fails its job (and its temp file is left in ingest/, never in blobs/).
      const job = slot.job;
      slot.job = null;
      this.slots.splice(this.slots.indexOf(slot), 1);
      if (job) {
        void unlink(job.tmp).catch(() => undefined);
        job.reject(new CacheError('internal', `copy worker failed: ${err.message}`));
      }
      this.pump();
    });
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new CacheError('cancelled', 'copy pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}
