/**
 * Blob downloads done entirely on worker threads: socket, HTTP, sha256 and the file's writes.
 *
 * Why: a pull through transport.ts reads every socket on the main thread, copies each 64 KiB chunk
 * into a staging buffer and posts it to a hashing thread. On a 1 GiB pull that main-thread work
 * (allocations, their garbage, copies, messages) cost more CPU than hashing and writing together
 * (measured: 3.0 s of CPU per GiB through the transport, 1.3 s here), and on two cores CPU is what
 * the pull waits for. Here each thread reads its sockets into one reused buffer and hashes and
 * appends every byte where it lands; the main thread only hears "done" and progress.
 *
 * Only the plain case runs here (direct-download-worker.ts): a GET the registry answers 200, or 206
 * from the asked offset, with a Content-Length. The client plans it (`RegistryClient.directBlobGet`)
 * only when no proxy applies, with the Authorization it already holds for that very origin, so no
 * credential goes anywhere the transport would not send it. Everything else comes back `fallback`
 * before a byte is written, and the caller downloads through the transport as before.
 */
import { Worker } from 'node:worker_threads';
import { DIRECT_DOWNLOAD_WORKER_SOURCE } from './direct-download-worker';

/** One GET, as the worker makes it. */
export interface DirectGetPlan {
  protocol: 'http:' | 'https:';
  host: string;
  port: number;
  /** The Host header (host, with the port when it is not the scheme's default). */
  hostHeader: string;
  /** Path and query. */
  path: string;
  /** Request headers besides Host, Range and Connection (Authorization only for this origin). */
  headers: Record<string, string>;
  tls?: { ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  idleTimeoutMs: number;
  /** Connections are reused only between plans with the same key (origin and TLS settings). */
  connKey: string;
}

export type DirectOutcome =
  /** Every byte from `offset` to the blob's size is in the file; `digest` covers the prefix too. */
  | { kind: 'complete'; bytes: number; digest: string }
  /** Nothing was written: the caller downloads through the full client instead (after the wait a retry needs). */
  | { kind: 'fallback'; reason: string; status?: number; location?: string; retryAfter?: string; code?: string }
  /** The body was cut after `bytes` bytes (written and kept, for a Range resume). */
  | { kind: 'partial'; bytes: number; reason: string; code?: string };

export interface DirectDownloadOptions {
  /** The file's algorithm (`sha256`). */
  algorithm: string;
  /** Bytes already in the file (hashed first; the GET asks `Range: bytes=offset-`). */
  offset: number;
  /** The blob's size: the body must bring the file exactly to it. */
  size: number;
  signal: AbortSignal;
  /** Bytes written by this download so far (every few MiB). */
  onBytes?: (written: number) => void;
}

interface Reply {
  id: number;
  progress?: number;
  kind?: 'complete' | 'fallback' | 'partial' | 'aborted' | 'failed';
  bytes?: number;
  digest?: string;
  reason?: string;
  status?: number;
  location?: string;
  retryAfter?: string;
  code?: string;
  message?: string;
}

interface Running {
  resolve: (r: Reply) => void;
  onBytes?: (n: number) => void;
}

/** Both cores of a small machine: the main thread has almost nothing left to do during a pull. */
const THREADS = 2;

class DirectThread {
  readonly worker: Worker;
  readonly running = new Map<number, Running>();
  /** connKeys this thread finished a download from: it may hold an idle keep-alive connection to them. */
  readonly warm = new Set<string>();
  dead: Error | null = null;

  constructor() {
    this.worker = new Worker(DIRECT_DOWNLOAD_WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const job = this.running.get(r.id);
      if (!job) return;
      if (r.progress !== undefined) return job.onBytes?.(r.progress);
      this.running.delete(r.id);
      if (this.running.size === 0) this.worker.unref();
      job.resolve(r);
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      const i = threads.indexOf(this);
      if (i >= 0) threads.splice(i, 1);
      // The thread's sockets died with it; its files keep what was written: a cut, which the caller
      // resumes through the full client (re-hashing the file), not a file error.
      for (const job of this.running.values()) job.resolve({ id: 0, kind: 'partial', reason: `download thread failed: ${err.message}`, code: 'ERR_DOWNLOAD_THREAD' });
      this.running.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`download thread exited (${code})`)));
  }
}

const threads: DirectThread[] = [];
let nextId = 1;

/** How this process's direct downloads ended so far (read by tests: which downloads took the threads). */
export interface DirectDownloadCounts {
  complete: number;
  fallback: number;
  partial: number;
}
const counts: DirectDownloadCounts = { complete: 0, fallback: 0, partial: 0 };

export function directDownloadCounts(): DirectDownloadCounts {
  return { ...counts };
}

function pickThread(connKey: string): DirectThread {
  // An idle thread first, one with a kept-alive connection to this origin if any: a new thread only
  // when all are busy, or sequential downloads would alternate threads and open a connection each.
  const free = threads.filter((t) => t.running.size === 0);
  const idle = free.find((t) => t.warm.has(connKey)) ?? free[0];
  if (idle) return idle;
  if (threads.length < THREADS) {
    const t = new DirectThread();
    threads.push(t);
    return t;
  }
  return threads.reduce((a, b) => (b.running.size < a.running.size ? b : a));
}

/**
 * Downloads the rest of a blob into `fd` (open for appending, holding `offset` bytes of it already)
 * on a worker thread. Rejects only when the file cannot be read or written, or on abort (with the
 * signal's reason); every network outcome is a DirectOutcome.
 */
export function directDownload(plan: DirectGetPlan, fd: number, options: DirectDownloadOptions): Promise<DirectOutcome> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(signal.reason);
  const thread = pickThread(plan.connKey);
  const id = nextId++;
  return new Promise<DirectOutcome>((resolve, reject) => {
    const onAbort = () => thread.worker.postMessage({ op: 'abort', id });
    signal.addEventListener('abort', onAbort, { once: true });
    thread.running.set(id, {
      onBytes: options.onBytes,
      resolve: (r) => {
        signal.removeEventListener('abort', onAbort);
        if (r.kind === 'complete' || r.kind === 'fallback' || r.kind === 'partial') counts[r.kind]++;
        if (r.kind === 'complete') thread.warm.add(plan.connKey);
        if (r.kind === 'complete') return resolve({ kind: 'complete', bytes: r.bytes!, digest: r.digest! });
        if (r.kind === 'fallback') return resolve({ kind: 'fallback', reason: r.reason ?? 'refused', ...(r.status ? { status: r.status } : {}), ...(r.location ? { location: r.location } : {}), ...(r.retryAfter ? { retryAfter: r.retryAfter } : {}), ...(r.code ? { code: r.code } : {}) });
        if (r.kind === 'partial') return resolve({ kind: 'partial', bytes: r.bytes ?? 0, reason: r.reason ?? 'cut', ...(r.code ? { code: r.code } : {}) });
        if (r.kind === 'aborted') return reject(signal.reason ?? new Error('aborted'));
        reject(Object.assign(new Error(r.message ?? 'download thread failed'), { code: r.code, bytes: r.bytes ?? 0 }));
      },
    });
    thread.worker.ref();
    thread.worker.postMessage({ op: 'get', id, plan, fd, algorithm: options.algorithm, offset: options.offset, size: options.size });
  });
}

/** Closes the threads' idle connections (a client that closes its transport closes these too). */
export function closeIdleDirectConnections(): void {
  for (const t of threads) if (!t.dead) t.worker.postMessage({ op: 'close' });
}
