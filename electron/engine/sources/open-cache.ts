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
import { asDigest, asObject, asOptionalArray, asOptionalString } from '../../../shared/cache/field-checks';
import { decodeBase64, decodeUtf8, parseJsonText } from '../../../shared/cache/json-text';
import { assembleCache } from '../../../shared/cache/model';
import type { CacheModel } from '../../../shared/cache/model';
import { legacyItemsToConfig, looksLikeCacheConfig, parseCacheConfig, parseInlineRecords } from '../../../shared/cache/parse-config';
import type { NormConfig } from '../../../shared/cache/parse-config';
import { isCacheConfigMediaType, parseCacheManifest } from '../../../shared/cache/parse-manifest';
import type { ParsedManifest } from '../../../shared/cache/parse-manifest';
import type { CacheView, CacheWarning, ConfigInfo, ManifestInfo } from '../../../shared/cache/view-types';
import { isDigest } from '../../../shared/oci/digest';
import { Annotation, MediaType, compressionOfMediaType, detectCompression } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { openContentStore } from '../store/content-store';
import type { ContentStore } from '../store/content-store';
import { INDEX_FILE, parseIndexText, readIndexText, resolveTag } from '../store/layout-index';
import type { IndexDocument } from '../store/layout-index';
import { parseSourceRef } from './source-ref';

/** JSON blobs above this are refused outright (BuildKit's own limit is 1 MiB; we read more to show why it fails). */
export const MAX_JSON_BLOB = 64 << 20;

/** Presence checks run this many stats at a time (a cache can reference thousands of blobs). */
const STAT_BATCH = 256;

export interface OpenedSource {
  source: string;
  model: CacheModel;
  /** Layout root when the source is a local layout. */
  layout: { dir: string; tag: string | null; digest: string | null } | null;
  manifestDescriptor: Descriptor | null;
  texts: { manifest: string | null; config: string | null; index: string | null };
  /** Digests of blobs present on disk, as checked at open time. */
  present: Set<string>;
}

