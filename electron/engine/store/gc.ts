/**
 * Garbage in a local cache layout: blobs that no index.json entry reaches (what BuildKit's `reset=true`
 * deletes) and that no running writer holds in a lease, found by following manifests and indexes from
 * every index.json entry with inspect's own validation (reachable-blobs.ts).
 *
 * The rule that keeps gc and export from losing blobs (leases.ts has the details):
 *  1. A writer takes a lease and adds a blob's digest to it before the blob is written or linked
 *     into blobs/ (or found already there), then tags it (putTag, under index.json.lock, which also
 *     checks `requireBlobs`), then releases the lease.
 *  2. gc (unless a dry run) holds index.json.lock from before it reads index.json until it has
 *     finished deleting; it lists blobs/ first and reads the leases after, and keeps every blob a
 *     live lease names. A lease whose process is gone has expired and is removed.
 * No timestamps are read or written: touching a hard-linked blob would change the source's mtime.
 *
 * Left-overs gc also clears: ingest files whose writer (the pid in their name) holds no live lease
 * and is not running, and labels (`.cachescope/labels`) that describe deleted or absent blobs.
 */
import { lstat, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import type { GcReport } from '../../../shared/contract/requests';
import type { OrphanEntry } from '../../../shared/cache/view-types';
import { digestProblem, isDigest, parseDigest } from '../../../shared/oci/digest';
import { writeFileAtomic } from './atomic-file';
import { INGEST_DIR, META_DIR } from './content-store';
import { pidAlive, withLock } from './file-lock';
import type { LockOptions } from './file-lock';
import { INDEX_FILE, errnoText, indexLockPath, readIndex } from './layout-index';
import type { IndexDocument } from './layout-index';
import { readLiveLeases } from './leases';
import type { LiveLeases } from './leases';
import { MAX_FOLLOW_BYTES, reachableDigests, startsWithBrace } from './reachable-blobs';

export { MAX_FOLLOW_BYTES, reachableDigests } from './reachable-blobs';

const SUPPORTED_ALGORITHMS = new Set(['sha256', 'sha512']);
/** Labels naming a blob's converted variant (export-blobs.ts): meaningful while the variant exists. */
const VARIANT_LABEL_PREFIX = 'cachescope.io/variant.';
/** Our ingest names: `cachescope-<pid>-<hex>[.link|.copy]` (content-store.ts, copy-workers.ts). */
const OUR_INGEST = /^cachescope-(\d+)-[0-9a-f]+(\.[a-z]+)?$/;

export interface GcOptions extends LockOptions {
  dryRun?: boolean;
  /**
   * A folder with blobs/ but no index.json (a first export that failed before tagging): treat every
   * blob no live lease holds as garbage. Without it gc refuses such a folder.
   */
  noIndex?: boolean;
}

export interface GcResult extends GcReport {
  /** Paths under blobs/ (relative to the layout) that are not valid digests or not regular files; never deleted. */
  skipped: string[];
  /** Unreachable blobs kept because a live lease holds them (an export in progress). */
  leased: { digest: string; size: number }[];
  /** Reachable blob count, for the report line. */
  reachable: number;
  /** True when the folder had no index.json and `noIndex` let gc treat every unleased blob as garbage. */
  noIndex: boolean;
  leases: { live: number; expired: number };
  /** Names under ingest/ deleted (or, in a dry run, that would be): leftovers of writers that are gone. */
  ingest: string[];
  /** Label entries dropped because the blob they describe (or the variant they name) is gone. */
  labels: number;
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
}

interface Listing {
  blobs: BlobFile[];
  skipped: string[];
  /** False when there is no blobs/ folder at all. */
  exists: boolean;
}

/** Every regular file under blobs/<alg>/ whose name is a valid digest; everything else is listed as skipped. */
async function listBlobs(dir: string, signal?: AbortSignal): Promise<Listing> {
  const blobsDir = join(dir, 'blobs');
  const out: Listing = { blobs: [], skipped: [], exists: true };
  let algs: string[];
  try {
    algs = await readdir(blobsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...out, exists: false };
    throw new CacheError('io', `cannot list ${blobsDir}: ${errnoText(err)}`, { file: blobsDir });
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
      out.blobs.push({ digest, file, size: fst.size });
    }
  }
  return out;
}

