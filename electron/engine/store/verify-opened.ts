/**
 * `verify` for an opened source: hash every blob in its layout folder (its own with sizes and diffIDs,
 * other generations' and orphans by name), and list the ones it references that are missing. A
 * registry source streams every blob it references through the blob cache and checks the same things;
 * `shallow` only asks whether each exists (a stat, or a HEAD for a registry).
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import type { VerifyReport } from '../../../shared/contract/requests';
import { CacheError } from '../../../shared/contract/errors';
import { isDigest } from '../../../shared/oci/digest';
import { Annotation } from '../../../shared/oci/media-types';
import { createDecompressor } from '../export/compression';
import { openContentStore } from './content-store';
import { findOrphans } from './gc';
import type { OpenedSource } from '../sources/open-cache';
import { verifyBlobs } from './verify-blobs';
import type { VerifyDescriptor, VerifyProgress } from './verify-blobs';

export interface VerifyOpenedOptions {
  signal?: AbortSignal;
  onProgress?: (progress: VerifyProgress) => void;
  /** 'folder' (the default) hashes every blob in the layout; 'source' only the ones the opened cache references. */
  scope?: 'folder' | 'source';
  /** Only check that every referenced blob exists (HEAD for a registry, a stat locally); nothing is read or hashed. */
  shallow?: boolean;
}

/** Blobs verified at once from a registry (the client bounds requests per host on top of this). */
const REGISTRY_PARALLEL = 4;

/** The opened cache's own blobs: its manifest, its config and its layers, with what their descriptors say. */
function sourceDescriptors(opened: OpenedSource): VerifyDescriptor[] {
  const out: VerifyDescriptor[] = [];
  const m = opened.manifestDescriptor;
  if (m) out.push({ digest: m.digest, size: m.size, mediaType: m.mediaType, owner: 'source' });
  const config = opened.model.config;
  if (config?.digest && opened.layout) out.push({ digest: config.digest, size: config.size, mediaType: config.mediaType, owner: 'source' });
  for (const digest of new Set(opened.model.norm.layers.map((l) => l.blob))) {
    const d = opened.model.descriptors.get(digest);
    out.push({ digest, size: d?.size ?? -1, mediaType: d?.mediaType ?? '', diffID: d?.annotations?.[Annotation.uncompressed], owner: 'source' });
  }
  return out;
}

/**
 * Every `blobs/<algorithm>/<hex>` whose name is a valid digest, sorted, and whether it is a regular file
 * (gc skips what is not, so it is neither called an orphan nor another generation's); entries whose
 * names are not digests are not blobs and are left alone, as gc does.
 */
async function blobsInFolder(dir: string): Promise<{ digest: string; regular: boolean }[]> {
  const root = join(dir, 'blobs');
  let algorithms: string[];
  try {
    algorithms = await readdir(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new CacheError('io', `cannot list ${root}: ${code ?? (err as Error).message}`, { file: root });
  }
  const out: { digest: string; regular: boolean }[] = [];
  for (const algorithm of algorithms.sort()) {
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, algorithm), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'ENOENT') continue;
      throw new CacheError('io', `cannot list ${join(root, algorithm)}: ${code ?? (err as Error).message}`, { file: join(root, algorithm) });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) if (isDigest(`${algorithm}:${e.name}`)) out.push({ digest: `${algorithm}:${e.name}`, regular: e.isFile() });
  }
  return out;
}

/** Blobs no index.json entry reaches, or null when the folder has no usable index.json to say so. */
async function orphanSet(dir: string, signal?: AbortSignal): Promise<Set<string> | null> {
  try {
    const found = await findOrphans(dir, { signal });
    return found.noIndex ? null : new Set(found.items.map((i) => i.digest));
  } catch (err) {
    if (err instanceof CacheError && !signal?.aborted) return null;
    throw err;
  }
}

/** Runs `work` over `items` with at most `limit` in flight, keeping results in item order. */
async function inPool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** The distinct blobs a registry source references (its manifest is not a blob there, and was verified when opened). */
function registryDescriptors(opened: OpenedSource): VerifyDescriptor[] {
  const m = opened.manifestDescriptor?.digest;
  const out: VerifyDescriptor[] = [];
  const config = opened.model.config;
  if (config?.digest) out.push({ digest: config.digest, size: config.size, mediaType: config.mediaType, owner: 'source' });
  const seen = new Set<string>(out.map((d) => d.digest));
  for (const d of sourceDescriptors(opened)) if (d.digest !== m && !seen.has(d.digest) && seen.add(d.digest)) out.push(d);
  return out;
}

/** Existence only: a stat per blob locally, a HEAD per blob in a registry. */
async function verifyShallow(opened: OpenedSource, descriptors: VerifyDescriptor[], options: VerifyOpenedOptions): Promise<VerifyReport> {
  let done = 0;
  const found = await inPool(descriptors, REGISTRY_PARALLEL, async (d) => {
    const there = await opened.blobs.has(d.digest, { signal: options.signal });
    options.onProgress?.({ done: ++done, total: descriptors.length, digest: d.digest, bytes: 0 });
    return there;
  });
  const missing = descriptors.filter((_, i) => !found[i]).map((d) => d.digest);
  return { checked: descriptors.length - missing.length, bytes: 0, missing, problems: [], ok: missing.length === 0, scope: 'source', others: 0, orphans: null };
}

