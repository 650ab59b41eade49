/**
 * Whole-file replacement that a crash cannot tear: readers see the old file or the new one, never a
 * prefix. Used for index.json, oci-layout and label files.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';

export interface AtomicWriteOptions {
  /** File mode for a new file (the umask applies); BuildKit writes index.json as 0644. */
  mode?: number;
  signal?: AbortSignal;
  /**
   * false skips both fsyncs: the rename still makes the swap atomic for other processes, but a power
   * cut may lose it. For files that mean nothing after a reboot (leases of running processes).
   */
  durable?: boolean;
}

/** Error codes that mean "this platform or file system cannot fsync a directory", not a failure. */
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EINVAL', 'EPERM', 'EACCES', 'EBADF', 'ENOTSUP']);

/**
 * fsyncs a directory so a rename or unlink inside it survives a power cut. Windows and some network
 * file systems cannot open or sync directories; there the rename is as durable as it gets.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

/** A temp name in the same directory (rename is only atomic within one file system), hidden and unique per writer. */
export function tempSibling(path: string, tag = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Writes `data` to `path` atomically: temp file in the same directory, fsync, rename over the target,
 * fsync the directory. Two writers racing each produce a complete file; the last rename wins.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  options.signal?.throwIfAborted();
  const tmp = tempSibling(path);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (options.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    // Last chance to give up: after the rename the new content is the file.
    options.signal?.throwIfAborted();
    await rename(tmp, path);
    renamed = true;
    if (options.durable !== false) await fsyncDir(dirname(path));
  } catch (err) {
    if (err instanceof CacheError || options.signal?.aborted) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('io', `cannot write ${path}: ${code ?? (err as Error).message}`, { file: path, ...(code ? { errno: code } : {}) });
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/**
 * `mkdir -p` whose error names the real cause. Node's recursive mkdir reports ENOENT when a folder
 * cannot be created on a read-only mount; retrying the first missing level without `recursive`
 * brings out the kernel's EROFS (or EACCES), which is what the user needs to read.
 */
export async function makeDirs(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    let missing = path;
    for (let up = dirname(missing); up !== missing; up = dirname(up)) {
      if (await stat(up).then(() => true, () => false)) break;
      missing = up;
    }
    try {
      await mkdir(missing);
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code !== 'EEXIST') throw inner;
    }
    // The first level could be made after all (a race with a deleter): finish the rest.
    await mkdir(path, { recursive: true });
  }
}
