/**
 * The blob cache's bookkeeping: when each blob was last used, which blobs are in use (pins), and LRU
 * eviction down to a size cap.
 *
 * Last use is a small record per blob under `.cachescope/uses/`, never the blob's atime (often
 * disabled: noatime, relatime) nor its mtime (an export may hard-link a cached blob into a layout, and
 * the two names share one inode and one set of times).
 *
 * Pins live in one lease file per process and cache root (leases.ts format): it holds a pid, so the
 * pins of a process that died expire by themselves. Pins are written under the cache-wide lock, and
 * eviction reads them under the same lock before it deletes anything, so a blob pinned before an
 * eviction starts is never deleted by it, and a pin taken after an eviction sees that eviction's
 * result. One file per process, rewritten whole, lets a burst of pins (a pull asks for 64 layers at
 * once) share one lock and one write instead of taking the lock once each: measured, per-blob pins
 * and evictions contending for the lock file cost a 1 GiB pull more time than its downloads.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { fsyncDir, makeDirs, writeFileAtomic } from './atomic-file';
import { INGEST_DIR, META_DIR } from './content-store';
import { acquireLock, withLock } from './file-lock';
import { currentProcess, leasesDir, readLiveLeases } from './leases';

/** Eviction lists a folder and deletes a few files; waiting longer than this for it means something is stuck. */
const CACHE_LOCK_TIMEOUT_MS = 120_000;
const ALGORITHMS = ['sha256', 'sha512'] as const;
/** A partial download nobody has resumed for a week was most likely abandoned with its cache. */
export const DEFAULT_PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000;

export interface CachedBlobEntry {
  digest: string;
  size: number;
  /** When the blob was last got or pinned (the cache's clock), or its commit time when no record exists. */
  lastUsed: number;
}

export interface EvictionResult {
  maxBytes: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Evicted blobs, least recently used first. */
  removed: Array<{ digest: string; size: number }>;
  /** Blobs that would have been evicted but are pinned (in use by a live process) or were just fetched. */
  kept: string[];
  /** Abandoned partial downloads removed (file names under ingest/). */
  partialsRemoved: string[];
}

/** Held while a blob is in use; `release()` lets eviction take it again. */
export interface BlobPin {
  readonly digest: string;
  release(): Promise<void>;
}

export function cacheLockPath(root: string): string {
  return join(root, META_DIR, 'cache.lock');
}

function usePath(root: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(root, META_DIR, 'uses', algorithm, `${hex}.json`);
}

/** The tail of this process's queue for each cache root's lock. */
const lockQueues = new Map<string, Promise<void>>();

function abortable(wait: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return wait;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    wait.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/**
 * Runs `fn` under the cache-wide lock (pins and eviction). Callers in this process queue in memory
 * and take the lock file one at a time: the file lock keeps other processes out, but it waits by
 * polling with backoff, and lanes of one pull polling against each other lost seconds.
 */
export async function withCacheLock<T>(root: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const before = lockQueues.get(root) ?? Promise.resolve();
  let done!: () => void;
  const mine = before.then(() => new Promise<void>((resolve) => (done = resolve)));
  lockQueues.set(root, mine);
  try {
    await abortable(before, signal);
    await makeDirs(join(root, META_DIR));
    return await withLock(cacheLockPath(root), fn, { signal, timeoutMs: CACHE_LOCK_TIMEOUT_MS });
  } finally {
    // Our turn ends (or is given up) whichever way; whoever queued behind us goes next.
    void before.then(() => done());
    if (lockQueues.get(root) === mine) void mine.then(() => lockQueues.get(root) === mine && lockQueues.delete(root));
  }
}

/** Records that `digest` was used at `now`; a lost record only makes eviction fall back to the commit time. */
export async function recordUse(root: string, digest: string, now: number): Promise<void> {
  const file = usePath(root, digest);
  await mkdir(join(file, '..'), { recursive: true });
  // Not fsynced: after a power cut a slightly older last use is harmless.
  await writeFileAtomic(file, JSON.stringify({ lastUsed: now }), { durable: false });
}

async function readLastUse(root: string, digest: string, fallback: number): Promise<number> {
  const file = usePath(root, digest);
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as { lastUsed?: unknown };
    if (typeof value.lastUsed === 'number' && Number.isFinite(value.lastUsed)) return value.lastUsed;
  } catch {
    // Missing or torn record: judged by commit time, like a blob never used since.
  }
  return fallback;
}

