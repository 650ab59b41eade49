/**
 * A registry as the export's destination (BuildKit's `--cache-to type=registry`): the exporter's plan,
 * layer files, config and manifest bytes go up instead of into a layout. Order: every layer blob
 * (HEAD first, skipped when present → `exists`; else mounted from another repository of the same
 * registry known to hold it → `mounted`; else uploaded → `uploading`/`resumed` → `done`), then the
 * config, then the manifest by tag with its Content-Type. Mount sources, best first: the source
 * itself when it lives in the same registry, the descriptors' `containerd.io/distribution.source.<host>`
 * annotations (ranked as containerd ranks them), and what this machine pushed before (push-history.ts).
 * A mount the registry answers with 202 (an upload session instead) has that session DELETEd before
 * the next source or the upload. Converted layers are made in a private staging folder first (removed
 * at the end). Upload state for resuming across runs lives in the per-user cache
 * (`$XDG_CACHE_HOME/cachescope/uploads`, or `$CACHESCOPE_CACHE_DIR/uploads`), the push history next to it.
 * Every refusal the registry answers, wherever it comes (the HEAD check, an upload POST, a PATCH or PUT,
 * the manifest), leaves with the registry's words plus `meaning:` and `fix:` (push-advice.ts).
 * Every layer read from the source is verified against its digest before it can land (uploads.ts
 * hashes it on its way out), as the local export verifies before it links or copies: unless
 * verify=false, a download hashed on its way in (verify=true hashes it anyway), or a file the
 * remembered-verification memo (store/verify-memo.ts) knows unchanged; a file hashed here is
 * remembered. Converted layers and the config were hashed as they were made.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import type { ResolvedExportOptions } from '../../../shared/export/options';
import { buildExportConfig, buildExportManifest, exportChains, exportLayerDescriptors } from '../../../shared/export/plan-export';
import type { BlobPlan, ConvertedBlob, ExportPlan } from '../../../shared/export/plan-export';
import type { ExportResult } from '../../../shared/export/types';
import { MediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { createHash } from 'node:crypto';
import { distributionSourceRepos, rankMountCandidates } from '../../../shared/oci/distribution-source';
import { repositoryScope } from '../registry/auth';
import type { RegistryClient } from '../registry/client';
import { explainPushFailure } from '../registry/push-advice';
import { memoryPushHistory, openPushHistory, pushHistoryFileFor } from '../registry/push-history';
import type { PushHistory } from '../registry/push-history';
import { formatReference, parseReference, parseRegistryCacheOption } from '../registry/reference';
import { forgetUpload, headBlobForPush } from '../registry/uploads';
import type { Reference, RepositoryRef } from '../registry/reference';
import type { OpenedSource } from '../sources/open-cache';
import type { SourceBlobFile } from '../sources/source-blobs';
import { fileKey, nowNs, sameKey } from '../store/verify-memo';
import type { FileKey, VerifyMemo } from '../store/verify-memo';
import { missingFromRegistry } from './export-blobs';
import type { VerifyMode } from './export-blobs';
import type { ProgressTracker } from './export-progress';
import { pool } from './lane-pool';

/** Where an export goes when it goes to a registry. */
export interface RegistryDestination {
  reference: Reference;
  insecure: boolean;
  /**
   * Export options written into BuildKit's `type=registry,ref=…,key=value` form (as in a copied
   * `--cache-to`), read like `--opt key=value`; absent for a plain reference.
   */
  attributes?: [string, string][];
}

export interface RegistryTarget extends RegistryDestination {
  client: RegistryClient;
  /** Resumable-upload state folder; default the per-user cache's `uploads/`; null keeps none. */
  stateDir?: string | null;
  /** PATCH chunk size (default 8 MiB). */
  chunkSize?: number;
  /** Blobs pushed at once (default 4, the client's per-host limit). */
  concurrency?: number;
  /** The push-history file (mount sources); default `push-history.json` next to `stateDir`; null keeps none (this run still remembers). */
  historyFile?: string | null;
}

/** Mounts tried per blob before uploading it: each failed try costs a POST and a DELETE. */
export const MAX_MOUNT_TRIES = 3;

/** The per-user folder for upload state (next to the blob cache). */
export function defaultUploadStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CACHESCOPE_CACHE_DIR) return join(env.CACHESCOPE_CACHE_DIR, 'uploads');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cachescope', 'uploads');
}

/**
 * A destination string that names a registry: `type=registry,ref=…[,registry.insecure=true]`, or
 * `host[:port]/repo[:tag]` whose first component is a registry host (has `.` or `:`, or is
 * `localhost`) and is not an existing path. Anything else is a local folder (null).
 */
