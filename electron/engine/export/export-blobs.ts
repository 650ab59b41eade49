/**
 * Putting one layer blob into the destination store: skip it when it is already there, hard-link it
 * when nothing changes and both sides share a file system, copy it otherwise, or convert it to another
 * compression (streamed: read → verify → decompress → diffID → compress → ingest → commit).
 * Converted variants are remembered as labels in the destination store, keyed by (source digest,
 * target compression, level), so the next export finds them instead of converting again.
 *
 * Every blob is verified before it is published, as BuildKit's content copy does: a copy or a
 * conversion hashes the bytes it streams; a hard link hashes the staged link (the very inode that is
 * published); a blob already at the destination is hashed before it is reused. A verification is
 * remembered per file (verify-memo.ts), so an unchanged file is hashed once, and a repeat copy is a
 * plain kernel copy. Nothing here ever writes to the source: no touch, no label, no timestamp.
 */
import { createHash } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheError } from '../../../shared/contract/errors';
import type { BlobPlan, ConvertedBlob } from '../../../shared/export/plan-export';
import type { LayerState } from '../../../shared/export/types';
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
  source: ContentStore;
  dest: ContentStore;
  /** Source and destination share a file system (hard links possible). */
  sameDevice: boolean;
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
    if (job.source.root === store.root) throw new CacheError(info.size === size ? 'digest-mismatch' : 'size-mismatch', `${file}: damaged blob: ${problem}`, { digest, file });
    await unlink(file).catch(() => undefined);
    return null;
  }
  // Never touched: the file may be the source's inode (a hard link), and the source stays as it is.
  return { hashed };
}

/**
 * A large copy in a worker (read, hash, write into ingest/), then published by the store's adopt
 * (fsync, atomic rename into blobs/). Bytes that are not the digest never get past the checks below:
 * either the worker hashed them, or the source file is remembered as verified and did not change
 * while the kernel copied it.
 */
async function workerCopy(job: BlobJob, pool: CopyPool): Promise<BlobResult> {
  const { blob, signal } = job;
  const file = job.source.blobPath(blob.source);
  const before = await fileKey(file);
  if (before !== null && before.size !== BigInt(blob.size)) throw wrongSize(file, blob.source, blob.size, before.size);
  const trusted = job.verify === 'off' || (await remembered(job, before, blob.source));
  const tmp = ingestTempPath(job.dest.root, INGEST_DIR);
  job.report('reading', 0);
  const from = nowNs();
  const got = await pool.copy({ src: file, tmp, algorithm: parseDigest(blob.source).algorithm, hash: !trusted, signal, onProgress: (n) => job.report('writing', n) });
  try {
    if (got.size !== blob.size) throw wrongSize(file, blob.source, blob.size, got.size);
    const after = await fileKey(file);
    if (got.digest === null) {
      // Copied unhashed on the strength of a remembered verification: the source must not have changed meanwhile.
      if (job.verify !== 'off' && !sameKey(before, after)) {
        await unlink(tmp).catch(() => undefined);
        return await workerCopy({ ...job, verify: 'always' }, pool);
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

async function copyBlob(job: BlobJob): Promise<BlobResult> {
  const { blob, signal } = job;
  if (job.copyPool && blob.size >= WORKER_COPY_MIN_BYTES) return workerCopy(job, job.copyPool);
  const src = await job.source.readStream(blob.source, { signal });
  // The writer hashes every byte, so a small copy is always verified.
  const writer = job.dest.writer({ digest: blob.source, size: blob.size }, { signal, syncDir: false });
  const tap = new Tap((n) => job.report('writing', n));
  job.report('reading', 0);
  try {
    // The writer hashes what it gets and refuses to commit bytes that are not the digest.
    await pipeline(src, tap, writer, { signal });
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
 * mtime; link(2) itself sets a new ctime), or a hash of it. The verification is then remembered
 * under the inode's new ctime, so the next export of the unchanged file skips the hashing again.
 */
async function linkBlob(job: BlobJob): Promise<BlobResult> {
  const { blob, signal } = job;
  const file = job.source.blobPath(blob.source);
  const st = await stat(file);
  if (st.size !== blob.size) throw wrongSize(file, blob.source, blob.size, st.size);
  job.report('reading', 0);
  const before = await fileKey(file);
  const known = await remembered(job, before, blob.source);
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

async function convertBlob(job: BlobJob, target: Compression): Promise<BlobResult> {
  const { blob, signal } = job;
  if (blob.actual === null) throw new CacheError('internal', `layer ${blob.source}: no compression known, cannot convert`);
  // The source digest is checked while streaming: a damaged blob fails at its end, before any commit.
  const src = await job.source.readStream(blob.source, { signal, verify: true });
  const diffHash = createHash('sha256');
  const readTap = new Tap((n) => job.report(n === 0 ? 'reading' : 'converting', n));
  const diffTap = new Tap(null, diffHash);
  const writer = job.dest.writer({}, { signal, syncDir: false });
  job.report('reading', 0);
  try {
    await pipeline(src, readTap, createDecompressor(blob.actual), diffTap, createCompressor(target, job.level), writer, { signal });
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

/** A variant made by an earlier export, into this destination or kept next to the source. */
async function findVariant(job: BlobJob, target: Compression): Promise<BlobResult | null> {
  const { blob } = job;
  const key = variantLabel(target, job.level);
  const mine = parseVariant(await job.dest.getLabel(blob.source, key), target);
  const here = mine && (blob.diffID === null || mine.diffID === blob.diffID) ? await usable(job, mine.digest, mine.size) : null;
  if (mine && here) return { outcome: 'exists', converted: mine, bytesRead: here.hashed, bytesWritten: 0 };
  if (job.source.root === job.dest.root) return null;
  const theirs = parseVariant(await job.source.getLabel(blob.source, key).catch(() => null), target);
  if (!theirs || (blob.diffID !== null && theirs.diffID !== blob.diffID)) return null;
  const info = await job.source.info(theirs.digest);
  if (!info || info.size !== theirs.size) return null;
  const variant: BlobPlan = { ...blob, source: theirs.digest, size: theirs.size, action: 'copy' };
  const sub: BlobJob = { ...job, blob: variant };
  const got = job.sameDevice && job.allowLink ? await linkBlob(sub) : await copyBlob(sub);
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
    return convertBlob(job, target);
  }
  const here = await usable(job, blob.source, blob.size);
  if (here) return { outcome: 'exists', converted: null, bytesRead: here.hashed, bytesWritten: 0 };
  if (job.sameDevice && job.allowLink) return linkBlob(job);
  return copyBlob(job);
}