/**
 * Every committed blob with its size and last use (its commit time without `withLastUse`, which
 * skips reading the records). Names that are not digests are not ours and are ignored.
 */
export async function listCachedBlobs(root: string, withLastUse = true): Promise<CachedBlobEntry[]> {
  const out: CachedBlobEntry[] = [];
  for (const algorithm of ALGORITHMS) {
    const dir = join(root, 'blobs', algorithm);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new CacheError('io', `cannot list ${dir}: ${code ?? (err as Error).message}`, { file: dir, ...(code ? { errno: code } : {}) });
    }
    for (const name of names) {
      const digest = `${algorithm}:${name}`;
      if (digestProblem(digest) !== null) continue;
      const st = await stat(join(dir, name)).catch(() => null);
      if (!st?.isFile()) continue;
      out.push({ digest, size: st.size, lastUsed: withLastUse ? await readLastUse(root, digest, st.mtimeMs) : st.mtimeMs });
    }
  }
  return out;
}

interface PinEntry {
  count: number;
  /** Settles once a write that includes this digest is in the pin file. */
  ready: Promise<void>;
}

/**
 * This process's pins on one cache root: a use count per digest, and the lease file that lists every
 * digest with a count above 0. Each write puts the whole current set; requests that arrive before a
 * write starts ride on it (group commit). Adding a pin writes under the cache lock (eviction must see
 * it before it deletes); dropping one needs no lock (a stale pin only keeps a blob a little longer),
 * but goes through the same queue so writes never overtake each other.
 */
class PinBook {
  readonly entries = new Map<string, PinEntry>();
  private file: string | null = null;
  private chain: Promise<void> = Promise.resolve();
  private next: { promise: Promise<void>; lock: boolean } | null = null;

  constructor(private readonly root: string) {}

  /** A write of the current set, after every write already asked for. */
  sync(lock: boolean): Promise<void> {
    if (this.next) {
      this.next.lock ||= lock;
      return this.next.promise;
    }
    const next = { promise: Promise.resolve(), lock };
    next.promise = this.chain.then(() => {
      // From here on, new requests need a new write: this one's snapshot may be taken before them.
      if (this.next === next) this.next = null;
      return next.lock ? withCacheLock(this.root, () => this.write()) : this.write();
    });
    this.next = next;
    this.chain = next.promise.catch(() => undefined);
    return next.promise;
  }

  private async write(): Promise<void> {
    const digests = [...this.entries.keys()].sort();
    if (digests.length === 0) {
      const file = this.file;
      this.file = null;
      if (file) await unlink(file).catch(() => undefined);
      return;
    }
    const dir = leasesDir(this.root);
    let id: string;
    if (this.file === null) {
      await makeDirs(dir);
      id = `${process.pid}-${randomBytes(6).toString('hex')}`;
      this.file = join(dir, `${id}.json`);
    } else {
      id = this.file.slice(dir.length + 1, -'.json'.length);
    }
    const record = { id, purpose: 'blob cache: blobs in use', process: await currentProcess(), createdAt: new Date().toISOString(), digests };
    // Not fsynced: a pin means nothing after a power cut (its process is gone).
    await writeFileAtomic(this.file, `${JSON.stringify(record, null, 1)}\n`, { durable: false });
  }
}

/** Pin books of this process by cache root. */
const books = new Map<string, PinBook>();

/**
 * Marks `digest` in use until the pin is released (or this process dies), and records the use
 * (unless `record` is false: a hold taken ahead of the gets that will record it).
 */
export async function pinBlob(root: string, digest: string, now: number, signal?: AbortSignal, record = true): Promise<BlobPin> {
  parseDigest(digest);
  signal?.throwIfAborted();
  let book = books.get(root);
  if (!book) {
    book = new PinBook(root);
    books.set(root, book);
  }
  const pinned = book;
  let entry = pinned.entries.get(digest);
  if (entry) {
    entry.count++;
  } else {
    // No caller's signal: other callers may share this pin; the lock is only held for moments.
    entry = { count: 1, ready: pinned.sync(true) };
    pinned.entries.set(digest, entry);
  }
  const mine = entry;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    mine.count--;
    if (mine.count > 0 || pinned.entries.get(digest) !== mine) return;
    pinned.entries.delete(digest);
    await pinned.sync(false);
  };
  try {
    await mine.ready;
    if (record) await recordUse(root, digest, now);
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return { digest, release };
}

