/**
 * An inter-process lock built from an exclusively created file (a hard link to a fully written draft,
 * which fails like O_CREAT|O_EXCL when the lock exists), so it works from plain Node without native
 * modules.
 *
 * The lock file holds `{pid, hostname, acquiredAt, token}`. A waiter may take a lock over when its
 * holder is provably gone (same host, `process.kill(pid, 0)` says ESRCH) or when the lock file has
 * not been touched for `staleMs`; a live holder touches it every `staleMs / 3`, so a long gc is not
 * mistaken for a dead one. Takeovers go through a second exclusive file (`<lock>.break`) and re-read
 * the lock under it, so two waiters can never both delete a lock and one of them delete the lock the
 * other has just created.
 *
 * Limitation: BuildKit's own client locks `index.json.lock` with flock(2), which Node cannot take.
 * BuildKit only holds it for the few milliseconds of an index.json update and deletes it afterwards;
 * a leftover empty file from it is treated as stale once it is older than `staleMs`.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, readdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheError } from '../../../shared/contract/errors';

/** Time as the lock sees it; tests pass a fake one so nothing depends on how fast the machine is. */
export interface LockClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` every `ms` (the holder's heartbeat) until the returned function is called. */
  every(ms: number, fn: () => Promise<void>): () => void;
}

export const systemLockClock: LockClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
  every(ms, fn) {
    const timer = setInterval(() => void fn(), ms);
    // A heartbeat must never keep the process alive on its own.
    timer.unref();
    return () => clearInterval(timer);
  },
};

export interface LockOptions {
  signal?: AbortSignal;
  /** Default: the system clock. */
  clock?: LockClock;
  /** How long to wait for a held lock before failing with CacheError('locked'). Default 30 s. */
  timeoutMs?: number;
  /** A lock file not touched for this long is taken over even if its pid looks alive. Default 60 s. */
  staleMs?: number;
}

/** What a lock file says about its holder. */
export interface LockOwner {
  pid: number;
  hostname: string;
  acquiredAt: string;
  token: string;
}

export interface HeldLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** True once another process took the lock over (we were judged stale); the holder should stop writing. */
  readonly lost: boolean;
  release(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 60_000;
/** A takeover is a read, a compare and an unlink; a `.break` file older than this belongs to a crashed breaker. */
const BREAK_STALE_MS = 10_000;
const FIRST_BACKOFF_MS = 5;
const MAX_BACKOFF_MS = 250;

interface LockSnapshot {
  raw: string;
  owner: LockOwner | null;
  mtimeMs: number;
}

function parseOwner(raw: string): LockOwner | null {
  try {
    const v = JSON.parse(raw) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && Number.isSafeInteger(v.pid) && typeof v.hostname === 'string' && typeof v.acquiredAt === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, hostname: v.hostname, acquiredAt: v.acquiredAt, token: v.token };
    }
  } catch {
    // Empty (being written, or BuildKit's flock file) or foreign content: judged by age only.
  }
  return null;
}

async function snapshot(path: string): Promise<LockSnapshot | null> {
  try {
    const [raw, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { raw, owner: parseOwner(raw), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(path, err);
  }
}

/** Reads who holds a lock, or null when it is free or not written by this module. */
export async function readLockOwner(path: string): Promise<LockOwner | null> {
  return (await snapshot(path))?.owner ?? null;
}

/** ESRCH means no such process; EPERM means it exists but belongs to someone else. */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function staleReason(s: LockSnapshot, staleMs: number, clock: LockClock): string | null {
  // A pid only means something on the host that wrote it.
  if (s.owner && s.owner.hostname === hostname() && !pidAlive(s.owner.pid)) return `pid ${s.owner.pid} is not running`;
  const age = clock.now() - s.mtimeMs;
  if (age > staleMs) return `not touched for ${Math.round(age)} ms (stale after ${staleMs} ms)`;
  return null;
}

function ioError(path: string, err: unknown): CacheError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'its directory does not exist' : code === 'EROFS' ? 'the file system is read-only' : code ?? (err as Error).message;
  return new CacheError('io', `cannot use lock file ${path}: ${why}`, { file: path, ...(code ? { errno: code } : {}) });
}

function describeHolder(path: string, s: LockSnapshot | null): string {
  const name = basename(path);
  if (s?.owner) return `${name} is held by pid ${s.owner.pid} since ${s.owner.acquiredAt} (host ${s.owner.hostname})`;
  if (s) return `${name} exists without an owner record (another tool, e.g. BuildKit, may be using it) since ${new Date(s.mtimeMs).toISOString()}`;
  return `${name} is held`;
}

/**
 * Creates the lock whole: the owner record is written to a private file first, then hard-linked to
 * the lock's name. link(2) fails with EEXIST exactly as O_EXCL does, and the lock never exists
 * without its record, so a holder killed at any instant leaves a lock that names a dead pid (taken
 * over at once), never an empty one that waiters could only judge by age. File systems without hard
 * links fall back to O_EXCL then write, where that small window remains.
 */
async function tryCreate(path: string, owner: LockOwner): Promise<boolean> {
  const draft = draftPath(path, owner);
  try {
    await writeFile(draft, JSON.stringify(owner), { flag: 'wx', mode: 0o644 });
  } catch (err) {
    throw ioError(path, err);
  }
  try {
    await link(draft, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK') return createExclusive(path, owner);
    throw ioError(path, err);
  } finally {
    await unlink(draft).catch(() => undefined);
  }
}

/** `.<lock name>.<pid>.<token>.draft`, beside the lock (a hard link cannot cross file systems). */
function draftPath(path: string, owner: LockOwner): string {
  return join(dirname(path), `.${basename(path)}.${owner.pid}.${owner.token}.draft`);
}

async function createExclusive(path: string, owner: LockOwner): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw ioError(path, err);
  }
  try {
    await fh.writeFile(JSON.stringify(owner));
  } catch (err) {
    // An ownerless lock would block everyone until it went stale: take it back.
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw ioError(path, err);
  }
  await fh.close();
  return true;
}

/**
 * Removes drafts left by processes killed between writing one and unlinking it (a few bytes each).
 * Run only after a stale lock was broken, the one time a crash is known to have happened here; a
 * draft lives for microseconds, so one older than BREAK_STALE_MS whose pid is gone is a leftover.
 */
async function sweepDrafts(path: string, clock: LockClock): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.draft')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (pidAlive(pid)) continue;
    const st = await stat(join(dir, name)).catch(() => null);
    if (st && clock.now() - st.mtimeMs > BREAK_STALE_MS) await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** Deletes a stale lock, but only if it is still the same stale lock once we hold the `.break` file. */
async function breakStale(path: string, seen: LockSnapshot, staleMs: number, clock: LockClock): Promise<void> {
  const breakPath = `${path}.break`;
  let fh;
  try {
    fh = await open(breakPath, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(breakPath, err);
    const st = await stat(breakPath).catch(() => null);
    if (st && clock.now() - st.mtimeMs > BREAK_STALE_MS) await unlink(breakPath).catch(() => undefined);
    return;
  }
  try {
    await fh.close();
    const now = await snapshot(path);
    if (now && now.raw === seen.raw && staleReason(now, staleMs, clock) !== null) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breakPath).catch(() => undefined);
  }
}

/** Takes the lock, waiting with backoff; prefer `withLock`, which always releases. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const signal = options.signal;
  const clock = options.clock ?? systemLockClock;
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), acquiredAt: new Date(clock.now()).toISOString(), token: randomBytes(12).toString('hex') };
  const deadline = clock.now() + timeoutMs;
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    signal?.throwIfAborted();
    owner.acquiredAt = new Date(clock.now()).toISOString();
    if (await tryCreate(path, owner)) return hold(path, owner, staleMs, clock);
    const seen = await snapshot(path);
    if (seen === null) continue; // released between our create and our read: try again at once
    if (staleReason(seen, staleMs, clock) !== null) {
      await breakStale(path, seen, staleMs, clock);
      await sweepDrafts(path, clock);
      continue;
    }
    const left = deadline - clock.now();
    if (left <= 0) {
      throw new CacheError('locked', `${describeHolder(path, seen)}; gave up after waiting ${timeoutMs} ms for ${path}`, {
        file: path,
        ...(seen.owner ? { pid: seen.owner.pid, hostname: seen.owner.hostname, since: seen.owner.acquiredAt } : {}),
      });
    }
    // Jitter keeps several waiters from retrying in lockstep.
    await clock.sleep(Math.min(left, backoff + Math.floor(Math.random() * backoff)), signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

function hold(path: string, owner: LockOwner, staleMs: number, clock: LockClock): HeldLock {
  let lost = false;
  let released = false;
  const stillOurs = async (): Promise<boolean> => {
    const s = await snapshot(path).catch(() => null);
    return s?.owner?.token === owner.token;
  };
  // Touching the file proves we are alive to waiters that only see its age (other hosts, reused pids).
  const stopHeartbeat = clock.every(Math.max(10, Math.floor(staleMs / 3)), async () => {
    if (released || lost) return;
    if (!(await stillOurs())) {
      lost = true;
      return;
    }
    const now = new Date(clock.now());
    await utimes(path, now, now).catch(() => undefined);
  });
  return {
    path,
    owner,
    get lost() {
      return lost;
    },
    async release() {
      if (released) return;
      released = true;
      stopHeartbeat();
      // Never delete a lock someone else took over from us.
      if (await stillOurs()) await unlink(path).catch(() => undefined);
      else lost = true;
    },
  };
}

/** Runs `fn` while holding the lock at `path`; the lock is released however `fn` ends. */
export async function withLock<T>(path: string, fn: (lock: HeldLock) => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lock = await acquireLock(path, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
