/**
 * The blob cache's bookkeeping: when each blob was last used, which blobs are in use (pins), and LRU
 * eviction down to a size cap.
 *
 * Last use is a small record per blob under `.cachescope/uses/`, never the blob's atime (often
 * disabled: noatime, relatime) nor its mtime (an export may hard-link a cached blob into a layout, and
 * the two names share one inode and one set of times).
 *
 * A pin is a lease (leases.ts) on the cache root naming one digest: it holds a pid, so the pin of a
 * process that died expires by itself. Pins are written under the cache-wide lock, and eviction reads
 * them under the same lock before it deletes anything, so a blob pinned before an eviction starts is
 * never deleted by it, and a pin taken after an eviction sees that eviction's result.
 */
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { fsyncDir, makeDirs, writeFileAtomic } from './atomic-file';
import { INGEST_DIR, META_DIR } from './content-store';
import { acquireLock, withLock } from './file-lock';
import { acquireLease, readLiveLeases } from './leases';
import type { Lease } from './leases';

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

/** Runs `fn` under the cache-wide lock (pins and eviction). */
export async function withCacheLock<T>(root: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  await makeDirs(join(root, META_DIR));
  return withLock(cacheLockPath(root), fn, { signal, timeoutMs: CACHE_LOCK_TIMEOUT_MS });
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
  ready: Promise<Lease>;
}

/** Pins of this process by cache root and digest: one lease per pinned digest, however many users hold it. */
const pins = new Map<string, PinEntry>();

/** Marks `digest` in use until the pin is released (or this process dies), and records the use. */
export async function pinBlob(root: string, digest: string, now: number, signal?: AbortSignal): Promise<BlobPin> {
  parseDigest(digest);
  signal?.throwIfAborted();
  const key = `${root}\0${digest}`;
  let entry = pins.get(key);
  if (entry) {
    entry.count++;
  } else {
    const ready = withCacheLock(
      root,
      async () => {
        const lease = await acquireLease(root, { purpose: `blob cache: ${digest} in use` });
        try {
          await lease.add([digest]);
        } catch (err) {
          await lease.release().catch(() => undefined);
          throw err;
        }
        return lease;
      },
      // No caller's signal: other callers may share this pin; the lock is only held for moments.
    );
    entry = { count: 1, ready };
    pins.set(key, entry);
  }
  const mine = entry;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    mine.count--;
    if (mine.count > 0) return;
    if (pins.get(key) === mine) pins.delete(key);
    const lease = await mine.ready.catch(() => null);
    await lease?.release();
  };
  try {
    await mine.ready;
    await recordUse(root, digest, now);
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  return { digest, release };
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