/** Streams each blob through the blob cache (which proves digest and size), then hashes the cached file for its diffID. */
async function verifyRegistry(opened: OpenedSource, descriptors: VerifyDescriptor[], options: VerifyOpenedOptions): Promise<VerifyReport> {
  const location = opened.blobs.location;
  let done = 0;
  let bytesSoFar = 0;
  const results = await inPool(descriptors, REGISTRY_PARALLEL, async (d): Promise<VerifyReport> => {
    const name = `${location}@${d.digest}`;
    const alone = (r: Partial<VerifyReport>): VerifyReport => ({ checked: 0, bytes: 0, missing: [], problems: [], ok: false, scope: 'source', others: 0, orphans: null, ...r });
    let report: VerifyReport;
    try {
      const file = await opened.blobs.get({ digest: d.digest, size: d.size }, { signal: options.signal });
      try {
        const reader = { blobPath: () => file.path, readStream: async () => createReadStream(file.path) };
        report = await verifyBlobs(reader, [d], { signal: options.signal, createZstdDecompressor: () => createDecompressor('zstd') });
        // Messages name the blob as the registry has it, not the blob cache's file.
        report = { ...report, problems: report.problems.map((p) => ({ ...p, message: p.message.split(file.path).join(name) })) };
      } finally {
        await file.release();
      }
    } catch (err) {
      if (options.signal?.aborted || !(err instanceof CacheError)) throw err;
      if (err.code === 'not-found' || err.code === 'missing-blob') report = alone({ missing: [d.digest] });
      else if (err.code === 'digest-mismatch' || err.code === 'size-mismatch') report = alone({ problems: [{ digest: d.digest, kind: err.code, message: `${err.message} (from ${location})`, owner: 'source' }] });
      else throw err;
    }
    bytesSoFar += report.bytes;
    options.onProgress?.({ done: ++done, total: descriptors.length, digest: d.digest, bytes: bytesSoFar });
    return report;
  });
  const missing = results.flatMap((r) => r.missing);
  const problems = results.flatMap((r) => r.problems);
  return {
    checked: results.reduce((n, r) => n + r.checked, 0),
    bytes: results.reduce((n, r) => n + r.bytes, 0),
    missing,
    problems,
    ok: missing.length === 0 && problems.length === 0,
    scope: 'source',
    others: 0,
    orphans: null,
  };
}

export async function verifyOpened(opened: OpenedSource, options: VerifyOpenedOptions = {}): Promise<VerifyReport> {
  if (opened.blobs.kind === 'registry') {
    const descriptors = registryDescriptors(opened);
    return options.shallow ? verifyShallow(opened, descriptors, options) : verifyRegistry(opened, descriptors, options);
  }
  const own = sourceDescriptors(opened);
  if (options.shallow && opened.layout) return verifyShallow(opened, own, options);
  const scope = options.scope ?? 'folder';
  if (!opened.layout) {
    // A bare file has no blobs beside it: everything it references is missing here.
    const referenced = [...new Set(opened.model.norm.layers.map((l) => l.blob))];
    return { checked: 0, bytes: 0, missing: referenced, problems: [], ok: referenced.length === 0, scope: 'source', others: 0, orphans: null };
  }
  const dir = opened.layout.dir;
  const descriptors = [...own];
  let orphans: Set<string> | null = null;
  let others: string[] = [];
  if (scope === 'folder') {
    const mine = new Set(own.map((d) => d.digest));
    const listed = (await blobsInFolder(dir)).filter((b) => !mine.has(b.digest));
    others = listed.map((b) => b.digest);
    orphans = await orphanSet(dir, options.signal);
    // Not referenced by this cache: only the name is known, so the content is checked against it.
    for (const b of listed) {
      const owner = !b.regular || orphans === null ? undefined : orphans.has(b.digest) ? 'orphan' : 'other';
      descriptors.push({ digest: b.digest, size: -1, mediaType: '', ...(owner ? { owner } : {}) });
    }
  }
  const store = await openContentStore(dir);
  // zstd layers get their diffID checked too, through the one compression module.
  const report = await verifyBlobs(store, descriptors, { signal: options.signal, onProgress: options.onProgress, createZstdDecompressor: () => createDecompressor('zstd') });
  // A blob of another generation that vanished meanwhile (a concurrent gc) is not missing from this cache.
  const ownDigests = new Set(own.map((d) => d.digest));
  const missing = report.missing.filter((d) => ownDigests.has(d));
  return {
    ...report,
    missing,
    ok: missing.length === 0 && report.problems.length === 0,
    scope,
    others: others.length,
    orphans: orphans === null ? null : others.filter((d) => orphans.has(d)),
  };
}
