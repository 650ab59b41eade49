/**
 * BuildKit's cache exporter (`--cache-to type=local`), run from any opened cache into a local OCI
 * layout: layers (copied, hard-linked or converted), then the config, then the cache manifest, then
 * the tag in index.json. Crash safety comes from the order and the store: every blob appears whole
 * (ingest + fsync + rename) or not at all, and index.json changes last, atomically, under its lock,
 * so an interrupted export leaves the old index.json in force and the next run reuses what is done.
 * Every blob is verified before it is linked, copied or reused (export-blobs.ts). Source blobs are
 * read only through the opened source's `blobs` (sources/source-blobs.ts), so a registry source is
 * pulled the same way: each layer downloads into the per-user blob cache (in parallel, bounded by
 * the registry client's per-host limit; a killed pull resumes there), then is linked or copied.
 * Nothing is written outside the destination but the per-user record of verifications
 * (verify-memo.ts) and that blob cache: the source layout is only read.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { describeLevel, resolveExportOptions } from '../../../shared/export/options';
import type { ResolvedExportOptions } from '../../../shared/export/options';
import {
  buildExportConfig,
  buildExportManifest,
  exportChains,
  exportLayerDescriptors,
  missingBlobsMessage,
  planExport,
  previewFromPlan,
} from '../../../shared/export/plan-export';
import type { BlobFacts, ConvertedBlob, ExportPlan } from '../../../shared/export/plan-export';
import type { ExportOptions, ExportPreview, ExportProgress, ExportResult } from '../../../shared/export/types';
import { MediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { makeDirs } from '../store/atomic-file';
import { sniffCompression } from './compression';
import { openContentStore } from '../store/content-store';
import type { ContentStore } from '../store/content-store';
import { CopyPool, WORKER_COPY_MIN_BYTES } from './copy-workers';
import { exportBlob } from './export-blobs';
import { pool } from './lane-pool';
import type { SourceBlobs } from '../sources/source-blobs';
import { clearDeadIngests } from '../store/gc';
import type { BlobOutcome, BlobResult, VerifyMode } from './export-blobs';
import { ProgressTracker, systemClock } from './export-progress';
import type { Clock } from './export-progress';
import { INDEX_FILE, parseIndexText, putTag, tagProblem } from '../store/layout-index';
import { acquireLease } from '../store/leases';
import type { Lease } from '../store/leases';
import type { OpenedSource } from '../sources/open-cache';
import { openVerifyMemo } from '../store/verify-memo';
import { distributionSourceOf } from '../sources/registry-source';
import { exportPushWarnings } from '../registry/push-warnings';
import { parseRegistryDestination, pushExport } from './registry-target';
import type { RegistryTarget } from './registry-target';
import type { VerifyMemo } from '../store/verify-memo';

export interface ExportRun {
  opened: OpenedSource;
  dest: string;
  options: ExportOptions;
  signal?: AbortSignal;
  jobId?: string;
  onProgress?: (progress: ExportProgress) => void;
  /** false forces copies where a hard link would do (benchmarks; independent files). Default true. */
  allowLink?: boolean;
  /** Layers converted at once. Default: the CPU count, at least 2 (measured: two zstd streams use both cores). */
  convertConcurrency?: number;
  /** Layers copied or linked at once (I/O bound). Default 4 for a local source, 8 for a registry (the client's per-host limit bounds the downloads). */
  copyConcurrency?: number;
  /** Worker threads that copy and hash large blobs. Default 2 (both cores). */
  copyWorkers?: number;
  clock?: Clock;
  /** Remembered blob verifications; default the per-user cache (verify-memo.ts), null remembers nothing. */
  verifyMemo?: VerifyMemo | null;
  /** Test seam: wraps the destination store (e.g. to inject a failing write). */
  wrapDestStore?: (store: ContentStore) => ContentStore;
  /** Push to a registry instead of writing the layout at `dest` (registry-target.ts). */
  registry?: RegistryTarget;
}

function invalid(message: string, field: string): never {
  throw new CacheError('invalid-options', message, { field });
}

