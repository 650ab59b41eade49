/**
 * Garbage in a local cache layout: blobs that no index.json entry reaches (what BuildKit's `reset=true`
 * deletes), found by following manifests and indexes from every index.json entry.
 *
 * The rule that keeps gc and export from losing blobs (the exporter must follow it):
 *  1. Write every blob first. Content-store commit sets the blob's mtime to "now" (also when the blob
 *     was already there), a new hard link gets a new ctime; a blob reused because `has()` said it
 *     exists must be `touch()`ed.
 *  2. Then take index.json.lock and update index.json (`putTag`), passing the blobs the new manifest
 *     needs as `requireBlobs`: they are checked under the lock.
 * gc (unless a dry run) holds the same lock from before it reads index.json until it has finished
 * deleting, and keeps every blob whose mtime or ctime is at or after gc's start (minus `graceMs`).
 * So a blob written while gc runs survives, and an export whose tag update comes after a gc that
 * removed one of its older blobs fails loudly in putTag (missing-blob) instead of writing an index
 * that dangles; the exporter then rewrites the blob and tags again. That check under the lock is the
 * guarantee; the time rule only spares exports most of those rewrites (file-system clocks are coarse,
 * so it is approximate by a few milliseconds). `graceMs` widens its window.
 */
import { lstat, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../shared/contract/errors';
import type { GcReport } from '../../shared/contract/requests';
import type { OrphanEntry } from '../../shared/cache/view-types';
import { digestProblem, parseDigest } from '../../shared/oci/digest';
import { MediaType, compressionOfMediaType } from '../../shared/oci/media-types';
import { withLock } from './file-lock';
import type { LockOptions } from './file-lock';
import { INDEX_FILE, indexLockPath, readIndex } from './layout-index';
import type { IndexDocument } from './layout-index';

/** Manifests and indexes are small (the largest real cache manifest seen is 43 KB); bigger blobs are treated as layers. */
export const MAX_FOLLOW_BYTES = 4 << 20;
const SUPPORTED_ALGORITHMS = new Set(['sha256', 'sha512']);

export interface GcOptions extends LockOptions {
  dryRun?: boolean;
  /** Also keep blobs modified up to this long before gc started. Default 0. */
  graceMs?: number;
}

export interface GcResult extends GcReport {
  /** Paths under blobs/ (relative to the layout) that are not valid digests or not regular files; never deleted. */
  skipped: string[];
  /** Unreachable blobs kept because they were written after gc started (an export in progress). */
  kept: { digest: string; size: number }[];
  /** Reachable blob count, for the report line. */
  reachable: number;
}

export interface OrphanResult {
  items: OrphanEntry[];
  bytes: number;
  skipped: string[];
  /** True when the folder has no index.json: nothing says which generation is current, so nothing is called an orphan. */
  noIndex: boolean;
  /** Reachable JSON blobs that could not be followed (malformed, too large), so their children count as orphans. */
  problems: string[];
}

interface BlobFile {
  digest: string;
  file: string;
  size: number;
  /** The later of mtime and ctime: when the blob last got new content, a touch or a new link. */
  mtimeMs: number;
}

interface Listing {
  blobs: BlobFile[];
  skipped: string[];
}

/** Media types whose blobs are never followed: layers, cache configs, image configs. */
function isLeafType(mediaType: string): boolean {
  return (
    compressionOfMediaType(mediaType) !== null ||
    mediaType === MediaType.cacheConfigV0 ||
    mediaType === MediaType.legacyBuildCacheV0 ||
    mediaType === MediaType.ociConfig ||
    mediaType === MediaType.dockerConfig
  );
}

function isManifestType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList;
}

function blobFile(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm, hex);
}

/** JSON documents here are objects; checking one byte spares reading megabytes of layer to learn it is not JSON. */
async function startsWithBrace(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const one = Buffer.alloc(1);
    const { bytesRead } = await fh.read(one, 0, 1, 0);
    return bytesRead === 1 && one[0] === 0x7b;
  } finally {
    await fh.close();
  }
}

/** Reads a small JSON blob, or explains why not (absent is not a problem: real caches lack blobs). */
async function readSmallJson(file: string): Promise<{ value: unknown } | { absent: true } | { problem: string }> {
  let st;
  try {
    st = await lstat(file);
  } catch {
    return { absent: true };
  }
  if (!st.isFile()) return { problem: `${file} is not a regular file` };
  if (st.size > MAX_FOLLOW_BYTES) return { problem: `${file} is ${st.size} bytes, over the ${MAX_FOLLOW_BYTES}-byte limit for manifests` };
  try {
    if (!(await startsWithBrace(file))) return { problem: `${file}: not a JSON object` };
    return { value: JSON.parse(await readFile(file, 'utf8')) };
  } catch (err) {
    return { problem: `${file}: not JSON (${(err as Error).message})` };
  }
}