/** Where a descriptor was found, so a blob that disagrees with it names the file and the field. */
interface DescriptorRef {
  what: string;
  file: string;
  field: string;
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

function manifestInfo(pm: ParsedManifest, digest: string | null, size: number): ManifestInfo {
  return { mediaType: pm.mediaType, digest, size, family: pm.family, inferred: pm.inferred };
}

interface InlineParts {
  norm: NormConfig;
  descriptors: Descriptor[];
  warnings: CacheWarning[];
}

/**
 * Inline cache (format doc §8): records from the image config's `moby.buildkit.cache.v0`, layers
 * from the image manifest with parent i-1 (or, with the config alone, the rootfs diffIDs).
 */
function inlineFromImageConfig(config: Record<string, unknown>, file: string, manifestLayers: Descriptor[] | null): InlineParts {
  const key = Annotation.inlineCacheKey;
  const encoded = config[key];
  if (typeof encoded !== 'string') {
    throw new CacheError('invalid-config', `${file}: ${key}: expected a base64 string, got ${encoded === null ? 'null' : Array.isArray(encoded) ? 'array' : typeof encoded}`, { file, field: key });
  }
  const decoded = parseJsonText(decodeUtf8(decodeBase64(encoded, `${file}: ${key}`)), `${file}: ${key} (decoded)`);
  const rootfs = config.rootfs === undefined || config.rootfs === null ? {} : asObject(config.rootfs, file, 'rootfs', 'invalid-config');
  const diffIds = asOptionalArray(rootfs.diff_ids, file, 'rootfs.diff_ids', 'invalid-config').map((d, i) => asDigest(d, file, `rootfs.diff_ids[${i}]`));
  // BuildKit pairs layer i with the i-th history entry that is not an empty layer.
  const history = asOptionalArray(config.history, file, 'history', 'invalid-config')
    .map((h, i) => asObject(h, file, `history[${i}]`, 'invalid-config'))
    .filter((h) => h.empty_layer !== true);
  const warnings: CacheWarning[] = [];
  let descriptors: Descriptor[];
  if (manifestLayers) {
    if (manifestLayers.length !== diffIds.length) {
      throw new CacheError(
        'invalid-config',
        `${file}: rootfs.diff_ids: invalid image with mismatching manifest and config (the manifest has ${manifestLayers.length} layers, the config ${diffIds.length} diff_ids)`,
        { file, field: 'rootfs.diff_ids' },
      );
    }
    descriptors = manifestLayers.map((d, i) => ({ ...d, annotations: { ...(d.annotations ?? {}), ...layerAnnotations(diffIds[i], history[i], file, i) } }));
  } else {
    // Only the image config: the compressed blobs are unknown, so the layers are shown by diffID.
    descriptors = diffIds.map((id, i) => ({ mediaType: MediaType.ociLayer, digest: id, size: 0, annotations: layerAnnotations(id, history[i], file, i) }));
    warnings.push({
      code: 'inline-config-only',
      message: 'only the image config is available: layers are identified by their diffIDs (uncompressed digests) and their compressed sizes are unknown',
      where: file,
    });
  }
  const norm = parseInlineRecords(decoded, descriptors.map((d) => d.digest), `${file}: ${key} (decoded)`);
  return { norm, descriptors, warnings };
}

function layerAnnotations(diffId: string, history: Record<string, unknown> | undefined, file: string, i: number): Record<string, string> {
  const ann: Record<string, string> = { [Annotation.uncompressed]: diffId };
  const created = history ? asOptionalString(history.created, file, `history[${i}].created`, 'invalid-config') : '';
  const createdBy = history ? asOptionalString(history.created_by, file, `history[${i}].created_by`, 'invalid-config') : '';
  if (created) ann[Annotation.createdAt] = created;
  if (createdBy) ann[Annotation.description] = createdBy;
  return ann;
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
  const manifestFile = m.file;
  const pm = parseCacheManifest(m.value, manifestFile);
  if (manifestDesc.mediaType && manifestDesc.mediaType !== pm.mediaType && !pm.inferred) {
    warnings.push({ code: 'media-type-disagrees', message: `${ref.field} in index.json says ${manifestDesc.mediaType} but the manifest body says ${pm.mediaType}`, where: indexFile });
  }
  let norm: NormConfig;
  let configInfo: ConfigInfo;
  let configText: string | null = null;
  let variant: CacheView['variant'] = pm.kind === 'index' ? 'index' : 'image-manifest';
  let extra: Descriptor[] = [];
  if (pm.config) {
    const field = pm.kind === 'index' ? (cacheConfigField(m.value) ?? 'manifests') : 'config';
    const c = await readJsonBlob(store, pm.config, { what: 'cache config', file: manifestFile, field });
    configText = c.text;
    norm = parseCacheConfig(c.value, c.file);
    configInfo = { mediaType: pm.config.mediaType, digest: pm.config.digest, size: c.size, format: norm.format };
  } else if (pm.legacyAnnotated) {
    variant = 'legacy-index';
    norm = legacyItemsToConfig(pm.legacyItems);
    configInfo = { mediaType: '(annotations on index entries)', digest: null, size: 0, format: 'legacy-items' };
  } else if (pm.imageConfig) {
    const c = await readJsonBlob(store, pm.imageConfig, { what: 'image config', file: manifestFile, field: 'config' });
    configText = c.text;
    const obj = asObject(c.value, c.file, '(root)', 'invalid-config');
    if (obj[Annotation.inlineCacheKey] === undefined || obj[Annotation.inlineCacheKey] === null) {
      throw new CacheError('invalid-manifest', `${manifestFile}: config: not a cache manifest: its config is ${pm.imageConfig.mediaType || '(no media type)'} without ${Annotation.inlineCacheKey} (no inline cache either)`, {
        file: manifestFile,
        field: 'config',
      });
    }
    const inline = inlineFromImageConfig(obj, c.file, pm.layers);
    variant = 'inline';
    norm = inline.norm;
    extra = inline.descriptors;
    warnings.push(...inline.warnings);
    configInfo = { mediaType: pm.imageConfig.mediaType, digest: pm.imageConfig.digest, size: c.size, format: 'inline-records' };
  } else if (pm.platformManifests.length > 0) {
    const list = pm.platformManifests.map((d) => `${dir}@${d.digest}${d.platform ? ` (${d.platform.os}/${d.platform.architecture})` : ''}`).join(', ');
    throw new CacheError('invalid-manifest', `${manifestFile}: manifests: an image index without a ${MediaType.cacheConfigV0} entry; open one platform's image (inline cache) instead: ${list}`, {
      file: manifestFile,
      field: 'manifests',
    });
  } else {
    throw new CacheError('invalid-manifest', `${manifestFile}: ${pm.kind === 'index' ? 'manifests' : 'config'}: no ${MediaType.cacheConfigV0} entry: this is not a cache manifest`, {
      file: manifestFile,
      field: pm.kind === 'index' ? 'manifests' : 'config',
    });
  }
  const model = assembleCache({
    source,
    variant,
    manifest: manifestInfo(pm, manifestDesc.digest, m.size),
    parsedManifest: pm,
    config: configInfo,
    norm,
    extraDescriptors: extra,
    warnings,
    configFile: configInfo.digest ? store.blobPath(configInfo.digest) : manifestFile,
  });
  return {
    source,
    model,
    layout: { dir, tag: digest ? null : (tag ?? 'latest'), digest: digest ?? null },
    manifestDescriptor: { mediaType: pm.mediaType, digest: manifestDesc.digest, size: m.size },
    texts: { manifest: m.text, config: configText, index: indexText },
    present: await presentBlobs(store, norm),
  };
}

/** The field of the last cacheconfig entry of an index (the one BuildKit uses), for messages. */
function cacheConfigField(value: unknown): string | null {
  const list = (value as { manifests?: unknown }).manifests;
  if (!Array.isArray(list)) return null;
  for (let i = list.length - 1; i >= 0; i--) {
    const mt = (list[i] as { mediaType?: unknown } | null)?.mediaType;
    if (typeof mt === 'string' && isCacheConfigMediaType(mt)) return `manifests[${i}]`;
  }
  return null;
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
  const base = { source, layout: null, present: new Set<string>(), manifestDescriptor: null };
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

/** Opens any source string `inspect` accepts. */
export async function openCacheSource(source: string): Promise<OpenedSource> {
  const ref = parseSourceRef(source);
  const path = resolve(ref.path);
  const info = await statOrNull(path);
  if (!info) throw new CacheError('not-found', `${ref.path}: no such file or directory`, { path: ref.path });
  if (info.isDirectory()) return openLayout(source, path, ref.tag, ref.digest);
  if (ref.tag || ref.digest) throw new CacheError('invalid-source', `${ref.path} is not a directory: a tag or digest can only follow a layout folder`, { path: ref.path });
  if (!info.isFile()) throw new CacheError('invalid-source', `${ref.path} is neither a folder nor a regular file`, { path: ref.path });
  if (basename(path) === INDEX_FILE) return openLayout(source, dirname(path), null, null);
  return openFile(source, path, info.size);
}