/** Options plus the tag rule, with BuildKit's texts; throws before anything is read or written. */
export function resolveForExport(options: ExportOptions): ResolvedExportOptions {
  const resolved = resolveExportOptions(options);
  const problem = tagProblem(resolved.tag);
  if (problem) invalid(`invalid tag ${JSON.stringify(resolved.tag)}: ${problem}`, 'tag');
  return resolved;
}

/** The source layout's store, read only for its variant labels (its blobs come through SourceBlobs). */
async function sourceLabels(opened: OpenedSource): Promise<ContentStore | null> {
  return opened.layout ? openContentStore(opened.layout.dir) : null;
}

/**
 * Presence (checked now, not at open time) and magic-byte compression of every referenced blob.
 * A local file is sniffed where it lies. A registry blob is not fetched to plan: its media type is
 * taken as it is, and it is checked for presence (HEAD) only when `needPresence` (drop-missing, a
 * preview): otherwise a missing one fails its download with the registry's answer.
 */
async function gatherFacts(opened: OpenedSource, blobs: SourceBlobs, needPresence: boolean, signal?: AbortSignal): Promise<Map<string, BlobFacts>> {
  const sizes = new Map(opened.model.norm.layers.map((l) => [l.blob, opened.model.descriptors.get(l.blob)?.size ?? 0]));
  const facts = new Map<string, BlobFacts>();
  if (blobs.kind === 'registry') {
    await pool([...sizes.keys()], needPresence ? 4 : 1, async (digest) => {
      signal?.throwIfAborted();
      facts.set(digest, { present: needPresence ? await blobs.has(digest, { signal }) : true, detected: null });
    });
    return facts;
  }
  await pool([...sizes.keys()], 16, async (digest) => {
    signal?.throwIfAborted();
    if (!(await blobs.has(digest, { signal }))) {
      facts.set(digest, { present: false, detected: null });
      return;
    }
    const size = sizes.get(digest) ?? 0;
    let detected = null;
    if (size > 0) {
      // A local layout hands out its file without transferring anything; a wrong size is found at export time.
      const file = await blobs.get({ digest, size }, { signal }).catch(() => null);
      if (file) {
        try {
          detected = await sniffCompression(file.path, signal);
        } finally {
          await file.release();
        }
      }
    }
    facts.set(digest, { present: true, detected });
  });
  return facts;
}

async function planFor(opened: OpenedSource, resolved: ResolvedExportOptions, signal?: AbortSignal): Promise<ExportPlan> {
  const facts = await gatherFacts(opened, opened.blobs, true, signal);
  return planExport({ source: opened.model, options: resolved, facts: (d) => facts.get(d) ?? { present: false, detected: null } });
}

/** The registry a preview's `dest` names, or null for a folder (or a destination the export itself will refuse). */
function registryOfDest(dest: string | undefined): string | null {
  if (dest === undefined) return null;
  try {
    return parseRegistryDestination(dest)?.reference.registry ?? null;
  } catch {
    return null;
  }
}

/**
 * What an export would do; invalid options come back as `error` (BuildKit's message), not as a throw.
 * With a `dest`, `warnings` says what a registry destination is known to refuse (push-warnings.ts).
 */
export async function previewExport(opened: OpenedSource, options: ExportOptions, dest?: string): Promise<ExportPreview> {
  const registry = registryOfDest(dest);
  const warned = (plan?: ExportPlan) => (dest === undefined ? {} : { warnings: registry ? exportPushWarnings(opened, options, registry, plan) : [] });
  let resolved: ResolvedExportOptions;
  try {
    resolved = resolveForExport(options);
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    return { layers: [], totalBytes: 0, convertCount: 0, droppedLayers: 0, droppedResults: 0, missingBlobs: [], manifestMediaType: '', tag: options.tag ?? 'latest', error: err.message, empty: false, notes: [], effectiveLevel: null, levelNote: null, ...warned() };
  }
  const plan = await planFor(opened, resolved);
  return { ...previewFromPlan(plan, opened.model), ...warned(plan) };
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** Turns an errno into a sentence that says where and what to do. */
function describeFsError(err: unknown, what: string, path: string): CacheError {
  if (err instanceof CacheError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EEXIST: 'a file is in the way',
  };
  return new CacheError('io', `cannot ${what} ${path}: ${why[code] ?? (err as Error).message}${code ? ` (${code})` : ''}`, { file: path, ...(code ? { errno: code } : {}) });
}

/** ENOSPC anywhere in an error (the store puts the errno in the message and in details). */
function isNoSpace(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; details?: { errno?: unknown } };
  return e.code === 'ENOSPC' || e.details?.errno === 'ENOSPC' || (typeof e.message === 'string' && e.message.includes('ENOSPC'));
}

