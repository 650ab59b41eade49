/**
 * Putting one layer blob into the destination store: skip it when it is already there, hard-link it
 * when nothing changes and both sides share a file system, copy it otherwise, or convert it to another
 * compression (streamed: read → verify → decompress → diffID → compress → ingest → commit).
 * Converted variants are remembered as labels in the destination store, keyed by (source digest,
 * target compression, level), so the next export finds them instead of converting again.
 *
 * Source bytes come only through the opened source's `SourceBlobs` (sources/source-blobs.ts): a local
 * layout hands out its own file, a registry source a file in the per-user blob cache, downloaded
 * (and verified by the cache) first when needed. Either way the file is then linked, copied or
 * converted the same way, and released after.
 *
 * Every blob is verified before it is published, as BuildKit's content copy does: a copy or a
 * conversion hashes the bytes it streams; a hard link hashes the staged link (the very inode that is
 * published); a blob already at the destination is hashed before it is reused. A blob the cache has
 * just downloaded was hashed on its way in, so it is not hashed again (unless verify=true). A
 * verification is remembered per file (verify-memo.ts), so an unchanged file is hashed once, and a
 * repeat copy is a plain kernel copy. Nothing here ever writes to the source: no touch, no label,
 * no timestamp.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheError } from '../../../shared/contract/errors';
import type { BlobPlan, ConvertedBlob } from '../../../shared/export/plan-export';
import type { LayerOrigin, LayerState } from '../../../shared/export/types';
import { Annotation } from '../../../shared/oci/media-types';
import type { Compression } from '../../../shared/oci/media-types';
import { isDigest, parseDigest } from '../../../shared/oci/digest';
import { createCompressor, createDecompressor } from './compression';
import { INGEST_DIR } from '../store/content-store';
import type { ContentStore } from '../store/content-store';
import { WORKER_COPY_MIN_BYTES, ingestTempPath } from './copy-workers';
import type { CopyPool } from './copy-workers';
import { fileKey, nowNs, sameContentKey, sameKey } from '../store/verify-memo';
import type { FileKey, VerifyMemo } from '../store/verify-memo';
import type { SourceBlobFile, SourceBlobs } from '../sources/source-blobs';

/**
 * `remembered` (the default): verify every blob, trusting a remembered verification of the same
 * unchanged file; `always` (verify=true): hash every blob; `off` (verify=false): check sizes only
 * where nothing is streamed anyway.
 */
export type VerifyMode = 'off' | 'remembered' | 'always';

/** How the destination got the blob, for progress and the result counts. */
export type BlobOutcome = 'exists' | 'linked' | 'copied' | 'converted' | 'reused';

export interface BlobJob {
  blob: BlobPlan;
  /** The only way to the source's bytes. */
  blobs: SourceBlobs;
  /** The source layout's store, read only for its variant labels; null for other sources. */
  sourceLabels: ContentStore | null;
  /** The source layout's folder (an export into the source itself must never delete its blobs), or null. */
  sourceRoot: string | null;
  dest: ContentStore;
  /** st_dev of the destination: a source file on the same device is hard-linked. */
  destDev: number;
  /** Hard-link when possible; false forces a copy (benchmarks, or a caller that wants independent files). */
  allowLink: boolean;
  verify: VerifyMode;
  /** Remembered verifications (null: remember nothing). */
  memo: VerifyMemo | null;
  level: number | null;
  signal: AbortSignal;
  report: (state: LayerState, bytesDone?: number) => void;
  /** Worker threads for large copies (hashing on both cores); without it copies stream on the main thread. */
  copyPool?: CopyPool;
  /** Told where the source bytes came from, once they are at hand. */
  onOrigin?: (origin: LayerOrigin, resumedFrom: number | null) => void;
}

export interface BlobResult {
  outcome: BlobOutcome;
  /** Set for conversions (fresh or reused). */
  converted: ConvertedBlob | null;
  bytesRead: number;
  bytesWritten: number;
}

/** Label on the *source* digest naming its converted variant, e.g. `cachescope.io/variant.zstd` or `….zstd.19`. */
export function variantLabel(compression: Compression, level: number | null): string {
  return `cachescope.io/variant.${compression}${level === null ? '' : `.${level}`}`;
}