export function parseRegistryDestination(text: string): RegistryDestination | null {
  if (/^type=/i.test(text.trim())) {
    const opt = parseRegistryCacheOption(text);
    if (opt.reference.digest) throw new CacheError('invalid-options', `${text}: a registry destination takes a tag, not a digest`, { field: 'ref' });
    const attributes = destinationAttributes(text, opt.attributes);
    return { reference: opt.reference, insecure: opt.insecure, ...(attributes.length > 0 ? { attributes } : {}) };
  }
  if (existsSync(text) || /^[./~\\]/.test(text) || /^[A-Za-z]:[\\/]/.test(text)) return null;
  const slash = text.indexOf('/');
  if (slash <= 0) return null;
  const first = text.slice(0, slash);
  if (!(/[.:]/.test(first) || first === 'localhost') || existsSync(first)) return null;
  const reference = parseReference(text);
  if (reference.digest) throw new CacheError('invalid-options', `${text}: a registry destination takes a tag, not a digest`, { field: 'ref' });
  return { reference, insecure: false };
}

/**
 * The export options of BuildKit's `--cache-to type=registry,…` form besides ref and
 * registry.insecure (`image-manifest`, `oci-mediatypes`, `compression`…), to be read like `--opt`
 * (the options parser refuses an unknown one by name). `mode=max` is what exporting an existing
 * cache does anyway (every record it holds); any other mode is refused.
 */
function destinationAttributes(text: string, attributes: Readonly<Record<string, string>>): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'mode') {
      if (value.toLowerCase() === 'max') continue;
      throw new CacheError('invalid-options', `${text}: mode=${value} is BuildKit's choice of records while building; an existing cache is exported whole (mode=max)`, { field: key });
    }
    out.push([key, value]);
  }
  return out;
}

/**
 * `--opt`-style options with a registry destination's own attributes added: the same key in both
 * places must say the same thing (else refused, naming both), as a tag does.
 */
export function withDestinationAttributes(attrs: ReadonlyArray<readonly [string, string]>, registry: RegistryDestination | null): [string, string][] {
  const out = attrs.map(([k, v]) => [k, v] as [string, string]);
  for (const [key, value] of registry?.attributes ?? []) {
    const given = out.find(([k]) => k === key);
    if (given && given[1] !== value) {
      throw new CacheError('invalid-options', `${key} given twice: "${value}" in the destination and "${given[1]}" in --opt ${key}=`, { field: key });
    }
    if (!given) out.push([key, value]);
  }
  return out;
}

/** The exporter's pieces a registry push needs. */
export interface RegistryPushJob {
  target: RegistryTarget;
  opened: OpenedSource;
  plan: ExportPlan;
  resolved: ResolvedExportOptions;
  tracker: ProgressTracker;
  signal: AbortSignal;
  started: number;
  /** `remembered` (default): hash unless the memo knows the file; `always`: hash every layer; `off`: sizes only. */
  verify?: VerifyMode;
  /** The remembered-verification memo (null or absent: none, so every layer is hashed). */
  memo?: VerifyMemo | null;
  /** Converts a layer into `stagingDir` (the exporter's exportBlob), returning the new blob's file. */
  convert: (blob: BlobPlan, stagingDir: string) => Promise<{ converted: ConvertedBlob; path: string; bytesRead: number }>;
}