/** BuildKit's wrappers (`error writing layer blob: …`), keeping the code, and an unmistakable ENOSPC. */
function wrapWriteError(err: unknown, wrapper: string, dest: string): unknown {
  if ((err as Error)?.name === 'AbortError') return err;
  if (isNoSpace(err)) {
    return new CacheError('io', `${wrapper}: no space left on the device that holds ${dest} (ENOSPC); free some space and run the export again, completed blobs will be reused`, { dest, errno: 'ENOSPC' });
  }
  if (err instanceof CacheError) return new CacheError(err.code, `${wrapper}: ${err.message}`, err.details);
  return new CacheError('io', `${wrapper}: ${(err as Error)?.message ?? String(err)}`, { dest });
}

/** verify unset: verify, trusting remembered verifications; verify=true: hash everything; verify=false: sizes only. */
export function verifyMode(options: ExportOptions): VerifyMode {
  return options.verify === false ? 'off' : options.verify === true ? 'always' : 'remembered';
}

/**
 * A target index.json that cannot be read as one is refused before any blob is written: the tag
 * could never be added, and the blobs would be left with nothing pointing at them.
 */
async function checkDestIndex(dest: string): Promise<void> {
  const file = resolve(dest, INDEX_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw describeFsError(err, 'read', file);
  }
  // BuildKit treats an empty index.json like a missing one (putTag does too).
  if (text.length === 0) return;
  try {
    parseIndexText(text, file);
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    throw new CacheError(err.code, `${err.message}; nothing was exported (fix or remove ${file} first)`, { ...err.details, file });
  }
}

