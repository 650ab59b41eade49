/**
 * `verify` for an opened source: hash every blob in its layout folder (its own with sizes and diffIDs,
 * other generations' and orphans by name), and list the ones it references that are missing.
 */
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
}

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

export async function verifyOpened(opened: OpenedSource, options: VerifyOpenedOptions = {}): Promise<VerifyReport> {
  const own = sourceDescriptors(opened);
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