/** Must pushBlob hash this source file? (see the module comment) `key` is the file as it was before. */
async function needsHash(job: RegistryPushJob, got: SourceBlobFile): Promise<{ hash: boolean; key: FileKey | null }> {
  const verify = job.verify ?? 'remembered';
  if (verify === 'off') return { hash: false, key: null };
  // The blob cache hashed a download on its way in.
  if (got.outcome === 'downloaded' && verify !== 'always') return { hash: false, key: null };
  const key = await fileKey(got.path);
  if (verify === 'remembered' && job.memo && key && (await job.memo.known(key, got.digest))) return { hash: false, key };
  return { hash: true, key };
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The same registry, and not the same repository: the source's blobs can be mounted. */
function mountSource(opened: OpenedSource, target: Reference): string | null {
  if (!opened.registry || opened.blobs.kind !== 'registry') return null;
  let src: Reference;
  try {
    src = parseReference(opened.registry.reference);
  } catch {
    return null;
  }
  if (src.registry.toLowerCase() !== target.registry.toLowerCase() || src.repository === target.repository) return null;
  return src.repository;
}

/**
 * Cancels an upload session the registry opened (a mount answered 202, or an aborted upload): DELETE
 * on its Location. Best effort: a registry that cannot cancel (405) or already forgot it (404) purges
 * stale sessions itself; distribution 2.8 also cancels the session when a stale Location is used.
 */
export async function cancelUploadSession(client: RegistryClient, repo: RepositoryRef, location: string): Promise<number | null> {
  try {
    const res = await client.uploadRequest(repo.registry, location, {
      method: 'DELETE',
      scopes: [repositoryScope(repo.repository, 'pull,push')],
      retry: false,
      action: `DELETE upload session on ${repo.registry}/${repo.repository}`,
    });
    // Read to its end (short): the connection is kept for the next request.
    await res.text().catch(() => res.discard());
    return res.status;
  } catch {
    return null;
  }
}

/**
 * Repositories of the target's registry to try a mount from, best first: the source itself (same
 * registry), then the annotations' and the history's, ranked by shared leading path components.
 */
export function mountCandidates(target: RepositoryRef, digest: string, sourceRepo: string | null, annotations: Readonly<Record<string, string>> | undefined, history: PushHistory | null): string[] {
  const known = [...distributionSourceRepos(annotations, target.registry), ...(history?.repositories(target.registry, digest) ?? [])];
  const ranked = rankMountCandidates(target.repository, known);
  const all = sourceRepo ? [sourceRepo, ...ranked.filter((r) => r !== sourceRepo)] : ranked;
  return all.filter((r) => r !== target.repository).slice(0, MAX_MOUNT_TRIES);
}

async function openHistory(target: RegistryTarget, stateDir: string | null): Promise<PushHistory> {
  const file = target.historyFile === undefined ? (stateDir ? pushHistoryFileFor(stateDir) : null) : target.historyFile;
  return file ? openPushHistory(file) : memoryPushHistory();
}

/** See the module comment. */
export async function pushExport(job: RegistryPushJob): Promise<ExportResult> {
  const { target, opened, plan, resolved, tracker, signal } = job;
  const ref: Reference = { registry: target.reference.registry, repository: target.reference.repository, tag: resolved.tag };
  const repo = { registry: ref.registry, repository: ref.repository };
  const dest = formatReference({ registry: ref.registry, repository: ref.repository });
  const client = target.client;
  const stateDir = target.stateDir === undefined ? defaultUploadStateDir() : target.stateDir;
  const from = mountSource(opened, ref);
  const history = await openHistory(target, stateDir);
  const remember = (digest: string) => void history.record(ref.registry, ref.repository, [digest]);
  // Sources that refused a mount outright (401/403: no pull there) are not asked again this run.
  const refused = new Set<string>();
  /** HEAD, then mounts: 'exists', 'mounted', or null (upload it). */
  const place = async (digest: string, annotations: Readonly<Record<string, string>> | undefined, sourceRepo: string | null): Promise<'exists' | 'mounted' | null> => {
    if (await headBlobForPush(client, repo, digest, signal)) {
      // A run killed between its final PUT and forgetting the upload state leaves a stale file.
      await forgetUpload(stateDir, repo, digest);
      remember(digest);
      return 'exists';
    }
    for (const candidate of mountCandidates(repo, digest, sourceRepo, annotations, history)) {
      if (refused.has(candidate)) continue;
      signal.throwIfAborted();
      // 401/403 (no pull on that repository) or another refusal: try the next source, then upload.
      const tried = await client.mountBlob(repo, digest, candidate, { signal }).catch((err: unknown) => {
        if (signal.aborted) throw err;
        return null;
      });
      if (tried?.mounted) {
        await forgetUpload(stateDir, repo, digest);
        remember(digest);
        return 'mounted';
      }
      // 202: the registry opened an upload session instead; cancel it rather than leave it behind.
      if (tried?.location) await cancelUploadSession(client, repo, tried.location);
      else refused.add(candidate);
    }
    return null;
  };
  const converted = new Map<string, ConvertedBlob>();
  const counts = { written: 0, converted: 0, linked: 0, exists: 0, reused: 0, mounted: 0, resumed: 0 };
  let bytesRead = 0;
  let bytesWritten = 0;
  let staging: string | null = null;
  const stagingDir = async () => (staging ??= await mkdtemp(join(tmpdir(), 'cachescope-push-')));
  for (const b of plan.blobs) tracker.addLayer(b.source, b.size);
  try {
    const push = async (desc: Pick<Descriptor, 'digest' | 'size'>, path: string, layer: string | null, mount: string | null, skipHead: boolean, verified: boolean) => {
      const result = await client.pushBlob(repo, desc, path, {
        signal,
        skipHead,
        verified,
        mountFrom: mount,
        stateDir,
        chunkSize: target.chunkSize,
        onState: (state, offset) => layer && tracker.layer(layer, { state, bytesDone: offset }),
        onProgress: (bytes) => layer && tracker.layer(layer, { bytesDone: bytes }),
      });
      bytesWritten += result.bytesSent;
      return result;
    };
    await pool(plan.blobs, target.concurrency ?? 4, async (b) => {
      signal.throwIfAborted();
      try {
        if (b.action !== 'convert') tracker.line(`writing layer ${b.source}`);
        let file: { path: string; release?: () => Promise<void>; hash: boolean; key: FileKey | null };
        let desc: Pick<Descriptor, 'digest' | 'size'> = { digest: b.source, size: b.size };
        if (b.action === 'convert') {
          tracker.layer(b.source, { state: 'converting' });
          const made = await job.convert(b, await stagingDir());
          converted.set(b.source, made.converted);
          bytesRead += made.bytesRead;
          counts.converted++;
          desc = { digest: made.converted.digest, size: made.converted.size };
          tracker.line(`writing layer ${desc.digest}`);
          // The same conversion pushed before (history) mounts like any other blob.
          const placed = await place(desc.digest, undefined, null);
          if (placed) {
            counts[placed]++;
            tracker.layer(b.source, { state: placed, target: desc.digest, text: `writing layer ${desc.digest}` });
            return;
          }
          // Hashed as it was made (exportBlob).
          file = { path: made.path, hash: false, key: null };
        } else {
          // A blob the target already has (or can mount) is never fetched from the source.
          const placed = await place(b.source, opened.model.descriptors.get(b.source)?.annotations, from);
          if (placed) {
            counts[placed]++;
            tracker.layer(b.source, { state: placed, target: b.source, text: `writing layer ${b.source}` });
            return;
          }
          tracker.layer(b.source, { state: 'reading' });
          const got = await opened.blobs.get({ digest: b.source, size: b.size }, { signal }).catch((err: unknown) => {
            throw missingFromRegistry(err, b.source);
          });
          file = { path: got.path, release: () => got.release(), hash: true, key: null };
          Object.assign(file, await needsHash(job, got));
          bytesRead += b.size;
        }
        try {
          // HEAD and mounts were tried above.
          const readFrom = nowNs();
          const result = await push(desc, file.path, b.source, null, true, !file.hash);
          remember(desc.digest);
          if (file.hash && job.memo && (result.outcome === 'uploaded' || result.outcome === 'resumed')) {
            // Hashed whole on its way out: remembered, unless the file changed meanwhile.
            const after = await fileKey(file.path);
            if (sameKey(file.key, after)) await job.memo.remember(after!, desc.digest, readFrom);
          }
          const state = result.outcome === 'exists' ? 'exists' : result.outcome === 'mounted' ? 'mounted' : 'done';
          if (result.outcome === 'exists') counts.exists++;
          else if (result.outcome === 'mounted') counts.mounted++;
          else {
            if (b.action !== 'convert') counts.written++;
            if (result.outcome === 'resumed') counts.resumed++;
          }
          tracker.layer(b.source, { state, target: desc.digest, text: `writing layer ${desc.digest}` });
        } finally {
          await file.release?.();
        }
      } catch (err) {
        tracker.layer(b.source, { state: 'failed', error: signal.aborted ? 'stopped' : String((err as Error)?.message ?? err) });
        throw err;
      }
    });

    const chains = exportChains(plan, opened.model, converted);
    const cfg = buildExportConfig(chains, opened.model.config.format === 'v0' ? opened.texts.config : null);
    const configDesc: Descriptor = { mediaType: MediaType.cacheConfigV0, digest: sha256(cfg.text), size: Buffer.byteLength(cfg.text) };
    const layers = exportLayerDescriptors(plan, opened.model, cfg.sourceBlobs, converted);
    const manifestText = buildExportManifest(resolved, layers, configDesc);
    const manifestDesc: Descriptor = { mediaType: plan.manifestMediaType, digest: sha256(manifestText), size: Buffer.byteLength(manifestText) };
    tracker.line(`writing config ${configDesc.digest}`);
    const cfgFile = join(await stagingDir(), 'config.json');
    await writeFile(cfgFile, cfg.text);
    // The config too: the same config in the source repository (or pushed before) mounts like a layer, so a copy within one registry uploads no blob bytes.
    // Its digest is of the very text just written.
    if (!(await place(configDesc.digest, undefined, from))) await push(configDesc, cfgFile, null, null, true, true);
    remember(configDesc.digest);
    tracker.line(`${resolved.imageManifest ? 'writing cache image manifest' : 'writing cache manifest'} ${manifestDesc.digest}`);
    await client.putManifest(ref, Buffer.from(manifestText), manifestDesc.mediaType, { signal });
    bytesWritten += manifestDesc.size;
    return {
      descriptor: manifestDesc,
      dest,
      tag: resolved.tag,
      skipped: false,
      config: configDesc.digest,
      counts,
      bytesRead,
      bytesWritten,
      durationMs: performance.now() - job.started,
    };
  } catch (err) {
    // Refusals before the upload (HEAD, POST) get the same meaning and fix as a refused manifest.
    throw explainPushFailure(err, { kind: 'blob', repo, tag: resolved.tag });
  } finally {
    await history.flush();
    if (staging) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}