async function prepareDest(dest: string): Promise<void> {
  let st;
  try {
    st = await stat(dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw describeFsError(err, 'use the destination', dest);
  }
  if (st && !st.isDirectory()) invalid(`destination ${dest} is a file, not a folder: give a new or existing folder for the OCI layout`, 'dest');
  try {
    // blobs/sha256 and ingest now, so an unwritable destination fails before any conversion starts.
    // makeDirs, not mkdir -p: on a read-only mount Node's recursive mkdir says ENOENT, not EROFS.
    await makeDirs(resolve(dest, 'blobs', 'sha256'));
    await makeDirs(resolve(dest, 'ingest'));
  } catch (err) {
    throw describeFsError(err, 'create the OCI layout in', dest);
  }
}

const OUTCOME_STATE: Record<BlobOutcome, 'exists' | 'linked' | 'done'> = { exists: 'exists', linked: 'linked', copied: 'done', converted: 'done', reused: 'done' };

/** A blob looked up in the target (a remembered variant) may be reused: lease it before the lookup. */
function leaseLookups(store: ContentStore, lease: Lease): ContentStore {
  const leasing = Object.create(store) as ContentStore;
  leasing.info = async (digest: string) => {
    await lease.add([digest]);
    return store.info(digest);
  };
  return leasing;
}

/** Runs one export to the end. Resolves with the `cache.manifest` descriptor, or rejects with a CacheError. */
export async function runExport(run: ExportRun): Promise<ExportResult> {
  const started = performance.now();
  const clock = run.clock ?? systemClock;
  const dest = resolve(run.dest);
  const resolved = resolveForExport(run.options);
  const tracker = new ProgressTracker(run.jobId ?? 'export', (p) => run.onProgress?.(p), clock);
  const inner = new AbortController();
  const onOuterAbort = () => inner.abort(run.signal!.reason);
  if (run.signal?.aborted) inner.abort(run.signal.reason);
  run.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = inner.signal;
  // Every stream, writer and worker job of every lane listens to this one signal.
  setMaxListeners(0, signal);
  const copyPool = new CopyPool(run.copyWorkers ?? 2);
  let lease: Lease | null = null;
  try {
    const { opened } = run;
    const srcBlobs = opened.blobs;
    const labels = await sourceLabels(opened);
    // Refuse a file as destination before reading anything big, but create nothing yet.
    const destStat = run.registry ? null : await stat(dest).catch(() => null);
    if (destStat && !destStat.isDirectory()) invalid(`destination ${dest} is a file, not a folder: give a new or existing folder for the OCI layout`, 'dest');
    tracker.line('preparing build cache for export');
    // A level BuildKit's encoder maps to another (zstd 22 runs as 11) is said once, before any work.
    if (resolved.requestedLevel !== null && resolved.requestedLevel !== resolved.level) {
      const note = describeLevel(resolved);
      if (note) tracker.line(note);
    }
    const facts = await gatherFacts(opened, srcBlobs, resolved.dropMissing, signal);
    // Layers read from a registry carry its distribution-source annotation in the manifest, as BuildKit writes it.
    const plan = planExport({ source: opened.model, options: resolved, facts: (d) => facts.get(d) ?? { present: false, detected: null }, distributionSource: distributionSourceOf(opened) });
    if (plan.missing.length > 0 && !resolved.dropMissing) {
      // BuildKit's Finalize stops at the first `missing blob`; listing them all saves round trips.
      throw new CacheError('missing-blob', missingBlobsMessage(plan.missing), { missing: plan.missing });
    }
    const base = { dest, tag: resolved.tag, bytesRead: 0, bytesWritten: 0 };
    if (!plan.empty && !run.registry) await checkDestIndex(dest);
    if (plan.empty) {
      tracker.line('skipping cache export for empty result');
      return { ...base, descriptor: null, skipped: true, config: null, counts: { written: 0, converted: 0, linked: 0, exists: 0, reused: 0 }, durationMs: performance.now() - started };
    }
    if (run.registry) {
      // A registry target: the same plan, config and manifest, pushed instead of written (registry-target.ts).
      const verify = verifyMode(run.options);
      const memo = run.verifyMemo === undefined ? openVerifyMemo() : run.verifyMemo;
      return await pushExport({
        target: run.registry,
        opened,
        plan,
        resolved,
        tracker,
        signal,
        started,
        verify,
        memo,
        convert: async (b, stagingDir) => {
          await prepareDest(stagingDir);
          const staged = await openContentStore(stagingDir);
          const result = await exportBlob({
            blob: b,
            blobs: srcBlobs,
            sourceLabels: labels,
            sourceRoot: opened.layout?.dir ?? null,
            dest: staged,
            destDev: (await stat(stagingDir)).dev,
            allowLink: false,
            verify,
            memo,
            level: resolved.level,
            signal,
            copyPool,
            report: (state, bytesDone) => tracker.layer(b.source, { state, ...(bytesDone === undefined ? {} : { bytesDone }) }),
          });
          if (!result.converted) throw new CacheError('io', `converting layer ${b.source} for the registry gave no converted blob`, { blob: b.source });
          return { converted: result.converted, path: staged.blobPath(result.converted.digest), bytesRead: result.bytesRead };
        },
      });
    }
    await prepareDest(dest);
    // Leases (leases.ts): whatever this export publishes or looks up in the target is leased first,
    // so a concurrent gc keeps it until index.json names it; released in `finally`.
    lease = await acquireLease(dest, { purpose: `export ${resolved.tag}` });
    const held = lease;
    await held.add(plan.blobs.map((b) => b.source));
    const published = await openContentStore(dest, { beforePublish: (d) => held.add([d]) });
    const rawDest = leaseLookups(published, held);
    // Leftovers of killed runs sit in ingest/ (never in blobs/): removed when their writer's pid holds
    // no live lease and is not running, the rule gc applies.
    await clearDeadIngests(dest).catch(() => undefined);
    const store = run.wrapDestStore ? run.wrapDestStore(rawDest) : rawDest;
    const destDev = (await stat(dest)).dev;
    // Only a local layout's device is known before its blobs are fetched (a registry's land in the blob cache).
    const sameDevice = opened.layout !== null && (await stat(opened.layout.dir)).dev === destDev;
    const fromRegistry = srcBlobs.kind === 'registry';
    for (const b of plan.blobs) tracker.addLayer(b.source, b.size);
    if (!fromRegistry && plan.blobs.some((b) => b.action === 'copy' && (!sameDevice || run.allowLink === false) && b.size >= WORKER_COPY_MIN_BYTES)) copyPool.warm();

    const verify = verifyMode(run.options);
    const memo = run.verifyMemo === undefined ? openVerifyMemo() : run.verifyMemo;
    const converted = new Map<string, ConvertedBlob>();
    const counts = { written: 0, converted: 0, linked: 0, exists: 0, reused: 0 };
    let bytesRead = 0;
    let bytesWritten = 0;
    const layerPhase = async (only?: Set<string>) => {
      const blobs = only ? plan.blobs.filter((b) => only.has(b.source) || (converted.get(b.source) && only.has(converted.get(b.source)!.digest))) : plan.blobs;
      const work = async (b: (typeof plan.blobs)[number]) => {
        signal.throwIfAborted();
        // BuildKit names the digest written; a conversion's is known only at its end.
        if (b.action !== 'convert') tracker.line(`writing layer ${b.source}`);
        let result: BlobResult;
        try {
          result = await exportBlob({
            blob: b,
            blobs: srcBlobs,
            sourceLabels: labels,
            sourceRoot: opened.layout?.dir ?? null,
            dest: store,
            destDev,
            allowLink: run.allowLink !== false,
            verify,
            memo,
            level: resolved.level,
            signal,
            copyPool,
            report: (state, bytesDone) => tracker.layer(b.source, { state, ...(bytesDone === undefined ? {} : { bytesDone }) }),
            onOrigin: (origin, resumedFrom) => tracker.layer(b.source, { origin, ...(resumedFrom === null ? {} : { resumedFrom }) }),
          });
        } catch (err) {
          if (signal.aborted) {
            // Another layer failed first, or the user cancelled: this one only stopped.
            tracker.layer(b.source, { state: 'failed', error: run.signal?.aborted ? 'cancelled' : 'stopped: another layer failed' });
            throw err;
          }
          const wrapped = wrapWriteError(err, 'error writing layer blob', dest);
          tracker.layer(b.source, { state: 'failed', error: (wrapped as Error).message ?? String(wrapped) });
          inner.abort(wrapped);
          throw wrapped;
        }
        if (result.converted) tracker.line(`writing layer ${result.converted.digest}`);
        if (result.converted) converted.set(b.source, result.converted);
        bytesRead += result.bytesRead;
        bytesWritten += result.bytesWritten;
        const key = result.outcome === 'copied' ? 'written' : result.outcome;
        counts[key]++;
        const target = result.converted?.digest ?? b.source;
        // Pulled from a registry, a layer ends `done` however it reached the target (a link from the blob cache is a detail).
        const state = fromRegistry && result.outcome !== 'exists' ? 'done' : OUTCOME_STATE[result.outcome];
        tracker.layer(b.source, { state, target, text: `writing layer ${target}` });
      };
      const converting = blobs.filter((b) => b.action === 'convert');
      const copying = blobs.filter((b) => b.action !== 'convert');
      const lanes = [
        pool(converting, run.convertConcurrency ?? Math.max(2, availableParallelism()), work),
        pool(copying, run.copyConcurrency ?? (fromRegistry ? 8 : 4), work),
      ];
      // Every lane settles before we report: no stream is left writing after the export returns.
      const settled = await Promise.allSettled(lanes);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw signal.aborted && signal.reason !== undefined ? signal.reason : (failed as PromiseRejectedResult).reason;
    };
    // A registry source pins every layer in the blob cache with one write before the lanes start,
    // instead of one locked write per layer as each get comes.
    const hold = fromRegistry && srcBlobs.hold ? await srcBlobs.hold(plan.blobs.map((b) => b.source)) : null;
    try {
      await layerPhase();
    } finally {
      await hold?.release().catch(() => undefined);
    }

    const chains = exportChains(plan, opened.model, converted);
    const cfg = buildExportConfig(chains, opened.model.config.format === 'v0' ? opened.texts.config : null);
    const configDesc: Descriptor = { mediaType: MediaType.cacheConfigV0, digest: sha256(cfg.text), size: Buffer.byteLength(cfg.text) };
    const layers = exportLayerDescriptors(plan, opened.model, cfg.sourceBlobs, converted);
    const manifestText = buildExportManifest(resolved, layers, configDesc);
    const manifestDesc: Descriptor = { mediaType: plan.manifestMediaType, digest: sha256(manifestText), size: Buffer.byteLength(manifestText) };
    const writeJson = async (text: string, digest: string, wrapper: string) => {
      try {
        await store.writeBytes(Buffer.from(text), digest, { signal, syncDir: false });
      } catch (err) {
        throw wrapWriteError(err, wrapper, dest);
      }
    };
    tracker.line(`writing config ${configDesc.digest}`);
    await writeJson(cfg.text, configDesc.digest, 'error writing config blob');
    tracker.line(`${resolved.imageManifest ? 'writing cache image manifest' : 'writing cache manifest'} ${manifestDesc.digest}`);
    await writeJson(manifestText, manifestDesc.digest, 'error writing manifest blob');

    const required = [...new Set([...layers.map((d) => d.digest), configDesc.digest, manifestDesc.digest])];
    // Every blob's bytes were fsynced before its rename; one fsync of blobs/ makes the renames durable
    // before index.json points at them (instead of one directory fsync per blob).
    const syncDirs = async () => {
      try {
        await store.syncBlobDirs();
      } catch (err) {
        throw wrapWriteError(err, 'error writing layer blob', dest);
      }
    };
    await syncDirs();
    // The tag is written under index.json.lock after checking the blobs are still there. Leases keep
    // what we wrote; the one gap is a gc that read the leases just before we leased a blob we then
    // found already present. That gc has finished once putTag holds the lock, every later gc sees
    // the lease, so writing the missing blobs again once is enough.
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        await putTag(dest, resolved.tag, manifestDesc, { signal, requireBlobs: required });
        break;
      } catch (err) {
        if (!(err instanceof CacheError) || err.code !== 'missing-blob' || attempt > 0) throw wrapWriteError(err, 'error updating index.json', dest);
        const gone = new Set((err.details?.missing as string[] | undefined) ?? []);
        await layerPhase(gone);
        if (gone.has(configDesc.digest)) await writeJson(cfg.text, configDesc.digest, 'error writing config blob');
        if (gone.has(manifestDesc.digest)) await writeJson(manifestText, manifestDesc.digest, 'error writing manifest blob');
        await syncDirs();
      }
    }
    return {
      ...base,
      descriptor: manifestDesc,
      skipped: false,
      config: configDesc.digest,
      counts,
      bytesRead,
      bytesWritten,
      durationMs: performance.now() - started,
    };
  } catch (err) {
    // An abort surfaces as the reason given to abort(): a CacheError from a failed layer, or cancel.
    if (signal.aborted && run.signal?.aborted) throw new CacheError('cancelled', 'export cancelled; index.json was not changed and completed blobs are kept for the next run');
    throw err;
  } finally {
    await lease?.release().catch(() => undefined);
    run.signal?.removeEventListener('abort', onOuterAbort);
    await copyPool.close();
    tracker.flush();
  }
}
