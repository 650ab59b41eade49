/**
 * Opens a cache from a source string into the shared model: a local OCI layout (by tag or digest),
 * a bare config or manifest file, or an image config carrying inline cache. Reads only JSON blobs;
 * layer blobs are never loaded to show structure.
 */
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { assembleCache } from '../../../shared/cache/model';
import type { CacheModel } from '../../../shared/cache/model';
import { looksLikeCacheConfig, parseCacheConfig } from '../../../shared/cache/parse-config';
import type { NormConfig } from '../../../shared/cache/parse-config';
import { isCacheConfigMediaType, parseCacheManifest } from '../../../shared/cache/parse-manifest';
import type { CacheWarning } from '../../../shared/cache/view-types';
import { parseJsonText } from '../../../shared/cache/json-text';
import { isDigest } from '../../../shared/oci/digest';
import { Annotation, MediaType, compressionOfMediaType, detectCompression } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { openContentStore } from '../store/content-store';
import type { ContentStore } from '../store/content-store';
import { INDEX_FILE, parseIndexText, readIndexText, resolveTag } from '../store/layout-index';
import type { IndexDocument } from '../store/layout-index';
import { localSourceBlobs, noSourceBlobs } from './local-blobs';
import { openRegistrySource } from './registry-source';
import type { RegistryAccess } from './registry-source';
import type { SourceBlobs } from './source-blobs';
import { MAX_JSON_BLOB, inlineFromImageConfig, modelFromManifest } from './manifest-model';
import type { DescriptorRef } from './manifest-model';
import { parseSource } from './source-ref';

export { MAX_JSON_BLOB };

/** Presence checks run this many stats at a time (a cache can reference thousands of blobs). */
const STAT_BATCH = 256;

export interface OpenedSource {
  source: string;
  model: CacheModel;
  /** Layout root when the source is a local layout. */
  layout: { dir: string; tag: string | null; digest: string | null } | null;
  manifestDescriptor: Descriptor | null;
  texts: { manifest: string | null; config: string | null; index: string | null };
  /** Digests of blobs present on disk, as checked at open time; for a registry, every blob the manifest lists (not asked: it costs requests). */
  present: Set<string>;
  /** The registry the source was opened from (never with credentials), or null for local sources. */
  registry: { reference: string; insecure: boolean } | null;
  /** Where its blobs come from: the layout's files, or the registry through the per-user blob cache. */
  blobs: SourceBlobs;
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new CacheError('io', `cannot read ${path}: ${code ?? (err as Error).message}`, { file: path });
  }
}

/**
 * Reads a JSON blob through the content store and checks it against its descriptor: the file must
 * exist, its size must be the descriptor's, and its bytes must hash to its name.
 */
async function readJsonBlob(store: ContentStore, desc: { digest: string; size: number | null }, ref: DescriptorRef): Promise<{ text: string; value: unknown; size: number; file: string }> {
  const file = store.blobPath(desc.digest);
  const info = await store.info(desc.digest);
  if (!info) {
    throw new CacheError('missing-blob', `${ref.what} blob ${desc.digest} is missing: ${file} does not exist (referenced by ${ref.file}: ${ref.field})`, {
      digest: desc.digest,
      file,
      referencedBy: ref.file,
      field: ref.field,
    });
  }
  if (desc.size !== null && info.size !== desc.size) {
    throw new CacheError('size-mismatch', `${file}: ${ref.what} blob is ${info.size} bytes, but ${ref.file}: ${ref.field}.size says ${desc.size}`, {
      digest: desc.digest,
      file,
      field: `${ref.field}.size`,
      expected: desc.size,
      actual: info.size,
    });
  }
  let bytes: Buffer;
  try {
    bytes = await store.readBytes(desc.digest, { maxSize: MAX_JSON_BLOB });
  } catch (err) {
    if (err instanceof CacheError) throw new CacheError(err.code, `${err.message} (${ref.what}, referenced by ${ref.file}: ${ref.field})`, err.details);
    throw err;
  }
  const text = bytes.toString('utf8');
  return { text, value: parseJsonText(text, `${file} (${ref.what})`), size: bytes.length, file };
}

/** Which blobs referenced by the config are on disk. */
async function presentBlobs(store: ContentStore, norm: NormConfig): Promise<Set<string>> {
  const present = new Set<string>();
  const blobs = [...new Set(norm.layers.map((l) => l.blob))];
  for (let i = 0; i < blobs.length; i += STAT_BATCH) {
    const batch = blobs.slice(i, i + STAT_BATCH);
    const found = await Promise.all(batch.map((b) => store.has(b)));
    batch.forEach((b, k) => found[k] && present.add(b));
  }
  return present;
}

