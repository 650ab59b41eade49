/**
 * What this machine has pushed before: blob digest → the repositories of each registry that hold it,
 * so a later push of the same blob to another repository of that registry can mount it instead of
 * uploading it. One small JSON file in the per-user cache folder (next to `uploads/`), bounded
 * (the newest MAX_BLOBS digests, MAX_REPOS repositories per registry each). Several processes may
 * push at once: every write merges into what is on disk under a short lock and replaces the file by
 * rename, so a reader sees a whole file and a writer never drops another's entries. It is a hint:
 * an unreadable file, a busy lock or a full disk costs a mount, never the push.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeDirs, writeFileAtomic } from '../store/atomic-file';
import { withLock } from '../store/file-lock';
import type { LockOptions } from '../store/file-lock';

export const PUSH_HISTORY_FILE = 'push-history.json';
/** Digests remembered; the oldest go first (a 64-layer cache pushed 60 times still fits). */
export const MAX_BLOBS = 4096;
/** Repositories remembered per blob and registry; the least recently pushed go first. */
export const MAX_REPOS = 8;

/** digest → registry → repositories, most recent last (insertion order is the age order). */
type HistoryData = Record<string, Record<string, string[]>>;

export interface PushHistoryOptions {
  maxBlobs?: number;
  maxRepos?: number;
  /** Lock waits (tests pass a fake clock); the default waits at most 10 s, then skips the write. */
  lock?: LockOptions;
}

export interface PushHistory {
  readonly file: string | null;
  /** Repositories of `registry` known to hold `digest`, most recent first. */
  repositories(registry: string, digest: string): string[];
  /** Notes that `registry/repository` now holds these blobs; resolves once the file has them (or the write was given up). */
  record(registry: string, repository: string, digests: readonly string[]): Promise<void>;
  /** Waits for pending writes. */
  flush(): Promise<void>;
}

/** The history file next to an upload-state folder (`…/cachescope/uploads` → `…/cachescope/push-history.json`). */
export function pushHistoryFileFor(uploadStateDir: string): string {
  return join(dirname(uploadStateDir), PUSH_HISTORY_FILE);
}

function parse(text: string): HistoryData {
  try {
    const v = JSON.parse(text) as { version?: unknown; blobs?: unknown };
    if (v && v.version === 1 && v.blobs && typeof v.blobs === 'object' && !Array.isArray(v.blobs)) {
      const out: HistoryData = {};
      for (const [digest, regs] of Object.entries(v.blobs as Record<string, unknown>)) {
        if (!regs || typeof regs !== 'object' || Array.isArray(regs)) continue;
        const clean: Record<string, string[]> = {};
        for (const [reg, repos] of Object.entries(regs as Record<string, unknown>)) {
          if (Array.isArray(repos)) clean[reg] = repos.filter((r): r is string => typeof r === 'string' && r !== '');
        }
        out[digest] = clean;
      }
      return out;
    }
  } catch {
    /* torn or foreign: start afresh (it is only a hint) */
  }
  return {};
}

async function load(file: string): Promise<HistoryData> {
  try {
    return parse(await readFile(file, 'utf8'));
  } catch {
    return {};
  }
}

/** Adds entries (each moves to the newest end) and trims to the bounds. */
function merge(data: HistoryData, entries: readonly { registry: string; repository: string; digest: string }[], maxBlobs: number, maxRepos: number): HistoryData {
  for (const e of entries) {
    const regs = data[e.digest] ?? {};
    delete data[e.digest];
    const repos = (regs[e.registry] ?? []).filter((r) => r !== e.repository);
    repos.push(e.repository);
    regs[e.registry] = repos.slice(-maxRepos);
    data[e.digest] = regs;
  }
  const digests = Object.keys(data);
  for (const d of digests.slice(0, Math.max(0, digests.length - maxBlobs))) delete data[d];
  return data;
}

/** A history kept in memory only (no file): what one process learns, for tests and `stateDir: null`. */
export function memoryPushHistory(options: PushHistoryOptions = {}): PushHistory {
  return makeHistory(null, {}, options);
}

/** Reads the history file once (later lookups also see this process's own records). */
export async function openPushHistory(file: string, options: PushHistoryOptions = {}): Promise<PushHistory> {
  return makeHistory(file, await load(file), options);
}

function makeHistory(file: string | null, initial: HistoryData, options: PushHistoryOptions): PushHistory {
  const maxBlobs = options.maxBlobs ?? MAX_BLOBS;
  const maxRepos = options.maxRepos ?? MAX_REPOS;
  let data = initial;
  let pending: { registry: string; repository: string; digest: string }[] = [];
  let writing: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;

  const write = async () => {
    queued = null;
    const batch = pending;
    pending = [];
    if (batch.length === 0 || !file) return;
    try {
      await makeDirs(dirname(file));
      await withLock(
        `${file}.lock`,
        async () => {
          // Merge into what other processes wrote since we read it: no one's entries are lost.
          const merged = merge(await load(file), batch, maxBlobs, maxRepos);
          await writeFileAtomic(file, JSON.stringify({ version: 1, blobs: merged }), { durable: false });
          // Entries recorded while we wrote stay visible until their own write.
          data = merge(merged, [...pending], maxBlobs, maxRepos);
        },
        { timeoutMs: 10_000, staleMs: 10_000, ...options.lock },
      );
    } catch {
      /* a hint only: a busy lock or a full disk costs a mount later, never this push */
    }
  };

  return {
    file,
    repositories(registry, digest) {
      return [...(data[digest]?.[registry.toLowerCase()] ?? [])].reverse();
    },
    record(registry, repository, digests) {
      const entries = digests.map((digest) => ({ registry: registry.toLowerCase(), repository, digest }));
      data = merge(data, entries, maxBlobs, maxRepos);
      pending.push(...entries);
      // Coalesce: one write in flight, at most one queued behind it carrying every entry since.
      queued ??= writing.then(write);
      writing = queued;
      return queued;
    },
    flush() {
      return writing;
    },
  };
}
