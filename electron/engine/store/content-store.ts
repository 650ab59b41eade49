/**
 * A content-addressed blob store with containerd's local-store semantics, rooted at an OCI layout:
 * blobs live at `<root>/blobs/<alg>/<hex>`, writes stream through a hasher into `<root>/ingest/`, and
 * only a complete, verified, fsynced file is renamed into blobs/. So a reader never sees a partial
 * blob, and two writers of the same content both succeed with the same result.
 *
 * Opening a store creates nothing: read-only layouts (the shared fixtures, a mounted cache) work for
 * reads. Directories are made on the first write.
 *
 * A store never writes a blob that is already present, not even its times: a hard-linked blob shares
 * its inode with the source layout, and an export must leave the source as it found it. In-flight
 * content is protected from gc by leases (gc.ts), not by timestamps.
 *
 * Durability: a blob's bytes are fsynced before it is renamed into blobs/, so blobs/ never holds a
 * partial file. The rename itself becomes durable with the directory's fsync; a batch of writes can
 * defer that (`syncDir: false`) to one `syncBlobDirs()` before index.json is changed.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link as hardLink, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Writable, addAbortSignal } from 'node:stream';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import type { ParsedDigest } from '../../../shared/oci/digest';
import { fsyncDir, writeFileAtomic } from './atomic-file';
import { withLock } from './file-lock';
import { endAndWait } from './end-writable';

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface ReadStreamOptions {
  signal?: AbortSignal;
  /** Hash while streaming; the stream errors with CacheError('digest-mismatch') at the end if the bytes are not the digest. */
  verify?: boolean;
}

export interface ReadBytesOptions {
  /** Refuse (CacheError 'too-large') before reading anything bigger: meant for small JSON blobs. */
  maxSize: number;
  signal?: AbortSignal;
  /** Check the bytes against the digest; on by default because JSON blobs are small. */
  verify?: boolean;
}

export interface WriterExpectation {
  digest?: string;
  size?: number;
}

export interface LinkOptions {
  signal?: AbortSignal;
  /** Hash the source before linking it in; callers that already verified it can skip this. */
  verify?: boolean;
  /**
   * Runs on the staged hard link (in ingest/, same inode as the source) before it is renamed into
   * blobs/; a throw stops the publish. Lets a caller check exactly the inode that gets published.
   */
  check?: (staged: string) => Promise<void>;
  /** fsync blobs/<alg> after the rename (default true); false defers it to `syncBlobDirs()`. */
  syncDir?: boolean;
}

export interface WriterOptions {
  signal?: AbortSignal;
  /** fsync blobs/<alg> after the rename (default true); false defers it to `syncBlobDirs()`. */
  syncDir?: boolean;
}

export interface AdoptOptions {
  signal?: AbortSignal;
  /** fsync blobs/<alg> after the rename (default true); false defers it to `syncBlobDirs()`. */
  syncDir?: boolean;
}

/** A writable that hashes what it is given into an ingest file; `commit()` (or `abort()`) must end it. */
export interface BlobWriter extends Writable {
  /** Bytes accepted so far. */
  readonly written: number;
  /** Ends the stream if needed, checks size and digest, fsyncs and renames into blobs/. Idempotent. */
  commit(): Promise<BlobInfo>;
  /** Drops the ingest file; nothing reaches blobs/. */
  abort(): Promise<void>;
}