function formatSize(bytes: number): string {
  return bytes < 1 << 20 ? `${bytes} bytes` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** index.json, or null when the folder has none but does have blobs/ (checked by the caller). */
async function readIndexForGc(dir: string): Promise<IndexDocument | null> {
  try {
    return await readIndex(dir, { requireManifests: true });
  } catch (err) {
    if (err instanceof CacheError && err.code === 'invalid-source' && err.details?.file === join(dir, INDEX_FILE) && !err.details?.field) return null;
    throw err;
  }
}

/**
 * Deletes unreachable, unleased blobs under index.json.lock. A dry run takes no lock and writes
 * nothing at all (so it works on read-only layouts): index.json is only ever replaced by rename, so
 * reading it without the lock still sees one whole version, and a report cannot lose anything.
 */
export async function collectGarbage(dir: string, options: GcOptions = {}): Promise<GcResult> {
  const dryRun = options.dryRun === true;
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new CacheError('not-found', `${dir}: no such folder`, { path: dir });
    throw new CacheError('io', `cannot use ${dir}: ${errnoText(err)}`, { path: dir });
  });
  if (!st.isDirectory()) throw new CacheError('invalid-source', `${dir} is not a folder: gc works on an OCI layout folder`, { path: dir });
  const underLock = <T>(fn: () => Promise<T>): Promise<T> => (dryRun ? fn() : withLock(indexLockPath(dir), fn, options));
  return underLock(async () => {
    const index = await readIndexForGc(dir);
    const { reachable, unfollowed } = index ? await reachableDigests(dir, index, { signal: options.signal, strict: true }) : { reachable: new Set<string>(), unfollowed: [] };
    const listing = await listBlobs(dir, options.signal);
    // Leases are read after the listing: a blob in the listing was leased before it was published.
    // A refusal below must change nothing, expired leases included.
    const leases = await readLiveLeases(dir, { removeExpired: !dryRun && (index !== null || options.noIndex === true) });
    if (index === null) refuseWithoutIndex(dir, listing, leases, options.noIndex === true);
    // A reachable manifest that is absent references blobs nobody can name: deleting any blob could
    // delete one of them, so refuse (nothing to delete is fine: a layout of only index.json).
    const candidates = listing.blobs.filter((b) => !reachable.has(b.digest) && !leases.digests.has(b.digest));
    if (unfollowed.length > 0 && candidates.length > 0) {
      throw new CacheError(
        'missing-blob',
        `refusing to collect garbage in ${dir}: ${unfollowed.join(', ')} ${unfollowed.length === 1 ? 'is' : 'are'} not in blobs/, so what ${unfollowed.length === 1 ? 'it references is' : 'they reference is'} unknown and any of the ${candidates.length} unreferenced blob(s) may belong to it; restore the manifest or remove its index.json entry, then run gc again`,
        { file: join(dir, INDEX_FILE), unfollowed, candidates: candidates.length },
      );
    }
    const deleted: { digest: string; size: number }[] = [];
    const leased: { digest: string; size: number }[] = [];
    let bytes = 0;
    for (const b of listing.blobs) {
      if (reachable.has(b.digest)) continue;
      if (leases.digests.has(b.digest)) {
        leased.push({ digest: b.digest, size: b.size });
        continue;
      }
      options.signal?.throwIfAborted();
      if (!dryRun) {
        try {
          await unlink(b.file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // someone else removed it
          throw new CacheError('io', `cannot delete ${b.file}: ${errnoText(err)}`, { file: b.file, deletedSoFar: deleted.length });
        }
      }
      deleted.push({ digest: b.digest, size: b.size });
      bytes += b.size;
    }
    const ingest = await clearIngest(dir, leases, dryRun);
    const labels = await clearLabels(dir, new Set(deleted.map((d) => d.digest)), dryRun);
    return {
      dryRun,
      blobs: deleted.length,
      bytes,
      deleted,
      skipped: listing.skipped,
      leased,
      reachable: reachable.size,
      noIndex: index === null,
      leases: { live: leases.live.length, expired: leases.expired.length },
      ingest,
      labels,
    };
  });
}

/** Without index.json nothing says what is in use: delete only when asked to, and say why not otherwise. */
function refuseWithoutIndex(dir: string, listing: Listing, leases: LiveLeases, allowed: boolean): void {
  const file = join(dir, INDEX_FILE);
  if (!listing.exists) throw new CacheError('invalid-source', `${dir} is not an OCI layout: ${file} does not exist and there is no blobs/ folder`, { file });
  if (allowed) return;
  const total = listing.blobs.reduce((a, b) => a + b.size, 0);
  const held = leases.live.length > 0 ? `; ${leases.live.length} running export(s) hold a lease on it (pid ${leases.live.map((l) => l.process.pid).join(', ')}), their blobs are kept either way` : '';
  throw new CacheError(
    'invalid-source',
    `${dir} has no index.json, so nothing says which of its ${listing.blobs.length} blob(s) (${formatSize(total)}) are in use; a first export that failed before tagging leaves this${held}. Run gc with --no-index to delete every blob no running export holds, or export into it again.`,
    { file, blobs: listing.blobs.length, bytes: total },
  );
}

/**
 * Ingest leftovers of dead writers, cleared by an export before it starts: the same owner rule gc
 * uses (pid in the name, live lease or running process), never file times, so a slow writer in
 * another process is never robbed of its partial file.
 */
export async function clearDeadIngests(dir: string): Promise<string[]> {
  return clearIngest(dir, await readLiveLeases(dir), false);
}

