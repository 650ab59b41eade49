/**
 * Remembered blob verifications: "the file with this device, inode, size, mtime and ctime hashed to
 * this digest". An export checks every blob before it links or copies it; with this record a later
 * export of the same unchanged file skips the hashing. Any change of those keys (a write, a touch, a
 * replaced file, a new link) means hashing again.
 *
 * The records live per user under $XDG_CACHE_HOME/cachescope/verified (~/.cache/cachescope/verified),
 * never in the source layout: an export writes nothing outside its target. One small JSON file per
 * (device, inode), written by rename without fsync: a record lost or torn by a crash only costs a hash.
 *
 * Racy timestamps: a write that lands in the same clock tick as the file's last change leaves its
 * mtime unchanged, so a record is only made when the file's mtime is at least RACY_NS older than the
 * moment its bytes started being read (as git does for its index). File-system clocks that drift
 * from this machine's by more than that (NFS) would defeat the rule; use `verify=true` there.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What identifies one version of a file's bytes, at nanosecond resolution. */
export interface FileKey {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** 2 s: more than any local file system's timestamp granularity (FAT's is 2 s, ext4's a jiffy). */
export const RACY_NS = 2_000_000_000n;

/** Wall-clock now in nanoseconds, the scale of file timestamps. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** The key of a regular file, or null when it is absent or not a regular file. */
export async function fileKey(file: string): Promise<FileKey | null> {
  try {
    const st = await stat(file, { bigint: true });
    if (!st.isFile()) return null;
    return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
  } catch {
    return null;
  }
}

export function sameKey(a: FileKey | null, b: FileKey | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Same bytes by every key but ctime: what a new hard link (link(2) sets ctime) leaves of a file. */
export function sameContentKey(a: FileKey | null, b: FileKey | null): boolean {
  return a !== null && b !== null && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

export interface VerifyMemo {
  /** Where the records are kept (null for a memo kept in memory only). */
  readonly dir: string | null;
  /** True when `key` was recorded as hashing to `digest`. */
  known(key: FileKey, digest: string): Promise<boolean>;
  /**
   * Records that the file with `key` hashes to `digest`, unless its mtime is too close to `readFromNs`
   * (when reading its bytes began) to be trusted. Never throws: a cache that cannot be written only costs hashing.
   */
  remember(key: FileKey, digest: string, readFromNs: bigint): Promise<void>;
}

interface Stored {
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  digest: string;
}

/** $XDG_CACHE_HOME/cachescope/verified, or ~/.cache/cachescope/verified. */
export function defaultMemoDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'cachescope', 'verified');
}

class FileVerifyMemo implements VerifyMemo {
  private readonly mem = new Map<string, Stored>();
  private readonly made = new Set<string>();

  constructor(readonly dir: string | null) {}

  private where(key: FileKey): { folder: string; file: string; id: string } | null {
    const id = `${key.dev}:${key.ino}`;
    if (this.dir === null) return { folder: '', file: '', id };
    const ino = key.ino.toString(16).padStart(2, '0');
    const folder = join(this.dir, key.dev.toString(16), ino.slice(-2));
    return { folder, file: join(folder, `${ino}.json`), id };
  }

  async known(key: FileKey, digest: string): Promise<boolean> {
    const at = this.where(key)!;
    const matches = (rec: Stored | undefined) => rec !== undefined && rec.digest === digest && rec.size === String(key.size) && rec.mtimeNs === String(key.mtimeNs) && rec.ctimeNs === String(key.ctimeNs);
    let rec = this.mem.get(at.id);
    if (matches(rec)) return true;
    // Another process may have recorded the file since: read the folder again.
    if (this.dir !== null) {
      try {
        const parsed = JSON.parse(await readFile(at.file, 'utf8')) as Partial<Stored>;
        if (typeof parsed.size === 'string' && typeof parsed.mtimeNs === 'string' && typeof parsed.ctimeNs === 'string' && typeof parsed.digest === 'string') {
          rec = parsed as Stored;
          this.mem.set(at.id, rec);
        }
      } catch {
        // Absent or torn: not known.
      }
    }
    return matches(rec);
  }

  async remember(key: FileKey, digest: string, readFromNs: bigint): Promise<void> {
    if (key.mtimeNs + RACY_NS > readFromNs) return;
    const at = this.where(key)!;
    const rec: Stored = { size: String(key.size), mtimeNs: String(key.mtimeNs), ctimeNs: String(key.ctimeNs), digest };
    this.mem.set(at.id, rec);
    if (this.dir === null) return;
    const tmp = `${at.file}.${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      if (!this.made.has(at.folder)) {
        await mkdir(at.folder, { recursive: true, mode: 0o700 });
        this.made.add(at.folder);
      }
      await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
      await rename(tmp, at.file);
    } catch {
      await unlink(tmp).catch(() => undefined);
    }
  }
}

/** A memo on the records under `dir`, with its own in-memory copy (what a new process sees). */
export function createVerifyMemo(dir: string): VerifyMemo {
  return new FileVerifyMemo(dir);
}

const memos = new Map<string, VerifyMemo>();

/** The memo kept under `dir` (default: the per-user cache), one instance per folder and process. */
export function openVerifyMemo(dir: string = defaultMemoDir()): VerifyMemo {
  let memo = memos.get(dir);
  if (!memo) memos.set(dir, (memo = createVerifyMemo(dir)));
  return memo;
}

/** A memo that forgets everything when the process ends (tests, benchmarks). */
export function memoryVerifyMemo(): VerifyMemo {
  return new FileVerifyMemo(null);
}
