/**
 * The per-user blob cache: where registry blobs land when an export, a verify or the content view
 * needs them, so each is downloaded once per machine, not once per use.
 *
 * It is an OCI-like content store (content-store.ts) under the platform's cache folder
 * (blob-cache-dir.ts): `blobs/<alg>/<hex>` holds only complete, verified, fsynced blobs; a download
 * grows `ingest/<alg>-<hex>.partial` and is renamed into blobs/ after its size and digest are proved.
 *
 *  - One download per blob: callers in one process share a flight (each gets the progress); other
 *    processes are kept out by an exclusive per-digest lock file (`ingest/<alg>-<hex>.lock`, with the
 *    holder's pid: a dead holder's lock is taken over) and wait until the blob is committed.
 *  - Resume: a partial file outlives a killed or cancelled download. The next download hashes the
 *    prefix it holds and asks the fetcher for the rest (`fetch(offset, …)`). Bytes that do not hash to
 *    the digest are dropped and the download starts over from 0 once; a second mismatch is an error.
 *  - Cancel: a caller's AbortSignal only takes that caller away; the download stops when the last
 *    caller is gone, and its partial file stays for the next time.
 *  - Size cap: after a commit that leaves the cache over its cap, least recently used blobs that no
 *    live process has pinned are evicted (blob-cache-eviction.ts); the blob just fetched never is.
 *    Partial downloads nobody resumed for a week go at the same time. Whether a commit left the
 *    cache over its cap is judged from a tally this process keeps (a listing, plus what it committed
 *    since), not by listing the cache after every blob: the listing is redone, with an eviction
 *    pass, at least every minute, so other processes' downloads are counted too.
 *  - Durability: a blob's bytes are fsynced before its rename into blobs/, so blobs/ never holds a
 *    partial file; the rename itself is not fsynced. A rename lost in a power cut leaves the
 *    complete partial file, which the next get hashes and commits again; a layout that hard-linked
 *    the blob made its own link durable (the exporter fsyncs its blobs/ before index.json).
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { makeDirs } from './atomic-file';
import { defaultBlobCacheDir } from './blob-cache-dir';
import { evictLru, listCachedBlobs, pinBlob, pinBlobs } from './blob-cache-eviction';
import type { BlobPin, EvictionResult } from './blob-cache-eviction';
import { INGEST_DIR, openContentStore } from './content-store';
import type { ContentStore } from './content-store';
import { acquireLock } from './file-lock';
import type { HeldLock } from './file-lock';
import { endAndWait } from './end-writable';
import { forgetStage, startHashWrite } from './hash-write-threads';
import type { HashWriteJob } from './hash-write-threads';
import { fsyncOffPool } from './sync-threads';

export type { BlobPin, EvictionResult } from './blob-cache-eviction';
export { defaultBlobCacheDir } from './blob-cache-dir';

/** 10 GiB: room for a few large caches, small next to a disk. */
export const DEFAULT_BLOB_CACHE_MAX_BYTES = 10 * 1024 ** 3;

/**
 * The prefix a download resumes after: `hash` has hashed exactly the first `offset` bytes (a copy:
 * the fetcher may feed it, e.g. to a verifying registry stream; the cache keeps its own). The same
 * shape as the registry client's `BlobResume`, so it can be passed straight on.
 */
export interface BlobFetchResume {
  offset: number;
  hash: Hash;
}

/**
 * Writes the blob's bytes from `offset` to its end into `sink`, e.g. by streaming a
 * `Range: bytes=offset-` response into it. It may end `sink` or leave that to the cache; it resolves
 * once every byte is written and rejects on failure. It must stop when `signal` aborts. The cache
 * verifies size and digest itself, whatever the fetcher checks.
 */
export type BlobFetch = ((offset: number, sink: Writable, signal: AbortSignal, resume: BlobFetchResume) => Promise<void>) & {
  /** A faster way tried first, when the fetcher has one (a registry GET on a download thread). */
  direct?: DirectBlobFetch;
};