interface Pending {
  digest: string;
  mediaType: string;
  /** Layer and config descriptors of an image manifest are leaves whatever their media type says. */
  leaf: boolean;
}

function descriptorsIn(value: unknown, key: string, leaf: boolean): Pending[] {
  const out: Pending[] = [];
  const list = (value as Record<string, unknown>)[key];
  const items = Array.isArray(list) ? list : list && typeof list === 'object' ? [list] : [];
  for (const d of items) {
    if (!d || typeof d !== 'object') continue;
    const digest = (d as Record<string, unknown>).digest;
    const mediaType = (d as Record<string, unknown>).mediaType;
    if (digestProblem(digest) !== null) continue;
    out.push({ digest: digest as string, mediaType: typeof mediaType === 'string' ? mediaType : '', leaf });
  }
  return out;
}

/**
 * Every digest reachable from index.json. JSON blobs are parsed only when reachable, not a known leaf
 * type and at most 4 MiB. In strict mode (gc) a reachable manifest that cannot be followed stops
 * everything: deleting what it might reference would be guessing.
 */
export async function reachableDigests(dir: string, index: IndexDocument, options: { signal?: AbortSignal; strict: boolean }): Promise<{ reachable: Set<string>; problems: string[] }> {
  const reachable = new Set<string>();
  const problems: string[] = [];
  const queue: Pending[] = index.manifests.map((d) => ({ digest: d.digest, mediaType: d.mediaType, leaf: false }));
  if (index.subject) queue.push({ digest: index.subject.digest, mediaType: index.subject.mediaType, leaf: false });
  while (queue.length > 0) {
    options.signal?.throwIfAborted();
    const next = queue.shift()!;
    if (reachable.has(next.digest)) continue;
    reachable.add(next.digest);
    if (next.leaf || isLeafType(next.mediaType)) continue;
    const file = blobFile(dir, next.digest);
    const got = await readSmallJson(file);
    if ('absent' in got) continue;
    if ('problem' in got) {
      // An unknown media type that is not JSON is most likely a layer; a declared manifest that is not is a real problem.
      if (!isManifestType(next.mediaType)) continue;
      if (options.strict) throw new CacheError('invalid-manifest', `refusing to collect garbage in ${dir}: cannot follow reachable ${next.mediaType} ${next.digest}: ${got.problem}`, { digest: next.digest, file });
      problems.push(`${next.digest}: ${got.problem}`);
      continue;
    }
    const v = got.value;
    if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
    queue.push(...descriptorsIn(v, 'manifests', false), ...descriptorsIn(v, 'config', true), ...descriptorsIn(v, 'layers', true));
  }
  return { reachable, problems };
}