export interface ContentStore {
  readonly root: string;
  has(digest: string): Promise<boolean>;
  info(digest: string): Promise<BlobInfo | null>;
  blobPath(digest: string): string;
  readStream(digest: string, options?: ReadStreamOptions): Promise<Readable>;
  readBytes(digest: string, options: ReadBytesOptions): Promise<Buffer>;
  writer(expected?: WriterExpectation, options?: WriterOptions): BlobWriter;
  writeBytes(bytes: Uint8Array, expectedDigest?: string, options?: WriterOptions): Promise<BlobInfo>;
  /**
   * Adds an existing file as blob `digest` by hard link (a copy through the hashing writer across devices
   * or where links are refused). A hard link shares the source's inode: neither file may ever be written
   * in place afterwards (BuildKit and containerd never do; tests that corrupt blobs must replace the file).
   * A blob already present is left as it is (never touched: it may be another layout's inode).
   */
  link(sourcePath: string, digest: string, options?: LinkOptions): Promise<BlobInfo>;
  /**
   * Publishes a finished file of ours under ingest/ (already checked to be `digest` by the caller) as
   * blob `digest`: fsync, then rename into blobs/. The file is gone afterwards either way; when the
   * blob is already present the file is dropped.
   */
  adopt(ingestFile: string, digest: string, options?: AdoptOptions): Promise<BlobInfo>;
  /** fsyncs blobs/ and blobs/<alg>: makes every rename into blobs/ so far durable (after `syncDir: false` writes). */
  syncBlobDirs(): Promise<void>;
  /** Removes leftovers under ingest/ (ours and containerd's) not modified for `olderThanMs`; live writers of this process are spared. */
  setLabel(digest: string, key: string, value: string | null): Promise<void>;
  getLabel(digest: string, key: string): Promise<string | null>;
  getLabels(digest: string): Promise<Record<string, string>>;
}

const READ_CHUNK = 256 << 10;
export const INGEST_DIR = 'ingest';
/** Our own metadata; not part of the OCI layout and never under blobs/. */
export const META_DIR = '.cachescope';
const INGEST_PREFIX = 'cachescope-';


function checkedDigest(digest: string, field = 'digest'): ParsedDigest {
  const problem = digestProblem(digest);
  if (problem) throw new CacheError('invalid-digest', `${field}: ${problem}`, { field });
  return parseDigest(digest);
}