/**
 * Appends the blob's bytes from `offset` to the file open as `fd` (for appending) and hashes all of
 * it, the file's first `offset` bytes included, by itself (registry/direct-download.ts).
 * `complete`: the file reached the blob's size and `digest` is its hash. `fallback` (nothing
 * written) and `partial` (some written, kept): the cache carries on with the stream fetcher from
 * whatever the file then holds. Null: no direct way for this blob. Rejects on abort and on file errors.
 */
export type DirectBlobFetch = (
  offset: number,
  fd: number,
  signal: AbortSignal,
  onBytes: (written: number) => void,
) => Promise<{ kind: 'complete'; digest: string } | { kind: 'fallback' | 'partial' } | null>;

/**
 * What a caller sees of one blob. Per-layer states map as: `cached` → cached; `waiting`,
 * `verifying`, `downloading` → downloading; `done` → done.
 *  - `cached`: already in the cache, nothing fetched;
 *  - `waiting`: another process is downloading it (bytes: what it has so far);
 *  - `verifying`: hashing a partial download before resuming it (bytes: the resume offset);
 *  - `downloading`: bytes arriving (bytes: the blob's bytes on disk so far, resumed prefix included);
 *  - `done`: verified and committed.
 */
export type BlobCacheState = 'cached' | 'waiting' | 'verifying' | 'downloading' | 'done';

export interface BlobCacheProgress {
  digest: string;
  state: BlobCacheState;
  bytes: number;
  total: number;
}

export interface BlobGetOptions {
  /** Takes only this caller away; the shared download goes on while another caller waits for it. */
  signal?: AbortSignal;
  onProgress?: (progress: BlobCacheProgress) => void;
}

export interface CachedBlob {
  digest: string;
  size: number;
  /** The verified blob: read it, or hard-link it elsewhere (never write to it). */
  path: string;
  /** `cached`: it was already here; `downloaded`: fetched now, by this process or by another one we waited for. */
  outcome: 'cached' | 'downloaded';
  /** Where this process's download resumed a partial file, or null. */
  resumedFrom: number | null;
  /**
   * The blob is pinned (safe from eviction, by any process) until this is called: call it once the
   * blob has been read, linked or copied. A process that dies releases its pins.
   */
  release(): Promise<void>;
}

export interface BlobCacheOptions {
  /** Default: defaultBlobCacheDir() (the platform cache folder, or `CACHESCOPE_CACHE_DIR`). */
  root?: string;
  /** Evict down to this after a commit. Default DEFAULT_BLOB_CACHE_MAX_BYTES. */
  maxBytes?: number;
  /** The clock that orders last uses (tests pass a counter, so LRU order never depends on timing). */
  now?: () => number;
  /** Told when an eviction after a commit fails; the download itself still succeeded. */
  onEvictionError?: (err: unknown) => void;
  /** Eviction also removes partial downloads not resumed for this long. Default a week. */
  partialMaxAgeMs?: number;
}

export interface BlobCache {
  readonly root: string;
  readonly maxBytes: number;
  /** The committed blob's path, downloading it first when needed (see the module comment). */
  get(digest: string, size: number, fetch: BlobFetch, options?: BlobGetOptions): Promise<CachedBlob>;
  /** True when the blob is committed here (no pin: it may be evicted right after). */
  has(digest: string): Promise<boolean>;
  /** Where blob `digest` is or would be. */
  blobPath(digest: string): string;
  /** Pins a committed blob (or one about to be) against eviction, and records a use. */
  pin(digest: string, signal?: AbortSignal): Promise<BlobPin>;
  /**
   * Pins all of `digests` in one write, before a batch of gets (a pull): the gets' own pins then
   * cost no file write each. Records no use (the gets do). Release it once the gets are released.
   */
  hold(digests: Iterable<string>): Promise<{ release(): Promise<void> }>;
  /** A read stream of a committed blob; pin it first if eviction may run meanwhile. */
  readStream(digest: string, options?: { signal?: AbortSignal; verify?: boolean }): Promise<Readable>;
  /** Bytes and count of committed blobs. */
  usage(): Promise<{ bytes: number; blobs: number }>;
  /** Evicts down to `maxBytes` (default: the cache's cap) now. */
  evict(options?: { maxBytes?: number; signal?: AbortSignal }): Promise<EvictionResult>;
}