async function readLayoutIndex(dir: string, required: boolean): Promise<{ index: IndexDocument | null; text: string | null; warning: CacheWarning | null }> {
  // The same reader gc and export use: a symlinked index.json is refused (it could point anywhere),
  // and errors name the file and the errno.
  const { file, text } = await readIndexText(dir);
  if (text === null) {
    if (required) throw new CacheError('invalid-source', `${dir} is not an OCI layout: ${file} does not exist`, { file });
    return { index: null, text: null, warning: null };
  }
  try {
    return { index: parseIndexText(text, file), text, warning: null };
  } catch (err) {
    // Opened by digest, BuildKit never reads index.json; a broken one is worth a warning, not a failure.
    if (required || !(err instanceof CacheError)) throw err;
    return { index: null, text, warning: { code: 'index-unreadable', message: err.message, where: file } };
  }
}

/** Manifests read to name what a `DIR@digest` blob is are at most this big. */
const MAX_NAMING_READ = 4 << 20;

/** What a descriptor's media type says its blob is, for "not a manifest" messages. */
function blobKind(mediaType: unknown): string {
  if (typeof mediaType !== 'string') return 'a blob';
  if (isCacheConfigMediaType(mediaType)) return 'the cache config';
  if (mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig) return 'the image config';
  if (compressionOfMediaType(mediaType) !== null) return 'a layer';
  return 'a blob';
}