function ioError(action: string, file: string, err: unknown): CacheError {
  if (err instanceof CacheError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new CacheError('io', `cannot ${action} ${file}: ${code ?? (err as Error).message}`, { file, ...(code ? { errno: code } : {}) });
}

export interface StoreOptions {
  /**
   * Called with a blob's digest before it appears in blobs/ (commit, link) or is found already there:
   * a writer adds it to its lease here, so a concurrent gc keeps it (leases.ts).
   */
  beforePublish?: (digest: string) => Promise<void>;
}

/** Opens a store rooted at an OCI layout directory. Nothing is created until something is written. */
export async function openContentStore(root: string, options: StoreOptions = {}): Promise<ContentStore> {
  return new LocalContentStore(root, options.beforePublish);
}

class LocalContentStore implements ContentStore {
  readonly root: string;
  readonly beforePublish: ((digest: string) => Promise<void>) | undefined;

  constructor(root: string, beforePublish?: (digest: string) => Promise<void>) {
    this.root = root;
    this.beforePublish = beforePublish;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = checkedDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  labelPath(digest: string): string {
    const { algorithm, hex } = checkedDigest(digest);
    return join(this.root, META_DIR, 'labels', algorithm, `${hex}.json`);
  }

  ingestDir(): string {
    return join(this.root, INGEST_DIR);
  }

  async info(digest: string): Promise<BlobInfo | null> {
    const file = this.blobPath(digest);
    try {
      const st = await stat(file);
      return st.isFile() ? { digest, size: st.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw ioError('stat', file, err);
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== null;
  }

  async readStream(digest: string, options: ReadStreamOptions = {}): Promise<Readable> {
    const { algorithm } = checkedDigest(digest);
    const file = this.blobPath(digest);
    options.signal?.throwIfAborted();
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CacheError('missing-blob', `blob ${digest} is missing: ${file} does not exist`, { digest, file });
      throw ioError('open', file, err);
    }
    const hash = options.verify ? createHash(algorithm) : null;
    const signal = options.signal;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          signal?.throwIfAborted();
          const buf = Buffer.allocUnsafe(READ_CHUNK);
          const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
          if (bytesRead === 0) break;
          const chunk = bytesRead === READ_CHUNK ? buf : buf.subarray(0, bytesRead);
          hash?.update(chunk);
          yield chunk;
        }
        if (hash) {
          const actual = `${algorithm}:${hash.digest('hex')}`;
          if (actual !== digest) {
            throw new CacheError('digest-mismatch', `${file}: content hashes to ${actual}, not ${digest} as its name says (the blob is corrupt)`, { digest, actual, file });
          }
        }
      } finally {
        await fh.close();
      }
    }
    const stream = Readable.from(chunks(), { objectMode: false });
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  async readBytes(digest: string, options: ReadBytesOptions): Promise<Buffer> {
    const { algorithm } = checkedDigest(digest);
    const file = this.blobPath(digest);
    options.signal?.throwIfAborted();
    const info = await this.info(digest);
    if (!info) throw new CacheError('missing-blob', `blob ${digest} is missing: ${file} does not exist`, { digest, file });
    if (info.size > options.maxSize) {
      throw new CacheError('too-large', `${file}: blob is ${info.size} bytes, over the ${options.maxSize}-byte limit for this read`, { digest, file, size: info.size, limit: options.maxSize });
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(file, { signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw ioError('read', file, err);
    }
    // The file may have been replaced between stat and read; the limit is about memory, so check again.
    if (bytes.length > options.maxSize) throw new CacheError('too-large', `${file}: blob is over the ${options.maxSize}-byte limit for this read`, { digest, file });
    if (options.verify !== false) {
      const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
      if (actual !== digest) throw new CacheError('digest-mismatch', `${file}: content hashes to ${actual}, not ${digest} as its name says (the blob is corrupt)`, { digest, actual, file });
    }
    return bytes;
  }

  writer(expected: WriterExpectation = {}, options: WriterOptions = {}): BlobWriter {
    if (expected.digest !== undefined) checkedDigest(expected.digest, 'expected digest');
    if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
      throw new CacheError('bad-request', `expected size: must be an integer >= 0, got ${String(expected.size)}`, { field: 'size' });
    }
    return new IngestWriter(this, expected, options.signal, options.syncDir !== false);
  }

  async writeBytes(bytes: Uint8Array, expectedDigest?: string, options: WriterOptions = {}): Promise<BlobInfo> {
    const w = this.writer({ digest: expectedDigest, size: bytes.length }, options);
    const done = new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.end(bytes, () => resolve());
    });
    try {
      await done;
    } catch (err) {
      await w.abort();
      throw err;
    }
    return w.commit();
  }

  async link(sourcePath: string, digest: string, options: LinkOptions = {}): Promise<BlobInfo> {
    const { algorithm } = checkedDigest(digest);
    const target = this.blobPath(digest);
    options.signal?.throwIfAborted();
    await this.beforePublish?.(digest);
    const present = await this.info(digest);
    if (present) return present;
    let src;
    try {
      src = await stat(sourcePath);
    } catch (err) {
      throw ioError('stat', sourcePath, err);
    }
    if (!src.isFile()) throw new CacheError('bad-request', `${sourcePath} is not a regular file`, { file: sourcePath });
    if (options.verify) {
      const hash = createHash(algorithm);
      const fh = await open(sourcePath, 'r');
      try {
        const buf = Buffer.allocUnsafe(READ_CHUNK);
        for (;;) {
          options.signal?.throwIfAborted();
          const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
          if (bytesRead === 0) break;
          hash.update(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) throw new CacheError('digest-mismatch', `${sourcePath}: content hashes to ${actual}, expected ${digest}`, { digest, actual, file: sourcePath });
    }
    await mkdir(this.ingestDir(), { recursive: true });
    await mkdir(dirname(target), { recursive: true });
    // Link to an ingest name first, then rename: the blob appears whole or not at all, like a write.
    const staged = join(this.ingestDir(), `${INGEST_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}.link`);
    try {
      try {
        await hardLink(sourcePath, staged);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Other device, or a file system without hard links: copy through the writer, which re-hashes anyway.
        if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EMLINK' || code === 'ENOSYS') return await this.copyIn(sourcePath, digest, src.size, options);
        throw ioError('link', sourcePath, err);
      }
      await options.check?.(staged);
      options.signal?.throwIfAborted();
      // Never utimes: the inode is the source's, and an export must not change the source.
      await rename(staged, target);
      if (options.syncDir !== false) await fsyncDir(dirname(target));
      return { digest, size: src.size };
    } catch (err) {
      await unlink(staged).catch(() => undefined);
      throw err;
    } finally {
    }
  }

  private async copyIn(sourcePath: string, digest: string, size: number, options: LinkOptions): Promise<BlobInfo> {
    const w = this.writer({ digest, size }, { signal: options.signal, syncDir: options.syncDir });
    const fh = await open(sourcePath, 'r');
    try {
      const stream = fh.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false });
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        w.once('error', reject);
        stream.pipe(w);
        w.once('finish', resolve);
      });
    } catch (err) {
      await w.abort();
      throw err;
    } finally {
      await fh.close();
    }
    return w.commit();
  }

  async adopt(ingestFile: string, digest: string, options: AdoptOptions = {}): Promise<BlobInfo> {
    checkedDigest(digest);
    const target = this.blobPath(digest);
    try {
      options.signal?.throwIfAborted();
      let size: number;
      const fh = await open(ingestFile, 'r').catch((err: unknown) => {
        throw ioError('open', ingestFile, err);
      });
      try {
        size = (await fh.stat()).size;
        // The bytes reach the disk before the name does: blobs/ never holds a partial file.
        await fh.sync();
      } catch (err) {
        throw ioError('fsync', ingestFile, err);
      } finally {
        await fh.close();
      }
      options.signal?.throwIfAborted();
      await this.beforePublish?.(digest);
      if (await this.info(digest)) return { digest, size };
      await mkdir(dirname(target), { recursive: true });
      await rename(ingestFile, target);
      if (options.syncDir !== false) await fsyncDir(dirname(target));
      return { digest, size };
    } finally {
      await unlink(ingestFile).catch(() => undefined);
    }
  }

  async syncBlobDirs(): Promise<void> {
    const blobs = join(this.root, 'blobs');
    const algs = await readdir(blobs).catch(() => [] as string[]);
    await Promise.all(algs.map((a) => fsyncDir(join(blobs, a)).catch(() => undefined)));
    await fsyncDir(blobs).catch(() => undefined);
  }

  async getLabels(digest: string): Promise<Record<string, string>> {
    const file = this.labelPath(digest);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw ioError('read', file, err);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new CacheError('invalid-json', `${file}: malformed label file: ${(err as Error).message}`, { file });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
      throw new CacheError('invalid-json', `${file}: expected an object of string labels`, { file });
    }
    return value as Record<string, string>;
  }

  async getLabel(digest: string, key: string): Promise<string | null> {
    const labels = await this.getLabels(digest);
    return Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : null;
  }

  /** Sets (or with null, removes) one label; read-modify-write under a per-file lock so concurrent setters keep each other's keys. */
  async setLabel(digest: string, key: string, value: string | null): Promise<void> {
    if (typeof key !== 'string' || key === '') throw new CacheError('bad-request', 'label key: expected a non-empty string', { field: 'key' });
    if (value !== null && typeof value !== 'string') throw new CacheError('bad-request', `label ${key}: value must be a string or null`, { field: 'value' });
    const file = this.labelPath(digest);
    await mkdir(dirname(file), { recursive: true });
    await withLock(`${file}.lock`, async () => {
      const labels = await this.getLabels(digest);
      if (value === null) delete labels[key];
      else labels[key] = value;
      const sorted = Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]]));
      if (Object.keys(sorted).length === 0) await unlink(file).catch(() => undefined);
      else await writeFileAtomic(file, JSON.stringify(sorted));
    }, { timeoutMs: 10_000, staleMs: 10_000 });
  }
}