/** Every regular file under blobs/<alg>/ whose name is a valid digest; everything else is listed as skipped. */
async function listBlobs(dir: string, signal?: AbortSignal): Promise<Listing> {
  const blobsDir = join(dir, 'blobs');
  const out: Listing = { blobs: [], skipped: [] };
  let algs: string[];
  try {
    algs = await readdir(blobsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new CacheError('io', `cannot list ${blobsDir}: ${(err as NodeJS.ErrnoException).code}`, { file: blobsDir });
  }
  for (const alg of algs.sort()) {
    const algDir = join(blobsDir, alg);
    const st = await lstat(algDir).catch(() => null);
    if (!st?.isDirectory() || !SUPPORTED_ALGORITHMS.has(alg)) {
      out.skipped.push(`blobs/${alg}`);
      continue;
    }
    for (const name of (await readdir(algDir)).sort()) {
      signal?.throwIfAborted();
      const digest = `${alg}:${name}`;
      const file = join(algDir, name);
      const fst = await lstat(file).catch(() => null);
      if (digestProblem(digest) !== null || !fst?.isFile()) {
        if (fst) out.skipped.push(`blobs/${alg}/${name}`);
        continue;
      }
      // ctime counts too: a blob hard-linked in keeps its source's old mtime, but link(2) sets its ctime.
      out.blobs.push({ digest, file, size: fst.size, mtimeMs: Math.max(fst.mtimeMs, fst.ctimeMs) });
    }
  }
  return out;
}

/**
 * Deletes unreachable blobs under index.json.lock. A dry run takes no lock and writes nothing at all
 * (so it works on read-only layouts): index.json is only ever replaced by rename, so reading it
 * without the lock still sees one whole version, and a report cannot lose anything.
 */
export async function collectGarbage(dir: string, options: GcOptions = {}): Promise<GcResult> {
  // Taken before waiting for the lock: anything written from here on is kept, even if an exporter
  // commits while we wait and tags after we finish.
  const startedAt = Date.now();
  const keepFrom = startedAt - Math.max(0, options.graceMs ?? 0);
  const dryRun = options.dryRun === true;
  const underLock = <T>(fn: () => Promise<T>): Promise<T> => (dryRun ? fn() : withLock(indexLockPath(dir), fn, options));
  return underLock(
    async () => {
      const index = await readIndex(dir);
      const { reachable } = await reachableDigests(dir, index, { signal: options.signal, strict: true });
      const listing = await listBlobs(dir, options.signal);
      const deleted: { digest: string; size: number }[] = [];
      const kept: { digest: string; size: number }[] = [];
      let bytes = 0;
      for (const b of listing.blobs) {
        if (reachable.has(b.digest)) continue;
        // Whole milliseconds, strictly after: a blob stamped in gc's very first millisecond may predate it
        // (file systems stamp with a coarse clock), and requireBlobs in putTag covers anything that slips.
        if (Math.floor(b.mtimeMs) > keepFrom) {
          kept.push({ digest: b.digest, size: b.size });
          continue;
        }
        options.signal?.throwIfAborted();
        if (!dryRun) {
          try {
            await unlink(b.file);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else removed it
            throw new CacheError('io', `cannot delete ${b.file}: ${(err as NodeJS.ErrnoException).code}`, { file: b.file, deletedSoFar: deleted.length });
          }
          await removeLabels(dir, b.digest);
        }
        deleted.push({ digest: b.digest, size: b.size });
        bytes += b.size;
      }
      return { dryRun, blobs: deleted.length, bytes, deleted, skipped: listing.skipped, kept, reachable: reachable.size };
    },
  );
}

/** A deleted blob's "converted variant" labels would point from nothing; drop them with it. */
async function removeLabels(dir: string, digest: string): Promise<void> {
  const { algorithm, hex } = parseDigest(digest);
  await unlink(join(dir, '.cachescope', 'labels', algorithm, `${hex}.json`)).catch(() => undefined);
}

/** What an unreachable blob probably is, from its content: only small JSON is opened. */
async function guessKind(file: string, size: number): Promise<OrphanEntry['kind']> {
  if (size === 0) return 'unknown';
  if (size > MAX_FOLLOW_BYTES) return 'layer';
  let text: string;
  try {
    if (!(await startsWithBrace(file))) return 'layer';
    text = await readFile(file, 'utf8');
  } catch {
    return 'unknown';
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'layer';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'unknown';
  const o = v as Record<string, unknown>;
  // An image config also has a `config` object, but without a digest in it.
  const config = o.config as Record<string, unknown> | null | undefined;
  if ((config && typeof config === 'object' && typeof config.digest === 'string') || Array.isArray(o.manifests)) return 'manifest';
  if ('layers' in o || 'records' in o || Array.isArray(o.Items)) return 'config';
  return 'unknown';
}

/** Unreachable blobs with a guessed kind; reads only, takes no lock, deletes nothing. */
export async function findOrphans(dir: string, options: { signal?: AbortSignal } = {}): Promise<OrphanResult> {
  let index: IndexDocument;
  try {
    index = await readIndex(dir);
  } catch (err) {
    if (err instanceof CacheError && err.code === 'invalid-source' && err.details?.file === join(dir, INDEX_FILE)) {
      return { items: [], bytes: 0, skipped: [], noIndex: true, problems: [] };
    }
    throw err;
  }
  const { reachable, problems } = await reachableDigests(dir, index, { signal: options.signal, strict: false });
  const listing = await listBlobs(dir, options.signal);
  const items: OrphanEntry[] = [];
  let bytes = 0;
  for (const b of listing.blobs) {
    if (reachable.has(b.digest)) continue;
    items.push({ digest: b.digest, size: b.size, kind: await guessKind(b.file, b.size) });
    bytes += b.size;
  }
  return { items, bytes, skipped: listing.skipped, noIndex: false, problems };
}