interface FlightResult {
  outcome: 'cached' | 'downloaded';
  resumedFrom: number | null;
}

/** What one download pass left in the partial file. */
interface PassResult {
  /** Where it resumed (0: from the start). */
  offset: number;
  /** null: the file is the blob; else why it is not. */
  wrong: { code: 'digest-mismatch' | 'size-mismatch'; why: string; actual: string | null } | null;
}

interface Waiter {
  onProgress?: (progress: BlobCacheProgress) => void;
}

/** One download of one blob in this process, shared by every caller that needs it meanwhile. */
class Flight {
  readonly controller = new AbortController();
  readonly waiters = new Set<Waiter>();
  last: BlobCacheProgress | null = null;
  settled = false;
  promise!: Promise<FlightResult>;

  emit(progress: BlobCacheProgress): void {
    this.last = progress;
    for (const w of this.waiters) safeProgress(w, progress);
  }
}

function safeProgress(w: Waiter, progress: BlobCacheProgress): void {
  try {
    w.onProgress?.(progress);
  } catch {
    // A listener's bug must not break a download other callers share.
  }
}

/** Flights by cache root and digest, across cache instances of this process. */
const flights = new Map<string, Flight>();

/** Bytes committed in each cache root as this process last counted them, and when it listed them. */
const tallies = new Map<string, { bytes: number; listedAt: number }>();
/** How old a tally may get before the next commit lists the cache again (and runs an eviction pass). */
const TALLY_MAX_AGE_MS = 60_000;

const READ_CHUNK = 256 << 10;
/** Between looks at another process's download: its lock, its partial file, its commit. */
const WAIT_POLL_MS = 100;
const WAIT_POLL_MAX_MS = 500;

function checkRequest(digest: string, size: number): void {
  const problem = digestProblem(digest);
  if (problem) throw new CacheError('invalid-digest', `blob cache: digest: ${problem}`, { field: 'digest' });
  if (!Number.isSafeInteger(size) || size < 0) throw new CacheError('bad-request', `blob cache: size of ${digest}: expected an integer >= 0, got ${String(size)}`, { field: 'size', digest });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new CacheError('cancelled', 'cancelled');
}

/** Opens (creating nothing yet) the blob cache at `options.root` or the platform default. */
export async function openBlobCache(options: BlobCacheOptions = {}): Promise<BlobCache> {
  const root = options.root ?? defaultBlobCacheDir();
  const maxBytes = options.maxBytes ?? DEFAULT_BLOB_CACHE_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new CacheError('bad-request', `blob cache: maxBytes: expected an integer >= 0, got ${String(maxBytes)}`, { field: 'maxBytes' });
  return new LocalBlobCache(root, maxBytes, await openContentStore(root), options.now ?? Date.now, options.onEvictionError, options.partialMaxAgeMs);
}

class LocalBlobCache implements BlobCache {
  constructor(
    readonly root: string,
    readonly maxBytes: number,
    private readonly store: ContentStore,
    private readonly now: () => number,
    private readonly onEvictionError?: (err: unknown) => void,
    private readonly partialMaxAgeMs?: number,
  ) {}

  blobPath(digest: string): string {
    return this.store.blobPath(digest);
  }

  has(digest: string): Promise<boolean> {
    return this.store.has(digest);
  }

  readStream(digest: string, options: { signal?: AbortSignal; verify?: boolean } = {}): Promise<Readable> {
    return this.store.readStream(digest, options);
  }

  pin(digest: string, signal?: AbortSignal): Promise<BlobPin> {
    checkRequest(digest, 0);
    return pinBlob(this.root, digest, this.now(), signal);
  }

  hold(digests: Iterable<string>): Promise<{ release(): Promise<void> }> {
    const list = [...digests];
    for (const d of list) checkRequest(d, 0);
    return pinBlobs(this.root, list, this.now());
  }