async function smallJson(store: ContentStore, digest: string): Promise<unknown> {
  const info = await store.info(digest).catch(() => null);
  if (!info || info.size > MAX_NAMING_READ) return undefined;
  try {
    return JSON.parse((await store.readBytes(digest, { maxSize: MAX_NAMING_READ })).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * When `DIR@digest` names a blob that is not a manifest (a cache config, an image config, a layer),
 * what it is: first by where a manifest index.json lists references it, then by its own bytes.
 * Null when it may well be a manifest (an orphaned generation).
 */
async function notAManifest(store: ContentStore, index: IndexDocument | null, digest: string): Promise<string | null> {
  for (const [i, entry] of (index?.manifests ?? []).entries()) {
    const value = await smallJson(store, entry.digest);
    if (value === null || typeof value !== 'object') continue;
    const tag = entry.annotations?.[Annotation.refName];
    const who = `the manifest ${tag ? `tagged "${tag}"` : `at index.json manifests[${i}]`} (${entry.digest})`;
    const m = value as { config?: { digest?: unknown; mediaType?: unknown }; layers?: unknown; manifests?: unknown };
    if (m.config?.digest === digest) return `it is ${blobKind(m.config.mediaType)} of ${who}, field config`;
    for (const key of ['layers', 'manifests'] as const) {
      const list = m[key];
      if (!Array.isArray(list)) continue;
      const k = list.findIndex((d) => (d as { digest?: unknown } | null)?.digest === digest);
      if (k < 0) continue;
      // A platform image listed in an image index is a manifest (inline cache): only configs and layers are refused.
      const kind = blobKind((list[k] as { mediaType?: unknown }).mediaType);
      if (kind !== 'a blob') return `it is ${kind} of ${who}, field ${key}[${k}]`;
    }
  }
  const info = await store.info(digest).catch(() => null);
  if (!info) return null;
  const fh = await open(store.blobPath(digest), 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(Math.min(info.size, 512));
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const compression = detectCompression(head);
  if (compression !== 'uncompressed') return `its bytes are ${compression}-compressed data (a layer, by the look of it)`;
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'its bytes are a tar archive (an uncompressed layer)';
  if (head[0] !== 0x7b) return 'its bytes are not JSON';
  const value = await smallJson(store, digest);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value === undefined ? null : 'its bytes are JSON but not an object';
  const obj = value as Record<string, unknown>;
  if (looksLikeCacheConfig(obj)) return 'its bytes are a cache config';
  if (obj.rootfs !== undefined || obj.architecture !== undefined) return 'its bytes are an image config';
  return null;
}

async function openLayout(source: string, dir: string, tag: string | null, digest: string | null): Promise<OpenedSource> {
  const indexFile = join(dir, INDEX_FILE);
  const store = await openContentStore(dir);
  const warnings: CacheWarning[] = [];
  const { index, text: indexText, warning } = await readLayoutIndex(dir, digest === null);
  if (warning) warnings.push(warning);
  let manifestDesc: Descriptor;
  let ref: DescriptorRef;
  if (digest) {
    const at = index?.manifests.findIndex((m) => m.digest === digest) ?? -1;
    const what = at >= 0 ? null : await notAManifest(store, index, digest);
    if (what) {
      throw new CacheError('invalid-source', `${source}: ${digest} is not a manifest: ${what}. Open the folder itself, a tag (DIR:TAG) or a manifest's digest instead`, {
        source,
        digest,
        field: 'digest',
      });
    }
    manifestDesc = at >= 0 ? index!.manifests[at] : { mediaType: '', digest, size: -1 };
    ref = at >= 0 ? { what: 'cache manifest', file: indexFile, field: `manifests[${at}]` } : { what: 'cache manifest', file: source, field: 'digest' };
  } else {
    manifestDesc = resolveTag(index!, tag ?? 'latest', indexFile);
    ref = { what: `cache manifest (tag "${tag ?? 'latest'}")`, file: indexFile, field: `manifests[${index!.manifests.indexOf(manifestDesc)}]` };
  }
  const m = await readJsonBlob(store, { digest: manifestDesc.digest, size: manifestDesc.size >= 0 ? manifestDesc.size : null }, ref);
  const built = await modelFromManifest(
    { source, digest: manifestDesc.digest, declared: { mediaType: manifestDesc.mediaType, by: `${ref.field} in index.json`, where: indexFile }, manifest: m, platformBase: dir, warnings },
    { read: (desc, r) => readJsonBlob(store, desc, r), name: (d) => store.blobPath(d) },
  );
  return {
    source,
    model: built.model,
    layout: { dir, tag: digest ? null : (tag ?? 'latest'), digest: digest ?? null },
    registry: null,
    manifestDescriptor: built.manifestDescriptor,
    texts: { manifest: m.text, config: built.configText, index: indexText },
    present: await presentBlobs(store, built.model.norm),
    blobs: localSourceBlobs(dir),
  };
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

async function openFile(source: string, file: string, size: number): Promise<OpenedSource> {
  if (size > MAX_JSON_BLOB) throw new CacheError('too-large', `${file} is ${size} bytes, over the ${MAX_JSON_BLOB}-byte limit for JSON files`, { file });
  const bytes = await readFile(file);
  const text = bytes.toString('utf8');
  const value = parseJsonText(text, file);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CacheError('invalid-source', `${file}: (root): expected a JSON object (a cache config, a cache manifest or an image config), got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`, {
      file,
      field: '(root)',
    });
  }
  const obj = value as Record<string, unknown>;
  const base = { source, layout: null, registry: null, present: new Set<string>(), manifestDescriptor: null, blobs: noSourceBlobs(file) };
  if (obj[Annotation.inlineCacheKey] !== undefined) {
    const inline = inlineFromImageConfig(obj, file, null);
    const model = assembleCache({
      source,
      variant: 'inline',
      manifest: null,
      parsedManifest: null,
      config: { mediaType: MediaType.ociConfig, digest: sha256(bytes), size: bytes.length, format: 'inline-records' },
      norm: inline.norm,
      extraDescriptors: inline.descriptors,
      warnings: inline.warnings,
      configFile: file,
    });
    return { ...base, model, texts: { manifest: null, config: text, index: null } };
  }
  if (looksLikeCacheConfig(obj)) {
    const norm = parseCacheConfig(obj, file, { standalone: true });
    const warnings: CacheWarning[] = [];
    if (norm.format !== 'v0-annotated' && norm.layers.length > 0) {
      warnings.push({ code: 'config-only', message: 'a bare cache config: without its manifest, layer media types and sizes are unknown and every result is dropped', where: file });
    }
    const model = assembleCache({
      source,
      variant: 'config-only',
      manifest: null,
      parsedManifest: null,
      config: { mediaType: MediaType.cacheConfigV0, digest: sha256(bytes), size: bytes.length, format: norm.format },
      norm,
      warnings,
      configFile: file,
    });
    return { ...base, model, texts: { manifest: null, config: text, index: null } };
  }
  // A manifest file: if it sits in a layout's blobs/<alg>/ folder under its own digest, open it from that layout.
  const algDir = dirname(file);
  const digest = `${basename(algDir)}:${basename(file)}`;
  if (basename(dirname(algDir)) === 'blobs' && isDigest(digest)) {
    return openLayout(source, dirname(dirname(algDir)), null, digest);
  }
  const pm = parseCacheManifest(obj, file);
  const needs = pm.config?.digest ?? pm.imageConfig?.digest ?? null;
  throw new CacheError(
    'missing-blob',
    `${file}: a bare cache manifest${needs ? `; its config ${needs} is not available next to it` : ''}. Open the layout folder that holds its blobs instead (DIR or DIR@${sha256(bytes)}).`,
    { file, ...(needs ? { digest: needs } : {}) },
  );
}

export interface OpenCacheOptions {
  /** Registry clients and the blob cache (default: one per process, from docker's config and the environment). */
  registry?: RegistryAccess;
  signal?: AbortSignal;
}

/** Opens any source string `inspect` accepts (the rule that tells a path from a registry reference is in source-ref.ts). */
export async function openCacheSource(source: string, options: OpenCacheOptions = {}): Promise<OpenedSource> {
  const spec = parseSource(source);
  if (spec.kind === 'registry') return openRegistrySource(source, spec, options.registry, options.signal);
  const ref = spec.ref;
  const path = resolve(ref.path);
  const info = await statOrNull(path);
  if (!info) throw new CacheError('not-found', `${ref.path}: no such file or directory`, { path: ref.path });
  if (info.isDirectory()) return openLayout(source, path, ref.tag, ref.digest);
  if (ref.tag || ref.digest) throw new CacheError('invalid-source', `${ref.path} is not a directory: a tag or digest can only follow a layout folder`, { path: ref.path });
  if (!info.isFile()) throw new CacheError('invalid-source', `${ref.path} is neither a folder nor a regular file`, { path: ref.path });
  if (basename(path) === INDEX_FILE) return openLayout(source, dirname(path), null, null);
  return openFile(source, path, info.size);
}

