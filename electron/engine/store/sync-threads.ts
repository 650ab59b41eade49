/**
 * fsync on threads of its own. Node runs every asynchronous file operation on libuv's pool of four
 * threads; an fsync of a freshly written 16 MiB blob holds one of them for tens of milliseconds, so
 * a pull that flushes several blobs at once left the pool no thread for the writes, stats, renames
 * and lock files of the other downloads, and every lane waited. Here a flush runs on a worker
 * thread instead (a file descriptor is valid in every thread of the process), and the pool stays free.
 *
 * The worker is a plain CommonJS string (`eval: true`) using only Node built-ins, like
 * export/copy-workers.ts, so it runs under tsx, in the esbuild bundle and in Electron's main process.
 * Threads start on first use and are unref'd while idle, so they never keep a process alive.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', (job) => {
  try {
    fs.fsyncSync(job.fd);
    parentPort.postMessage({ id: job.id });
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: { code: err.code, message: err.message } });
  }
});
`;

/** Flushes at once: ext4 commits concurrent fsyncs of different files in one journal transaction. */
const THREADS = 2;

interface Job {
  id: number;
  fd: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  job: Job | null;
}

const threads: Thread[] = [];
const queue: Job[] = [];
let nextId = 1;

function pump(): void {
  while (queue.length > 0) {
    let thread = threads.find((t) => t.job === null);
    if (!thread && threads.length < THREADS) thread = spawn();
    if (!thread) return;
    const job = queue.shift()!;
    thread.job = job;
    thread.worker.ref();
    thread.worker.postMessage({ id: job.id, fd: job.fd });
  }
}

function spawn(): Thread {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const thread: Thread = { worker, job: null };
  worker.on('message', (m: { id: number; error?: { code?: string; message: string } }) => {
    const job = thread.job;
    if (!job || job.id !== m.id) return;
    thread.job = null;
    worker.unref();
    if (m.error) job.reject(Object.assign(new Error(`fsync: ${m.error.code ?? m.error.message}`), { code: m.error.code }));
    else job.resolve();
    pump();
  });
  const drop = (err: Error) => {
    const i = threads.indexOf(thread);
    if (i >= 0) threads.splice(i, 1);
    const job = thread.job;
    thread.job = null;
    job?.reject(err);
    pump();
  };
  worker.on('error', drop);
  worker.on('exit', (code) => drop(new Error(`fsync thread exited (${code})`)));
  threads.push(thread);
  return thread;
}

/**
 * fsync(2) of `fd` on a thread of its own; rejects with the errno as `code`. The caller keeps the
 * descriptor open until this settles.
 */
export function fsyncOffPool(fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    queue.push({ id: nextId++, fd, resolve, reject });
    pump();
  });
}