/**
 * Pins every digest at once: asked for in one go, they share one lock and one write of the pin file.
 * Meant for a pull that is about to get them all; each get's own pin is then only a count.
 */
export async function pinBlobs(root: string, digests: Iterable<string>, now: number): Promise<{ release(): Promise<void> }> {
  const settled = await Promise.allSettled([...new Set(digests)].map((d) => pinBlob(root, d, now, undefined, false)));
  const pins = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const release = async () => {
    await Promise.all(pins.map((p) => p.release()));
  };
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await release().catch(() => undefined);
    throw failed.reason;
  }
  return { release };
}

export interface EvictOptions {
  maxBytes: number;
  /** Never evicted this time, pinned or not (the blob just fetched). */
  keep?: Iterable<string>;
  signal?: AbortSignal;
  /** Partial downloads not written for this long, whose download is not running, are removed. Default a week. */
  partialMaxAgeMs?: number;
}

/**
 * Removes `ingest/*.partial` files not modified for `maxAgeMs` (wall clock: file times are) whose
 * ingest lock is free or held by a dead process (file-lock's takeover rules). Their bytes could only
 * ever be resumed.
 */
async function sweepPartials(root: string, maxAgeMs: number): Promise<string[]> {
  const dir = join(root, INGEST_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const cutoff = Date.now() - maxAgeMs;
  const removed: string[] = [];
  for (const name of names) {
    if (!name.endsWith('.partial')) continue;
    const file = join(dir, name);
    const st = await stat(file).catch(() => null);
    if (!st || st.mtimeMs >= cutoff) continue;
    // Under the download's own lock, so a download starting right now cannot resume into a deleted file.
    let lock;
    try {
      lock = await acquireLock(join(dir, `${name.slice(0, -'.partial'.length)}.lock`), { timeoutMs: 0 });
    } catch (err) {
      if (err instanceof CacheError && err.code === 'locked') continue;
      throw err;
    }
    try {
      await unlink(file).catch(() => undefined);
    } finally {
      await lock.release();
    }
    removed.push(name);
  }
  return removed;
}

/**
 * Deletes least recently used blobs until the cache fits `maxBytes`, skipping pinned ones and `keep`,
 * and abandoned partial downloads. Runs under the cache-wide lock; pins of dead processes are
 * removed on the way.
 */
export async function evictLru(root: string, options: EvictOptions): Promise<EvictionResult> {
  const keep = new Set(options.keep ?? []);
  return withCacheLock(
    root,
    async () => {
      const partialsRemoved = await sweepPartials(root, options.partialMaxAgeMs ?? DEFAULT_PARTIAL_MAX_AGE_MS);
      const blobs = await listCachedBlobs(root, false);
      const bytesBefore = blobs.reduce((n, b) => n + b.size, 0);
      const result: EvictionResult = { maxBytes: options.maxBytes, bytesBefore, bytesAfter: bytesBefore, removed: [], kept: [], partialsRemoved };
      if (bytesBefore <= options.maxBytes) return result;
      // Read after the listing: any blob listed here and pinned was pinned before this read (pins are taken under this lock).
      const leases = await readLiveLeases(root, { removeExpired: true });
      for (const blob of blobs) blob.lastUsed = await readLastUse(root, blob.digest, blob.lastUsed);
      blobs.sort((a, b) => a.lastUsed - b.lastUsed || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
      const touched = new Set<string>();
      for (const blob of blobs) {
        if (result.bytesAfter <= options.maxBytes) break;
        options.signal?.throwIfAborted();
        if (keep.has(blob.digest) || leases.digests.has(blob.digest)) {
          result.kept.push(blob.digest);
          continue;
        }
        const { algorithm, hex } = parseDigest(blob.digest);
        const file = join(root, 'blobs', algorithm, hex);
        try {
          await unlink(file);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT') throw new CacheError('io', `cannot evict ${file}: ${code ?? (err as Error).message}`, { file, ...(code ? { errno: code } : {}) });
        }
        await unlink(usePath(root, blob.digest)).catch(() => undefined);
        touched.add(join(root, 'blobs', algorithm));
        result.bytesAfter -= blob.size;
        result.removed.push({ digest: blob.digest, size: blob.size });
      }
      for (const dir of touched) await fsyncDir(dir).catch(() => undefined);
      return result;
    },
    options.signal,
  );
}