/** Reads the label value: the variant's digest, size and diffID. */
function parseVariant(text: string | null, compression: Compression): ConvertedBlob | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<ConvertedBlob>;
    // Label files are ours but sit on disk: never let one steer a path with a malformed digest.
    if (isDigest(v.digest) && Number.isSafeInteger(v.size) && isDigest(v.diffID)) return { digest: v.digest, size: v.size!, diffID: v.diffID, compression };
  } catch {
    // A damaged label only costs a conversion.
  }
  return null;
}

/** A pass-through that counts bytes (and optionally hashes them) on their way. */
class Tap extends Transform {
  bytes = 0;
  constructor(
    private readonly onBytes: ((total: number) => void) | null,
    private readonly hash: ReturnType<typeof createHash> | null = null,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }
}

/**
 * Passes bytes on and fails at their end, before it is passed on, when they are not `digest` or not
 * `size` bytes long: a damaged source is reported as such, never as the decompressor's truncation.
 */
class DigestCheck extends Transform {
  private readonly hash: ReturnType<typeof createHash>;
  private bytes = 0;
  constructor(
    private readonly file: string,
    private readonly digest: string,
    private readonly size: number,
  ) {
    super();
    this.hash = createHash(parseDigest(digest).algorithm);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    const actual = `${parseDigest(this.digest).algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) done(corrupt(this.file, this.digest, actual));
    else if (this.bytes !== this.size) done(wrongSize(this.file, this.digest, this.size, this.bytes));
    else done();
  }
}

async function hashFile(file: string, algorithm: string, signal: AbortSignal, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash(algorithm);
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let total = 0;
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      total += bytesRead;
      onBytes?.(total);
    }
  } finally {
    await fh.close();
  }
  return `${algorithm}:${hash.digest('hex')}`;
}

function corrupt(file: string, digest: string, actual: string): CacheError {
  return new CacheError('digest-mismatch', `${file}: content hashes to ${actual}, not ${digest} as its name says (the blob is corrupt)`, { digest, actual, file });
}

function wrongSize(file: string, digest: string, expected: number, actual: number | bigint): CacheError {
  return new CacheError('size-mismatch', `${file}: the blob is ${actual} bytes but its descriptor says ${expected}`, { digest, expected, actual: Number(actual), file });
}

/** Is the file with `key` remembered as holding `digest` (and may that memory be used)? */
async function remembered(job: BlobJob, key: FileKey | null, digest: string): Promise<boolean> {
  return job.verify === 'remembered' && job.memo !== null && key !== null && (await job.memo.known(key, digest));
}

/**
 * Checks that `file` holds `digest`: a remembered verification of the unchanged file, or a hash
 * (remembered in turn when the file did not change while it was read). Returns the bytes hashed.
 */
async function verifyFile(job: BlobJob, file: string, digest: string, onBytes?: (n: number) => void): Promise<number> {
  if (job.verify === 'off') return 0;
  const before = await fileKey(file);
  if (await remembered(job, before, digest)) return 0;
  const from = nowNs();
  const actual = await hashFile(file, parseDigest(digest).algorithm, job.signal, onBytes);
  if (actual !== digest) throw corrupt(file, digest, actual);
  const after = await fileKey(file);
  if (sameKey(before, after)) await job.memo?.remember(after!, digest, from);
  return Number(after?.size ?? 0);
}

/**
 * Is `digest` already complete in the destination? The size must match, and the bytes are verified
 * (unless verify=false). A damaged blob is removed so it can be rewritten (the store never overwrites
 * a present blob), unless the destination is the source layout itself: then it is the source that is
 * damaged, and deleting it would lose data, so that is an error. Null when it cannot be used as it is.
 */
async function usable(job: BlobJob, digest: string, size: number): Promise<{ hashed: number } | null> {
  const store = job.dest;
  const info = await store.info(digest);
  if (!info) return null;
  const file = store.blobPath(digest);
  let problem: string | null = info.size === size ? null : `it is ${info.size} bytes, expected ${size}`;
  let hashed = 0;
  if (problem === null) {
    try {
      hashed = await verifyFile(job, file, digest);
    } catch (err) {
      if (!(err instanceof CacheError) || err.code !== 'digest-mismatch') throw err;
      problem = `its content hashes to ${String(err.details?.actual)}`;
    }
  }
  if (problem !== null) {
    if (job.sourceRoot !== null && resolve(job.sourceRoot) === resolve(store.root)) throw new CacheError(info.size === size ? 'digest-mismatch' : 'size-mismatch', `${file}: damaged blob: ${problem}`, { digest, file });
    await unlink(file).catch(() => undefined);
    return null;
  }
  // Never touched: the file may be the source's inode (a hard link), and the source stays as it is.
  return { hashed };
}

/**
 * A registry that answers 404 for a layer blob does not have it: said in BuildKit's words first
 * (`missing blob <digest>`, as a local export says up front), then the registry's own, then the
 * option that exports the rest. Blobs are lazy, so this is found when the download starts, not before.
 */
export function missingFromRegistry(err: unknown, digest: string): unknown {
  if (!(err instanceof CacheError) || err.code !== 'not-found' || err.details?.status !== 404) return err;
  return new CacheError('missing-blob', `missing blob ${digest}: ${err.message}; drop-missing=true exports the chains that do not need it`, { ...err.details, missing: [digest] });
}

/** The cache hashed a download on its way in: no second hash for it (verify=true asks for one anyway). */
function trusted(job: BlobJob, src: SourceBlobFile): boolean {
  return src.outcome === 'downloaded' && job.verify !== 'always';
}

/**
 * The source blob as a local file for `fn`, then released. A registry blob is downloaded into the
 * blob cache first; its progress becomes the layer's `downloading`/`cached` states.
 */
async function withSource<T>(job: BlobJob, digest: string, size: number, fn: (src: SourceBlobFile) => Promise<T>): Promise<T> {
  const src = await job.blobs
    .get(
      { digest, size },
      {
        signal: job.signal,
        onProgress: (p) => {
          if (p.state === 'downloading') job.report('downloading', p.bytes);
          else if (p.state === 'cached') job.report('cached', 0);
        },
      },
    )
    .catch((err: unknown) => {
      throw missingFromRegistry(err, digest);
    });
  try {
    job.onOrigin?.(src.outcome, src.resumedFrom);
    return await fn(src);
  } finally {
    await src.release();
  }
}

/**
 * A large copy in a worker (read, hash, write into ingest/), then published by the store's adopt
 * (fsync, atomic rename into blobs/). Bytes that are not the digest never get past the checks below:
 * either the worker hashed them, or the source file is remembered as verified (or was just verified
 * by the blob cache) and did not change while the kernel copied it.
 */
async function workerCopy(job: BlobJob, pool: CopyPool, src: SourceBlobFile): Promise<BlobResult> {
  const { blob, signal } = job;
  const file = src.path;
  const before = await fileKey(file);
  if (before !== null && before.size !== BigInt(blob.size)) throw wrongSize(file, blob.source, blob.size, before.size);
  const skipHash = job.verify === 'off' || trusted(job, src) || (await remembered(job, before, blob.source));
  const tmp = ingestTempPath(job.dest.root, INGEST_DIR);
  job.report('reading', 0);
  const from = nowNs();
  const got = await pool.copy({ src: file, tmp, algorithm: parseDigest(blob.source).algorithm, hash: !skipHash, signal, onProgress: (n) => job.report('writing', n) });
  try {
    if (got.size !== blob.size) throw wrongSize(file, blob.source, blob.size, got.size);
    const after = await fileKey(file);
    if (got.digest === null) {
      // Copied unhashed on the strength of an earlier verification: the source must not have changed meanwhile.
      if (job.verify !== 'off' && !sameKey(before, after)) {
        await unlink(tmp).catch(() => undefined);
        return await workerCopy({ ...job, verify: 'always' }, pool, src);
      }
    } else {
      if (got.digest !== blob.source) throw corrupt(file, blob.source, got.digest);
      if (sameKey(before, after)) await job.memo?.remember(after!, blob.source, from);
    }
    signal.throwIfAborted();
    await job.dest.adopt(tmp, blob.source, { signal, syncDir: false });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return { outcome: 'copied', converted: null, bytesRead: got.size, bytesWritten: got.size };
}

async function copyBlob(job: BlobJob, src: SourceBlobFile): Promise<BlobResult> {
  const { blob, signal } = job;
  if (job.copyPool && blob.size >= WORKER_COPY_MIN_BYTES) return workerCopy(job, job.copyPool, src);
  const input = createReadStream(src.path, { signal, highWaterMark: 1 << 20 });
  // The writer hashes every byte, so a small copy is always verified.
  const writer = job.dest.writer({ digest: blob.source, size: blob.size }, { signal, syncDir: false });
  const tap = new Tap((n) => job.report('writing', n));
  job.report('reading', 0);
  try {
    // The writer hashes what it gets and refuses to commit bytes that are not the digest.
    await pipeline(input, tap, writer, { signal });
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.commit();
  return { outcome: 'copied', converted: null, bytesRead: tap.bytes, bytesWritten: tap.bytes };
}

/**
 * Hard-links the source blob in. The check runs on the staged link in ingest/, which is the inode
 * that gets published: a remembered verification of the source file (same device, inode, size and
 * mtime; link(2) itself sets a new ctime), the blob cache's own check of a download just made, or a
 * hash of it. The verification is then remembered under the inode's new ctime, so the next export
 * of the unchanged file skips the hashing again.
 */
async function linkBlob(job: BlobJob, src: SourceBlobFile): Promise<BlobResult> {
  const { blob, signal } = job;
  const file = src.path;
  const st = await stat(file);
  if (st.size !== blob.size) throw wrongSize(file, blob.source, blob.size, st.size);
  job.report('reading', 0);
  const before = await fileKey(file);
  const known = trusted(job, src) || (await remembered(job, before, blob.source));
  let hashed = 0;
  // The staged inode once verified, and when reading it began (the memo's racy-timestamp rule).
  const verified: { key: FileKey | null; from: bigint } = { key: null, from: 0n };
  await job.dest.link(file, blob.source, {
    signal,
    syncDir: false,
    check: async (staged) => {
      if (job.verify === 'off') return;
      const linked = await fileKey(staged);
      if (known && sameContentKey(before, linked)) {
        Object.assign(verified, { key: linked, from: nowNs() });
        return;
      }
      const from = nowNs();
      const actual = await hashFile(staged, parseDigest(blob.source).algorithm, signal, (n) => job.report('reading', n));
      if (actual !== blob.source) throw corrupt(file, blob.source, actual);
      hashed = blob.size;
      const after = await fileKey(staged);
      if (sameKey(linked, after)) Object.assign(verified, { key: after, from });
    },
  });
  if (verified.key !== null && job.memo) {
    // rename(2) may set the ctime again: record the inode as it is now, if its bytes cannot have changed.
    const now = await fileKey(job.dest.blobPath(blob.source));
    if (sameContentKey(verified.key, now)) await job.memo.remember(now!, blob.source, verified.from);
  }
  return { outcome: 'linked', converted: null, bytesRead: hashed, bytesWritten: 0 };
}

/** link(2) refused for a reason a copy does not have (another file system, too many links, a protected file). */
function linkRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as CacheError)?.details?.errno;
  return code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP';
}

/** Hard link when the file shares the destination's device (and linking is allowed), else a copy. */
async function linkOrCopy(job: BlobJob, src: SourceBlobFile): Promise<BlobResult> {
  if (job.allowLink && (await stat(src.path)).dev === job.destDev) {
    try {
      return await linkBlob(job, src);
    } catch (err) {
      if (!linkRefused(err)) throw err;
    }
  }
  return copyBlob(job, src);
}

async function convertBlob(job: BlobJob, target: Compression, src: SourceBlobFile): Promise<BlobResult> {
  const { blob, signal } = job;
  if (blob.actual === null) throw new CacheError('internal', `layer ${blob.source}: no compression known, cannot convert`);
  // The source digest is checked while streaming: a damaged blob fails at its end, before any commit.
  const input = createReadStream(src.path, { signal, highWaterMark: 1 << 20 });
  const diffHash = createHash('sha256');
  const readTap = new Tap((n) => job.report(n === 0 ? 'reading' : 'converting', n));
  const diffTap = new Tap(null, diffHash);
  const writer = job.dest.writer({}, { signal, syncDir: false });
  job.report('reading', 0);
  try {
    const read = trusted(job, src) ? [input, readTap] : [input, new DigestCheck(src.path, blob.source, blob.size), readTap];
    await pipeline([...read, createDecompressor(blob.actual), diffTap, createCompressor(target, job.level), writer], { signal });
  } catch (err) {
    await writer.abort();
    throw wrapCodecError(err, blob);
  }
  const diffID = `sha256:${diffHash.digest('hex')}`;
  if (blob.diffID !== null && diffID !== blob.diffID) {
    await writer.abort();
    throw new CacheError(
      'digest-mismatch',
      `layer ${blob.source}: its uncompressed content hashes to ${diffID}, but its ${Annotation.uncompressed} annotation says ${blob.diffID}`,
      { digest: blob.source, expected: blob.diffID, actual: diffID, field: `annotations.${Annotation.uncompressed}` },
    );
  }
  job.report('writing', readTap.bytes);
  const info = await writer.commit();
  const converted: ConvertedBlob = { digest: info.digest, size: info.size, diffID, compression: target };
  await rememberVariant(job.dest, blob.source, target, job.level, converted);
  return { outcome: 'converted', converted, bytesRead: readTap.bytes, bytesWritten: info.size };
}

/** zlib/zstd errors name neither the blob nor the codec; say both. */
function wrapCodecError(err: unknown, blob: BlobPlan): unknown {
  if (err instanceof CacheError || (err as Error)?.name === 'AbortError') return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new CacheError('invalid-source', `layer ${blob.source}: cannot decompress it as ${blob.actual}: ${(err as Error).message}`, { digest: blob.source });
  }
  if (err instanceof Error && /zstd|Unknown frame descriptor|corrupt/i.test(err.message) && !code) {
    return new CacheError('invalid-source', `layer ${blob.source}: cannot decompress it as ${blob.actual}: ${err.message}`, { digest: blob.source });
  }
  return err;
}

async function rememberVariant(store: ContentStore, source: string, target: Compression, level: number | null, v: ConvertedBlob): Promise<void> {
  await store.setLabel(source, variantLabel(target, level), JSON.stringify({ digest: v.digest, size: v.size, diffID: v.diffID }));
  await store.setLabel(v.digest, Annotation.uncompressed, v.diffID);
}

/** A variant made by an earlier export, into this destination or kept next to the source layout. */
async function findVariant(job: BlobJob, target: Compression): Promise<BlobResult | null> {
  const { blob } = job;
  const key = variantLabel(target, job.level);
  const mine = parseVariant(await job.dest.getLabel(blob.source, key), target);
  const here = mine && (blob.diffID === null || mine.diffID === blob.diffID) ? await usable(job, mine.digest, mine.size) : null;
  if (mine && here) return { outcome: 'exists', converted: mine, bytesRead: here.hashed, bytesWritten: 0 };
  const labels = job.sourceLabels;
  if (!labels || resolve(labels.root) === resolve(job.dest.root)) return null;
  const theirs = parseVariant(await labels.getLabel(blob.source, key).catch(() => null), target);
  if (!theirs || (blob.diffID !== null && theirs.diffID !== blob.diffID)) return null;
  if (!(await job.blobs.has(theirs.digest, { signal: job.signal }))) return null;
  const variant: BlobPlan = { ...blob, source: theirs.digest, size: theirs.size, action: 'copy' };
  const sub: BlobJob = { ...job, blob: variant };
  let got: BlobResult;
  try {
    got = await withSource(sub, theirs.digest, theirs.size, (src) => linkOrCopy(sub, src));
  } catch (err) {
    // A label naming a variant of another size is stale: convert instead.
    if (err instanceof CacheError && err.code === 'size-mismatch') return null;
    throw err;
  }
  await rememberVariant(job.dest, blob.source, target, job.level, theirs);
  return { ...got, outcome: 'reused', converted: theirs };
}

/** Puts one blob into the destination, the cheapest way that keeps it complete and correct. */
export async function exportBlob(job: BlobJob): Promise<BlobResult> {
  const { blob } = job;
  job.signal.throwIfAborted();
  if (blob.action === 'convert') {
    const target = blob.target!;
    const found = await findVariant(job, target);
    if (found) return found;
    return withSource(job, blob.source, blob.size, (src) => convertBlob(job, target, src));
  }
  // Already in the target: nothing is fetched (a rerun of a pull downloads only what is missing).
  const here = await usable(job, blob.source, blob.size);
  if (here) return { outcome: 'exists', converted: null, bytesRead: here.hashed, bytesWritten: 0 };
  return withSource(job, blob.source, blob.size, (src) => linkOrCopy(job, src));
}
