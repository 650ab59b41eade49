/**
 * Hashing and writing a download on worker threads. A pull's main thread reads the sockets and parses
 * HTTP; hashing every byte there too (sha256, ~2 GB/s) and submitting every write kept it the
 * bottleneck of a 1 GiB pull on two cores while the second core idled. Here the main thread only
 * copies network chunks into a shared buffer and posts its length; a worker hashes those bytes and
 * appends them to the download's file. The buffer is shared memory (no copy between threads), and
 * is not touched again by the main thread until the worker has answered.
 *
 * One job is one download: all its steps go to the same worker, in order, so its bytes are hashed
 * and appended in the order they arrived. The worker is a plain CommonJS string (`eval: true`)
 * using only Node built-ins, like export/copy-workers.ts. Threads start on first use and are unref'd
 * while idle, so they never keep a process alive.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const jobs = new Map();
const stages = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'open') {
      const hash = createHash(m.algorithm);
      // A resumed download: the bytes already in the file are hashed first.
      if (m.prefix > 0) {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (let pos = 0; pos < m.prefix; ) {
          const n = fs.readSync(m.fd, buf, 0, Math.min(buf.length, m.prefix - pos), pos);
          if (n === 0) throw new Error('the partial download shrank while being read');
          hash.update(buf.subarray(0, n));
          pos += n;
        }
      }
      jobs.set(m.job, { fd: m.fd, hash, algorithm: m.algorithm });
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'write') {
      const job = jobs.get(m.job);
      // A stage buffer is sent once, then named by its id.
      if (m.buffer) stages.set(m.stage, Buffer.from(m.buffer));
      const view = stages.get(m.stage).subarray(0, m.length);
      job.hash.update(view);
      // The file is open for appending: each write lands at its end.
      for (let off = 0; off < m.length; ) off += fs.writeSync(job.fd, view, off, m.length - off, null);
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'digest') {
      const job = jobs.get(m.job);
      jobs.delete(m.job);
      parentPort.postMessage({ seq: m.seq, digest: job.algorithm + ':' + job.hash.digest('hex') });
    } else if (m.op === 'forget') {
      stages.delete(m.stage);
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'drop') {
      jobs.delete(m.job);
      parentPort.postMessage({ seq: m.seq });
    }
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: { code: err.code, message: err.message } });
  }
});
`;

/** Both cores of a small machine; the main thread mostly waits on sockets. */
const THREADS = 2;

interface Reply {
  seq: number;
  digest?: string;
  error?: { code?: string; message: string };
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (err: Error) => void;
}

class HashWriteThread {
  readonly worker: Worker;
  jobs = 0;
  private readonly pending = new Map<number, Pending>();
  private seq = 1;
  dead: Error | null = null;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.seq);
      if (!p) return;
      this.pending.delete(r.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (r.error) p.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
      else p.resolve(r);
    });
    const fail = (err: Error) => {
      this.dead ??= err;
      const i = threads.indexOf(this);
      if (i >= 0) threads.splice(i, 1);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`hash-and-write thread exited (${code})`)));
  }

  /** Stage buffers this thread has been sent, by id. */
  readonly known = new Set<number>();

  call(message: Record<string, unknown>): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const seq = this.seq++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.ref();
      message.seq = seq;
      this.worker.postMessage(message);
    });
  }
}

const threads: HashWriteThread[] = [];
let nextJob = 1;
let nextStage = 1;
const stageIds = new WeakMap<SharedArrayBuffer, number>();

function pickThread(): HashWriteThread {
  if (threads.length < THREADS) {
    const t = new HashWriteThread();
    threads.push(t);
    return t;
  }
  return threads.reduce((a, b) => (b.jobs < a.jobs ? b : a));
}

/** Tells the threads a stage buffer will not be written from again, so they let go of it. */
export function forgetStage(buffer: SharedArrayBuffer): void {
  const stage = stageIds.get(buffer);
  if (stage === undefined) return;
  stageIds.delete(buffer);
  for (const t of threads) {
    if (t.known.delete(stage)) void t.call({ op: 'forget', stage }).catch(() => undefined);
  }
}

/** One download's hashing and appending, on one worker thread. */
export interface HashWriteJob {
  /** Hashes `buffer[0, length)` and appends it to the file; the buffer must not change until this settles. */
  write(buffer: SharedArrayBuffer, length: number): Promise<void>;
  /** The digest of every byte (the prefix and all writes); ends the job. */
  digest(): Promise<string>;
  /** Ends the job without a digest (after a failure or a cancel). Idempotent, never rejects. */
  drop(): Promise<void>;
}

/**
 * Starts a job appending to `fd` (open for appending, kept open by the caller until the job has
 * ended), whose first `prefix` bytes are already in the file and are hashed first.
 */
export async function startHashWrite(fd: number, algorithm: string, prefix: number): Promise<HashWriteJob> {
  const thread = pickThread();
  const job = nextJob++;
  thread.jobs++;
  let ended = false;
  const end = () => {
    if (!ended) {
      ended = true;
      thread.jobs--;
    }
  };
  try {
    await thread.call({ op: 'open', job, fd, algorithm, prefix });
  } catch (err) {
    end();
    throw err;
  }
  return {
    async write(buffer, length) {
      let stage = stageIds.get(buffer);
      if (stage === undefined) {
        stage = nextStage++;
        stageIds.set(buffer, stage);
      }
      const first = !thread.known.has(stage);
      if (first) thread.known.add(stage);
      await thread.call(first ? { op: 'write', job, stage, length, buffer } : { op: 'write', job, stage, length });
    },
    async digest() {
      try {
        return (await thread.call({ op: 'digest', job })).digest!;
      } finally {
        end();
      }
    },
    async drop() {
      if (ended) return;
      end();
      await thread.call({ op: 'drop', job }).catch(() => undefined);
    },
  };
}