/** Deletes ingest leftovers of writers that are gone: no live lease names their pid and it is not running here. */
async function clearIngest(dir: string, leases: LiveLeases, dryRun: boolean): Promise<string[]> {
  const ingestDir = join(dir, INGEST_DIR);
  const names = await readdir(ingestDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.sort()) {
    const m = OUR_INGEST.exec(name);
    // Other tools' names carry no owner we can check: left alone.
    if (!m) continue;
    const pid = Number(m[1]);
    if (leases.pids.has(pid) || pidAlive(pid)) continue;
    if (!dryRun) await rm(join(ingestDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Which label keys still describe something: a variant label while its variant exists, others while their blob does. */
async function keptLabels(labels: Record<string, string>, digest: string, exists: (digest: string) => Promise<boolean>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const own = Object.keys(labels).some((k) => !k.startsWith(VARIANT_LABEL_PREFIX)) ? await exists(digest) : false;
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(VARIANT_LABEL_PREFIX)) {
      let target: unknown;
      try {
        target = (JSON.parse(value) as { digest?: unknown }).digest;
      } catch {
        target = null;
      }
      if (isDigest(target) && (await exists(target))) out[key] = value;
    } else if (own) out[key] = value;
  }
  return out;
}

async function readLabels(file: string): Promise<Record<string, string> | null> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return v as Record<string, string>;
  } catch {
    // Unreadable label files are the store's to report (getLabels); gc leaves them alone.
  }
  return null;
}

/**
 * Drops label entries that describe nothing any more. A label file is keyed by digest and may name
 * a blob absent here on purpose: variant labels sit on the *source* digest of a conversion. A blob
 * counts as existing if it is on disk now or leased (read afresh): an export may be writing it and
 * its labels right now, so gc's own listing is not enough.
 */
async function clearLabels(dir: string, deleted: Set<string>, dryRun: boolean): Promise<number> {
  const root = join(dir, META_DIR, 'labels');
  const leased = (await readLiveLeases(dir)).digests;
  const exists = async (d: string): Promise<boolean> => {
    if (leased.has(d)) return true;
    if (dryRun && deleted.has(d)) return false;
    const { algorithm, hex } = parseDigest(d);
    return (await lstat(join(dir, 'blobs', algorithm, hex)).catch(() => null))?.isFile() === true;
  };
  let dropped = 0;
  for (const alg of await readdir(root).catch(() => [] as string[])) {
    if (!SUPPORTED_ALGORITHMS.has(alg)) continue;
    for (const name of await readdir(join(root, alg)).catch(() => [] as string[])) {
      const digest = `${alg}:${name.replace(/\.json$/, '')}`;
      if (!name.endsWith('.json') || !isDigest(digest)) continue;
      const file = join(root, alg, name);
      const labels = await readLabels(file);
      if (labels === null) continue;
      const remaining = await keptLabels(labels, digest, exists);
      const lost = Object.keys(labels).length - Object.keys(remaining).length;
      if (lost === 0) continue;
      dropped += lost;
      if (dryRun) continue;
      // The same per-file lock as the store's setLabel, so a concurrent export's new key is not lost.
      await withLock(
        `${file}.lock`,
        async () => {
          const now = await readLabels(file);
          if (now === null) return;
          const keep = await keptLabels(now, digest, exists);
          if (Object.keys(keep).length === 0) await unlink(file).catch(() => undefined);
          else if (Object.keys(keep).length !== Object.keys(now).length) await writeFileAtomic(file, JSON.stringify(keep));
        },
        { timeoutMs: 10_000, staleMs: 10_000 },
      );
    }
  }
  return dropped;
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

/** Unreachable blobs no running export holds, with a guessed kind; reads only, takes no lock, deletes nothing. */
export async function findOrphans(dir: string, options: { signal?: AbortSignal } = {}): Promise<OrphanResult> {
  let index: IndexDocument;
  try {
    index = await readIndex(dir);
  } catch (err) {
    if (err instanceof CacheError && err.code === 'invalid-source' && err.details?.file === join(dir, INDEX_FILE) && !err.details?.field) {
      return { items: [], bytes: 0, skipped: [], noIndex: true, problems: [] };
    }
    throw err;
  }
  const { reachable, problems } = await reachableDigests(dir, index, { signal: options.signal, strict: false });
  const listing = await listBlobs(dir, options.signal);
  const leases = await readLiveLeases(dir).catch(() => null);
  const items: OrphanEntry[] = [];
  let bytes = 0;
  for (const b of listing.blobs) {
    if (reachable.has(b.digest) || leases?.digests.has(b.digest)) continue;
    items.push({ digest: b.digest, size: b.size, kind: await guessKind(b.file, b.size) });
    bytes += b.size;
  }
  return { items, bytes, skipped: listing.skipped, noIndex: false, problems };
}