class IngestWriter extends Writable implements BlobWriter {
  private readonly store: LocalContentStore;
  private readonly expected: WriterExpectation;
  private readonly signal?: AbortSignal;
  private readonly algorithm: ParsedDigest['algorithm'];
  private readonly hash: Hash;
  private readonly path: string;
  private fh: FileHandle | null = null;
  private size = 0;
  private committing: Promise<BlobInfo> | null = null;
  private committed = false;
  private readonly onAbort: () => void;

  constructor(
    store: LocalContentStore,
    expected: WriterExpectation,
    signal: AbortSignal | undefined,
    private readonly syncDir: boolean,
  ) {
    super({ autoDestroy: false, highWaterMark: READ_CHUNK });
    this.store = store;
    this.expected = expected;
    this.signal = signal;
    this.algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
    this.hash = createHash(this.algorithm);
    // Unique per writer, so two writers of the same digest never share a file.
    this.path = join(store.ingestDir(), `${INGEST_PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`);
    this.onAbort = () => this.destroy(signal?.reason instanceof Error ? signal.reason : new CacheError('cancelled', 'blob write cancelled'));
    if (signal?.aborted) queueMicrotask(this.onAbort);
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    // autoDestroy is off so that 'finish' does not drop the ingest before commit(); a failed write
    // (too many bytes, disk full) must still not leave one behind, so errors destroy explicitly.
    // The error itself stays in `errored` and is rethrown by commit().
    this.on('error', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  get written(): number {
    return this.size;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    mkdir(this.store.ingestDir(), { recursive: true })
      .then(() => open(this.path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644))
      .then((fh) => {
        this.fh = fh;
        callback();
      })
      .catch((err: unknown) => callback(ioError('create ingest file', this.path, err)));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const limit = this.expected.size;
    if (limit !== undefined && this.size + chunk.length > limit) {
      // Fail early: a stream that is already too long can never match.
      callback(new CacheError('size-mismatch', `blob write${this.expected.digest ? ` of ${this.expected.digest}` : ''}: expected ${limit} bytes, got at least ${this.size + chunk.length}`, { expected: limit, actual: this.size + chunk.length, digest: this.expected.digest }));
      return;
    }
    this.hash.update(chunk);
    this.size += chunk.length;
    this.writeAll(chunk).then(() => callback(), (err: unknown) => callback(ioError('write', this.path, err)));
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh!.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    const fh = this.fh;
    this.fh = null;
    const cleanup = async () => {
      await fh?.close().catch(() => undefined);
      if (!this.committed) await unlink(this.path).catch(() => undefined);
    };
    cleanup().then(() => callback(error), () => callback(error));
  }

  async abort(): Promise<void> {
    if (this.committed) return;
    await new Promise<void>((resolve) => {
      if (this.destroyed && this.closed) return resolve();
      this.once('close', () => resolve());
      this.destroy();
    });
  }

  commit(): Promise<BlobInfo> {
    this.committing ??= this.doCommit();
    return this.committing;
  }

  private async finished(): Promise<void> {
    if (this.signal?.aborted) throw this.signal.reason;
    if (this.errored) throw this.errored;
    if (this.destroyed) throw new CacheError('cancelled', 'blob write was aborted before commit');
    if (this.writableFinished) return;
    await endAndWait(this);
  }

  private async doCommit(): Promise<BlobInfo> {
    try {
      await this.finished();
      this.signal?.throwIfAborted();
      const digest = `${this.algorithm}:${this.hash.digest('hex')}`;
      const size = this.size;
      if (this.expected.size !== undefined && size !== this.expected.size) {
        throw new CacheError('size-mismatch', `blob write${this.expected.digest ? ` of ${this.expected.digest}` : ''}: expected ${this.expected.size} bytes, got ${size}`, { expected: this.expected.size, actual: size, digest: this.expected.digest });
      }
      if (this.expected.digest !== undefined && digest !== this.expected.digest) {
        throw new CacheError('digest-mismatch', `blob write: expected ${this.expected.digest}, but the ${size} bytes written hash to ${digest}`, { expected: this.expected.digest, actual: digest });
      }
      const target = this.store.blobPath(digest);
      await this.store.beforePublish?.(digest);
      const fh = this.fh!;
      await fh.sync();
      await fh.close();
      this.fh = null;
      this.signal?.throwIfAborted();
      await mkdir(dirname(target), { recursive: true });
      // Someone committed the same content first: theirs is identical by construction, and left alone.
      if (!(await this.store.info(digest))) {
        await rename(this.path, target);
        if (this.syncDir) await fsyncDir(dirname(target));
      }
      this.committed = true;
      await unlink(this.path).catch(() => undefined);
      return { digest, size };
    } catch (err) {
      await this.abort();
      throw err;
    } finally {
      this.signal?.removeEventListener('abort', this.onAbort);
      if (!this.destroyed) this.destroy();
    }
  }
}