  async usage(): Promise<{ bytes: number; blobs: number }> {
    const blobs = await listCachedBlobs(this.root, false);
    return { bytes: blobs.reduce((n, b) => n + b.size, 0), blobs: blobs.length };
  }

  evict(options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<EvictionResult> {
    return evictLru(this.root, { maxBytes: options.maxBytes ?? this.maxBytes, signal: options.signal, partialMaxAgeMs: this.partialMaxAgeMs });
  }

  async get(digest: string, size: number, fetch: BlobFetch, options: BlobGetOptions = {}): Promise<CachedBlob> {
    checkRequest(digest, size);
    const { signal } = options;
    signal?.throwIfAborted();
    // Pinned before we look: an eviction either ran before (and we download) or will see the pin.
    const pin = await pinBlob(this.root, digest, this.now(), signal);
    try {
      const present = await this.store.info(digest);
      let result: FlightResult;
      if (present) {
        result = { outcome: 'cached', resumedFrom: null };
        safeProgress(options, { digest, state: 'cached', bytes: present.size, total: size });
      } else {
        result = await this.join(digest, size, fetch, options);
      }
      const info = await this.store.info(digest);
      if (!info) throw new CacheError('missing-blob', `blob cache: ${digest} vanished from ${this.blobPath(digest)} while pinned (was the folder cleared by hand?)`, { digest, file: this.blobPath(digest) });
      if (info.size !== size) {
        throw new CacheError('size-mismatch', `blob cache: ${digest} is ${info.size} bytes, but the descriptor says ${size}`, { digest, expected: size, actual: info.size });
      }
      return { digest, size, path: this.blobPath(digest), outcome: result.outcome, resumedFrom: result.resumedFrom, release: pin.release };
    } catch (err) {
      await pin.release().catch(() => undefined);
      throw err;
    }
  }

  /** Waits for this process's download of `digest`, starting it when none runs. */
  private join(digest: string, size: number, fetch: BlobFetch, options: BlobGetOptions): Promise<FlightResult> {
    const key = `${this.root}\0${digest}`;
    let flight = flights.get(key);
    if (!flight) {
      const f = new Flight();
      f.promise = this.download(digest, size, fetch, f).finally(() => {
        f.settled = true;
        if (flights.get(key) === f) flights.delete(key);
      });
      // Nobody may be left to hear the outcome (every caller aborted): that is not an unhandled rejection.
      f.promise.catch(() => undefined);
      flights.set(key, f);
      flight = f;
    }
    const shared = flight;
    const { signal } = options;
    const waiter: Waiter = { onProgress: options.onProgress };
    return new Promise<FlightResult>((resolve, reject) => {
      const leave = () => {
        signal?.removeEventListener('abort', onAbort);
        shared.waiters.delete(waiter);
      };
      const onAbort = () => {
        leave();
        // The last caller gone: stop the download (the partial file stays) and let a new caller start afresh.
        if (shared.waiters.size === 0 && !shared.settled) {
          if (flights.get(key) === shared) flights.delete(key);
          shared.controller.abort(abortReason(signal!));
        }
        reject(abortReason(signal!));
      };
      shared.waiters.add(waiter);
      if (shared.last) safeProgress(waiter, shared.last);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      shared.promise.then(
        (r) => {
          leave();
          resolve(r);
        },
        (err: unknown) => {
          leave();
          reject(err);
        },
      );
    });
  }

  private ingestPaths(digest: string): { lock: string; partial: string } {
    const { algorithm, hex } = parseDigest(digest);
    const dir = join(this.root, INGEST_DIR);
    return { lock: join(dir, `${algorithm}-${hex}.lock`), partial: join(dir, `${algorithm}-${hex}.partial`) };
  }

  /** Takes the blob's ingest lock, or finds the blob committed while waiting for another process's download. */
  private async lockOrCommitted(digest: string, size: number, flight: Flight): Promise<HeldLock | null> {
    const { signal } = flight.controller;
    const paths = this.ingestPaths(digest);
    await makeDirs(join(this.root, INGEST_DIR));
    let pause = WAIT_POLL_MS;
    for (;;) {
      signal.throwIfAborted();
      if (await this.store.has(digest)) return null;
      try {
        // timeoutMs 0: one try, taking over a lock whose holder is dead; the waiting is ours, below.
        const lock = await acquireLock(paths.lock, { signal, timeoutMs: 0 });
        return lock;
      } catch (err) {
        if (!(err instanceof CacheError) || err.code !== 'locked') throw err;
      }
      const have = await stat(paths.partial).then((s) => s.size, () => 0);
      flight.emit({ digest, state: 'waiting', bytes: Math.min(have, size), total: size });
      await sleep(pause, undefined, { signal });
      pause = Math.min(pause * 2, WAIT_POLL_MAX_MS);
    }
  }

  private async download(digest: string, size: number, fetch: BlobFetch, flight: Flight): Promise<FlightResult> {
    const { signal } = flight.controller;
    const lock = await this.lockOrCommitted(digest, size, flight);
    if (lock === null) {
      flight.emit({ digest, state: 'done', bytes: size, total: size });
      return { outcome: 'downloaded', resumedFrom: null };
    }
    let resumedFrom: number | null = null;
    try {
      // Committed by another process between our last look and our lock.
      if (await this.store.has(digest)) {
        flight.emit({ digest, state: 'done', bytes: size, total: size });
        return { outcome: 'downloaded', resumedFrom: null };
      }
      const { partial } = this.ingestPaths(digest);
      for (let attempt = 1; ; attempt++) {
        const pass = await this.fetchInto(partial, digest, size, fetch, flight);
        if (attempt === 1 && pass.offset > 0) resumedFrom = pass.offset;
        if (pass.wrong === null) break;
        // Wrong bytes (in the old partial or in this download): nothing of them can be trusted.
        await unlink(partial).catch(() => undefined);
        if (attempt === 2) {
          throw new CacheError(pass.wrong.code, `blob ${digest}: ${pass.wrong.why} (discarded; a fresh download from the start did not match either)`, {
            digest,
            expected: digest,
            ...(pass.wrong.actual ? { actual: pass.wrong.actual } : {}),
            expectedSize: size,
          });
        }
      }
      signal.throwIfAborted();
      if (lock.lost) throw new CacheError('locked', `blob cache: another process took over the download of ${digest} (this one was judged stale)`, { digest, file: lock.path });
      await this.commit(partial, digest);
      flight.emit({ digest, state: 'done', bytes: size, total: size });
    } finally {
      await lock.release();
    }
    await this.evictAfterCommit(digest, size);
    return { outcome: 'downloaded', resumedFrom };
  }

  /**
   * One pass: hash the partial file's prefix, fetch the rest into it. Resolves with whether the file
   * now holds the blob (`wrong: null`) or bytes that are not it; rejects (keeping the file, for a
   * resume) when the fetch fails otherwise or is cancelled.
   */
  private async fetchInto(partial: string, digest: string, size: number, fetch: BlobFetch, flight: Flight): Promise<PassResult> {
    const { signal } = flight.controller;
    const { algorithm } = parseDigest(digest);
    const fh = await open(partial, 'a+', 0o644);
    try {
      let offset = (await fh.stat()).size;
      if (offset > size) {
        // Longer than the blob: not a prefix of it.
        await fh.truncate(0);
        offset = 0;
      }
      const startedAt = offset;
      if (fetch.direct && offset < size) {
        const direct = await this.directPass(partial, digest, size, fetch.direct, flight, fh, offset);
        if (direct) return direct;
        // Fallen back (or cut): the stream fetcher carries on from what the file holds now.
        offset = (await fh.stat()).size;
      }
      const hash = createHash(algorithm);
      if (offset > 0) {
        flight.emit({ digest, state: 'verifying', bytes: offset, total: size });
        await hashPrefix(fh, offset, hash, signal);
      }
      // A worker thread hashes the file's bytes (the prefix again, then every write): the digest that decides.
      const job = await startHashWrite(fh.fd, algorithm, offset).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        throw new CacheError('io', `cannot read ${partial}: ${code ?? (err as Error).message}`, { file: partial, ...(code ? { errno: code } : {}) });
      });
      try {
        return { ...(await this.fetchPass(partial, digest, size, fetch, flight, { offset, hash, job, fd: fh.fd })), offset: startedAt };
      } finally {
        // The descriptor is closed below only once the worker is done with it.
        await job.drop();
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * fetchInto's first try when the fetcher has a direct way: a download thread hashes the prefix,
   * downloads the rest into the file and hashes it. Resolves with the pass when the file reached the
   * blob's size (right or wrong bytes), or null to carry on with the stream fetcher.
   */
  private async directPass(partial: string, digest: string, size: number, direct: DirectBlobFetch, flight: Flight, fh: FileHandle, offset: number): Promise<PassResult | null> {
    const { signal } = flight.controller;
    flight.emit({ digest, state: 'downloading', bytes: offset, total: size });
    let outcome: Awaited<ReturnType<DirectBlobFetch>>;
    try {
      outcome = await direct(offset, fh.fd, signal, (written) => flight.emit({ digest, state: 'downloading', bytes: offset + written, total: size }));
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      // The fetcher's own refusal (a token refused while planning the GET) is the user's answer, not a file error.
      if (err instanceof CacheError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new CacheError('io', `cannot write ${partial}: ${code ?? (err as Error).message}`, { file: partial, ...(code ? { errno: code } : {}) });
    }
    if (outcome?.kind !== 'complete') return null;
    if (outcome.digest !== digest) return { offset, wrong: { code: 'digest-mismatch', why: `downloaded ${size} bytes hash to ${outcome.digest}, expected ${digest}`, actual: outcome.digest } };
    await fsyncPartial(fh.fd, partial);
    return { offset, wrong: null };
  }

  /** The rest of fetchInto, once the partial file is open and its prefix hashed. */
  private async fetchPass(
    partial: string,
    digest: string,
    size: number,
    fetch: BlobFetch,
    flight: Flight,
    at: { offset: number; hash: Hash; job: HashWriteJob; fd: number },
  ): Promise<PassResult> {
    const { signal } = flight.controller;
    const { offset, hash, job } = at;
    flight.emit({ digest, state: 'downloading', bytes: offset, total: size });
    const sink = new PartialSink(job, offset, size, signal, (bytes) => flight.emit({ digest, state: 'downloading', bytes, total: size }));
    let fetchError: unknown = null;
    if (offset < size) {
      try {
        await fetch(offset, sink, signal, { offset, hash: hash.copy() });
        await sink.finish();
      } catch (err) {
        fetchError = err;
      }
    } else {
      await sink.finish();
    }
    await sink.settled();
    if (sink.overflow) return { offset, wrong: { code: 'size-mismatch', why: `the download delivered more than the ${size} bytes its descriptor says`, actual: null } };
    if (signal.aborted) throw abortReason(signal);
    if (fetchError !== null && sink.total < size) {
      // The fetcher's own check found the bytes wrong (the registry client's verifying stream does
      // this at the end): discard them and fetch again rather than keep them for a resume.
      if (fetchError instanceof CacheError && fetchError.code === 'digest-mismatch') return { offset, wrong: { code: 'digest-mismatch', why: `the fetcher found the bytes wrong: ${fetchError.message}`, actual: null } };
      throw fetchError;
    }
    // All bytes are here (even if the fetcher failed after the last one): they are judged by their hash.
    if (sink.total < size) {
      throw new CacheError('size-mismatch', `blob ${digest}: the download ended after ${sink.total} of ${size} bytes (kept for resume)`, { digest, expected: size, actual: sink.total });
    }
    const actual = await job.digest();
    if (actual !== digest) return { offset, wrong: { code: 'digest-mismatch', why: `downloaded ${size} bytes hash to ${actual}, expected ${digest}`, actual } };
    await fsyncPartial(at.fd, partial);
    return { offset, wrong: null };
  }


  /**
   * Publishes the verified, fsynced partial file as the blob by one rename, not fsynced (see
   * Durability in the module comment). We hold the digest's ingest lock, so no other process
   * commits it meanwhile; a blob already there is kept and the partial dropped.
   */
  private async commit(partial: string, digest: string): Promise<void> {
    const target = this.blobPath(digest);
    if (await this.store.has(digest)) {
      await unlink(partial).catch(() => undefined);
      return;
    }
    try {
      await makeDirs(dirname(target));
      await rename(partial, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CacheError('io', `cannot publish ${partial} as ${target}: ${code ?? (err as Error).message}`, { file: target, ...(code ? { errno: code } : {}) });
    }
  }

  /** Evicts when the tally says the cache is over its cap, or when the tally is too old to trust. */
  private async evictAfterCommit(digest: string, size: number): Promise<void> {
    const tally = tallies.get(this.root);
    const fresh = tally !== undefined && performance.now() - tally.listedAt < TALLY_MAX_AGE_MS;
    if (fresh) {
      tally.bytes += size;
      if (tally.bytes <= this.maxBytes) return;
    }
    const listedAt = performance.now();
    try {
      const result = await evictLru(this.root, { maxBytes: this.maxBytes, keep: [digest], partialMaxAgeMs: this.partialMaxAgeMs });
      tallies.set(this.root, { bytes: result.bytesAfter, listedAt });
    } catch (err) {
      tallies.delete(this.root);
      this.onEvictionError?.(err);
    }
  }
}

/** The bytes reach the disk before the name does (commit): blobs/ never holds a partial file. */
async function fsyncPartial(fd: number, partial: string): Promise<void> {
  try {
    await fsyncOffPool(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('io', `cannot fsync ${partial}: ${code ?? (err as Error).message}`, { file: partial, ...(code ? { errno: code } : {}) });
  }
}

async function hashPrefix(fh: FileHandle, length: number, hash: Hash, signal: AbortSignal): Promise<void> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let pos = 0;
  while (pos < length) {
    signal.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(READ_CHUNK, length - pos), pos);
    if (bytesRead === 0) throw new CacheError('io', `partial download shrank while being read (${pos} of ${length} bytes)`, { expected: length, actual: pos });
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/** The most bytes gathered for one write(2) of the partial file (and one hash update). */
const STAGE_BYTES = 1 << 20;
/**
 * Stage buffers no download uses right now, for the next one: a fresh pair per blob made V8 count
 * 2 MiB more external memory per blob, and run full GCs over it.
 */
const spareStages: Buffer[] = [];
const MAX_SPARE_STAGES = 16;

function takeStage(bytes: number): Buffer {
  if (bytes === STAGE_BYTES) {
    const b = spareStages.pop();
    if (b) return b;
  }
  // Shared memory: the worker that hashes and writes a stage reads it in place.
  return Buffer.from(new SharedArrayBuffer(bytes));
}

function giveStage(buf: Buffer | null): void {
  if (!buf) return;
  if (buf.length === STAGE_BYTES && spareStages.length < MAX_SPARE_STAGES) spareStages.push(buf);
  else forgetStage(buf.buffer as SharedArrayBuffer);
}

/**
 * The writable a fetcher fills: appends to the partial file, hashing, and refuses bytes past the
 * blob's size. Each network chunk (~64 KiB) is copied at once into one of two reused 1 MiB buffers,
 * which a worker thread hashes and appends (hash-write-threads.ts): when no write is under way the
 * filled part goes at once, else the chunks gather until that write ends (write-behind: small
 * writes on a slow link, up to 1 MiB on a fast one; waiting for full buffers measured slower). The
 * chunks themselves die young: when they waited in queues for their write instead, V8 ran a full
 * GC every ~12 MiB (84 of them, 0.56 s, in a 1 GiB pull). Progress counts bytes on disk.
 */
class PartialSink extends Writable {
  /** Bytes of the blob on disk: the resumed prefix plus what this pass wrote. */
  total: number;
  overflow = false;
  private readonly done: Promise<void>;
  private readonly onAbort: () => void;
  /** The write under way: the file handle may only be closed after it. */
  private inflight: Promise<void> = Promise.resolve();
  private writing = false;
  private writeError: Error | null = null;
  /** The buffer being filled, and the one that is free (or being written). */
  private stage: Buffer | null = null;
  private spare: Buffer | null = null;
  private filled = 0;
  /** Bytes accepted (on disk, being written or staged): the size check counts these. */
  private accepted: number;
  /** A small blob needs no 1 MiB buffers. */
  private readonly stageBytes: number;

  constructor(
    private readonly job: HashWriteJob,
    offset: number,
    private readonly size: number,
    private readonly signal: AbortSignal,
    private readonly onBytes: (bytes: number) => void,
  ) {
    super({ highWaterMark: READ_CHUNK });
    this.total = offset;
    this.accepted = offset;
    this.stageBytes = Math.max(1, Math.min(STAGE_BYTES, size - offset));
    this.done = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.onAbort = () => this.destroy(abortReason(signal) as Error);
    // An abort may destroy the sink before the fetcher piped into it: the download learns of the
    // abort from its signal, so that 'error' must not become an uncaught exception.
    this.on('error', () => undefined);
    if (signal.aborted) queueMicrotask(this.onAbort);
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.writeError) return callback(this.writeError);
    if (this.accepted + chunk.length > this.size) {
      this.overflow = true;
      callback(new CacheError('size-mismatch', `blob download: more than the ${this.size} bytes the descriptor says`, { expected: this.size }));
      return;
    }
    this.accepted += chunk.length;
    this.take(chunk, 0, callback);
  }

  /** Copies `chunk` from `from` into the stage, writing when the file is idle; calls back once all is copied. */
  private take(chunk: Buffer, from: number, callback: (error?: Error | null) => void): void {
    let pos = from;
    while (pos < chunk.length) {
      this.stage ??= takeStage(this.stageBytes);
      const n = chunk.copy(this.stage, this.filled, pos);
      this.filled += n;
      pos += n;
      if (this.filled < this.stage.length) continue;
      if (this.writing) {
        // Both buffers busy: wait for the write, then go on with the rest of this chunk.
        const at = pos;
        void this.inflight.then(() => {
          if (this.writeError) callback(this.writeError);
          else if (this.destroyed) callback();
          else this.take(chunk, at, callback);
        });
        return;
      }
      this.flushStage();
    }
    if (!this.writing && this.filled > 0) this.flushStage();
    callback();
  }

  /** Hands the filled part of the stage to the worker (which hashes it, then appends it) and swaps buffers. */
  private flushStage(): void {
    const buf = this.stage!;
    const length = this.filled;
    this.stage = this.spare;
    this.spare = null;
    this.filled = 0;
    this.writing = true;
    this.inflight = this.job.write(buf.buffer as SharedArrayBuffer, length).then(
      () => {
        this.writing = false;
        this.spare = buf;
        this.total += length;
        this.onBytes(this.total);
        // What gathered meanwhile goes down now (write-behind); after a destroy, drain() does it.
        if (this.filled > 0 && !this.destroyed) this.flushStage();
      },
      (err: unknown) => {
        this.writing = false;
        this.writeError = err as Error;
      },
    );
  }

  /** Waits until every accepted byte is on disk (or a write failed). */
  private async drain(): Promise<void> {
    for (;;) {
      await this.inflight;
      if (this.writeError) throw this.writeError;
      if (this.writing) continue;
      if (this.filled === 0) return;
      this.flushStage();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.drain().then(
      () => callback(),
      (err: unknown) => callback(err as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.signal.removeEventListener('abort', this.onAbort);
    // Bytes still staged go to the file too: a resume starts after them (they are hashed like any).
    const end = () => {
      if (!this.writing) {
        giveStage(this.stage);
        giveStage(this.spare);
        this.stage = this.spare = null;
      }
      callback(error);
    };
    this.drain().then(end, end);
  }

  /** Ends the stream if the fetcher did not, and waits until every byte is written. */
  async finish(): Promise<void> {
    if (this.errored) throw this.errored;
    if (this.writableFinished) return;
    await endAndWait(this);
  }

  /** Resolves once no write is in flight any more, so the file handle can be closed. */
  async settled(): Promise<void> {
    if (!this.destroyed) this.destroy();
    await this.done;
  }
}
