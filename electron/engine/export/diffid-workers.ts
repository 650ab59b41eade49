/**
 * DiffIDs hashed off the main thread. Verifying a layer's diffID means decompressing it and hashing
 * the uncompressed tar: sha256 alone (~2 GB/s) took half the main thread's time in a 1 GiB image
 * export (profiled: 495 of 1026 ms in hash.update), so two layers at once still used one core for
 * hashing. Each worker reads, gunzips and hashes one layer; two workers keep both cores busy.
 * gzip and uncompressed layers only: zstd goes through the main thread's codec (compression.ts).
 *
 * The worker is a plain CommonJS string (`eval: true`) using only Node built-ins, so the same code
 * runs under tsx, in the esbuild CJS bundle and in Electron's main process (as copy-workers.ts does).
 */
import { Worker } from 'node:worker_threads';
import { CacheError } from '../../../shared/contract/errors';

const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const { createHash } = require('node:crypto');
const { Writable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
parentPort.on('message', async (job) => {
  const abort = new Int32Array(job.flag);
  const hash = createHash('sha256');
  let read = 0;
  let reported = 0;
  try {
    const input = fs.createReadStream(job.file, { highWaterMark: job.chunk });
    input.on('data', (c) => {
      read += c.length;
      if (Atomics.load(abort, 0) !== 0) input.destroy(Object.assign(new Error('diffID aborted'), { name: 'AbortError' }));
      else if (read - reported >= job.reportEvery) {
        reported = read;
        parentPort.postMessage({ id: job.id, progress: read });
      }
    });
    const sink = new Writable({ highWaterMark: job.chunk, write(chunk, _enc, cb) { hash.update(chunk); cb(); } });
    if (job.compression === 'gzip') await pipeline(input, zlib.createGunzip({ chunkSize: job.chunk }), sink);
    else await pipeline(input, sink);
    parentPort.postMessage({ id: job.id, done: true, diffID: 'sha256:' + hash.digest('hex'), read });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: { name: err.name, code: err.code, message: err.message } });
  }
});
`;

const CHUNK = 1 << 20;
const REPORT_EVERY = 4 << 20;

interface Job {
  id: number;
  file: string;
  compression: 'gzip' | 'uncompressed';
  flag: SharedArrayBuffer;
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
  resolve: (diffID: string) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

interface WorkerMessage {
  id: number;
  progress?: number;
  done?: boolean;
  diffID?: string;
  error?: { name: string; code?: string; message: string };
}

/** Up to `size` workers, made on first use; `close()` ends them (one pool per image export). */
export class DiffIDPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly size = 2) {}

  /** The diffID of a gzip or uncompressed layer file; rejects with AbortError on abort, and with the codec's error (code Z_…) for bad bytes. */
  diffID(file: string, compression: 'gzip' | 'uncompressed', options: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<string> {
    if (this.closed) return Promise.reject(new CacheError('internal', 'diffID pool is closed'));
    options.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, file, compression, flag: new SharedArrayBuffer(4), onBytes: options.onBytes, signal: options.signal, resolve, reject };
      const onAbort = () => {
        Atomics.store(new Int32Array(job.flag), 0, 1);
        const queued = this.queue.indexOf(job);
        if (queued >= 0) {
          this.queue.splice(queued, 1);
          reject(options.signal!.reason ?? Object.assign(new Error('diffID aborted'), { name: 'AbortError' }));
        }
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = <T>(fn: (v: T) => void) => (v: T) => {
        options.signal?.removeEventListener('abort', onAbort);
        fn(v);
      };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, file: job.file, compression: job.compression, flag: job.flag, chunk: CHUNK, reportEvery: REPORT_EVERY });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, job: null };
    worker.on('message', (m: WorkerMessage) => {
      const job = slot.job;
      if (!job || m.id !== job.id) return;
      if (m.progress !== undefined) {
        job.onBytes?.(m.progress);
        return;
      }
      slot.job = null;
      if (m.error) {
        if (m.error.name === 'AbortError') job.reject(job.signal?.reason ?? Object.assign(new Error('diffID aborted'), { name: 'AbortError' }));
        else job.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      } else job.resolve(m.diffID!);
      this.pump();
    });
    worker.on('error', (err) => {
      const job = slot.job;
      slot.job = null;
      this.slots.splice(this.slots.indexOf(slot), 1);
      job?.reject(new CacheError('internal', `diffID worker failed: ${err.message}`));
      this.pump();
    });
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new CacheError('cancelled', 'diffID pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}
