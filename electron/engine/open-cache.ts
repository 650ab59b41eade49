/**
 * Opens a cache from a source string into the shared model: a local OCI layout (by tag or digest),
 * a bare config or manifest file, or an image config carrying inline cache. Reads only JSON blobs;
 * layer blobs are never loaded to show structure.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CacheError } from '../../shared/contract/errors';
import { decodeBase64, decodeUtf8, parseJsonText } from '../../shared/cache/json-text';
import { assembleCache } from '../../shared/cache/model';
import type { CacheModel } from '../../shared/cache/model';
import { legacyItemsToConfig, looksLikeCacheConfig, parseCacheConfig, parseInlineRecords } from '../../shared/cache/parse-config';
import type { NormConfig } from '../../shared/cache/parse-config';
import { parseCacheManifest } from '../../shared/cache/parse-manifest';
import type { ParsedManifest } from '../../shared/cache/parse-manifest';
import type { CacheView, CacheWarning, ConfigInfo, ManifestInfo } from '../../shared/cache/view-types';
import { Annotation, MediaType } from '../../shared/oci/media-types';
import type { Descriptor, ImageIndex } from '../../shared/oci/types';
import { parseDigest } from '../../shared/oci/digest';
import { readIndex, resolveTag } from './layout-index';
import { parseSourceRef } from './source-ref';

/** JSON blobs above this are refused outright (BuildKit's own limit is 1 MiB; we read more to show why it fails). */
export const MAX_JSON_BLOB = 64 << 20;

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

export function blobFile(root: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(root, 'blobs', algorithm, hex);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a JSON blob and checks it against its descriptor: size and digest must agree with the bytes. */
async function readJsonBlob(root: string, desc: { digest: string; size: number | null }, what: string): Promise<{ text: string; value: unknown; size: number }> {
  const file = blobFile(root, desc.digest);
  let info;
  try {
    info = await stat(file);
  } catch {
    throw new CacheError('missing-blob', `${what} blob ${desc.digest} is missing: ${file} does not exist`, { digest: desc.digest, file });
  }
  if (info.size > MAX_JSON_BLOB) throw new CacheError('too-large', `${file}: ${what} blob is ${info.size} bytes, over the ${MAX_JSON_BLOB}-byte limit for JSON blobs`);
  if (desc.size !== null && info.size !== desc.size) {
    throw new CacheError('size-mismatch', `${file}: ${what} blob is ${info.size} bytes but its descriptor says ${desc.size}`, { digest: desc.digest, expected: desc.size, actual: info.size });
  }
  const bytes = await readFile(file);
  const { algorithm } = parseDigest(desc.digest);
  const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
  if (actual !== desc.digest) {
    throw new CacheError('digest-mismatch', `${file}: ${what} blob hashes to ${actual}, not ${desc.digest}`, { digest: desc.digest, actual });
  }
  const text = decodeUtf8(bytes);
  return { text, value: parseJsonText(text, `${file} (${what})`), size: info.size };
}

function manifestInfo(pm: ParsedManifest, digest: string | null, size: number): ManifestInfo {
  return { mediaType: pm.mediaType, digest, size, family: pm.family, inferred: pm.inferred };
}

function legacyFromAnnotated(pm: ParsedManifest, file: string): NormConfig {
  const items = pm.layers.map((d) => ({
    blobsum: d.digest,
    cacheKey: d.annotations?.['buildkit.cachekey'] ?? '',
    contentKey: d.annotations?.['buildkit.contentkey'] ?? '',
    parent: d.annotations?.['buildkit.parent'] ?? '',
    diffID: d.annotations?.['buildkit.diffid'] ?? '',
  }));
  return legacyItemsToConfig(items, file);
}

interface InlineParts {
  norm: NormConfig;
  descriptors: Descriptor[];
  warnings: CacheWarning[];
  size: number;
}

/** Inline cache: records from the image config, layers from the image manifest (or, alone, from rootfs.diff_ids). */
function inlineFromImageConfig(config: Record<string, unknown>, file: string, manifestLayers: Descriptor[] | null, size: number): InlineParts {
  const encoded = config[Annotation.inlineCacheKey];
  if (typeof encoded !== 'string') throw new CacheError('invalid-config', `${file}: ${Annotation.inlineCacheKey}: expected a base64 string`);
  const records = parseJsonText(decodeUtf8(decodeBase64(encoded, `${file}: ${Annotation.inlineCacheKey}`)), `${file}: ${Annotation.inlineCacheKey} (decoded)`);
  const rootfs = config.rootfs as { diff_ids?: unknown } | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? (rootfs!.diff_ids as unknown[]).filter((d): d is string => typeof d === 'string') : [];
  const history = Array.isArray(config.history) ? (config.history as Record<string, unknown>[]).filter((h) => h && h.empty_layer !== true) : [];
  const warnings: CacheWarning[] = [];
  let descriptors: Descriptor[];
  if (manifestLayers) {
    if (manifestLayers.length !== diffIds.length) {
      throw new CacheError('invalid-config', `${file}: invalid image with mismatching manifest and config (${manifestLayers.length} layers, ${diffIds.length} diff_ids)`);
    }
    descriptors = manifestLayers.map((d, i) => ({ ...d, annotations: { ...(d.annotations ?? {}), ...layerAnnotations(diffIds[i], history[i]) } }));
  } else {
    // Only the image config: the compressed blobs are unknown, so the layers are shown by diffID.
    descriptors = diffIds.map((id, i) => ({ mediaType: MediaType.ociLayer, digest: id, size: 0, annotations: layerAnnotations(id, history[i]) }));
    warnings.push({ code: 'inline-config-only', message: 'only the image config is available: layers are identified by their diffIDs and their compressed sizes are unknown', where: file });
  }
  const norm = parseInlineRecords(records, descriptors.map((d) => d.digest), `${file} (${Annotation.inlineCacheKey})`);
  return { norm, descriptors, warnings, size };
}

function layerAnnotations(diffId: string, history: Record<string, unknown> | undefined): Record<string, string> {
  const ann: Record<string, string> = { [Annotation.uncompressed]: diffId };
  if (history && typeof history.created === 'string') ann[Annotation.createdAt] = history.created;
  if (history && typeof history.created_by === 'string') ann[Annotation.description] = history.created_by;
  return ann;
}

async function openLayout(source: string, dir: string, tag: string | null, digest: string | null): Promise<OpenedSource> {
  const indexFile = join(dir, 'index.json');
  let indexText: string | null = null;
  let manifestDesc: Descriptor;
  if (digest) {
    const index = (await exists(indexFile)) ? await readIndex(dir) : null;
    indexText = index ? await readFile(indexFile, 'utf8') : null;
    const listed = index?.manifests.find((m) => m.digest === digest);
    manifestDesc = listed ?? { mediaType: '', digest, size: -1 };
  } else {
    if (!(await exists(indexFile))) {
      throw new CacheError('invalid-source', `${dir} is not an OCI layout: ${indexFile} does not exist`, { file: indexFile });
    }
    const index: ImageIndex = await readIndex(dir);
    indexText = await readFile(indexFile, 'utf8');
    manifestDesc = resolveTag(index, tag ?? 'latest');
  }
  const where = digest ? `${dir}@${digest}` : `tag "${tag ?? 'latest'}" in ${indexFile}`;
  const m = await readJsonBlob(dir, { digest: manifestDesc.digest, size: manifestDesc.size >= 0 ? manifestDesc.size : null }, `cache manifest (${where})`);
  const manifestFile = blobFile(dir, manifestDesc.digest);
  const pm = parseCacheManifest(m.value, manifestFile);
  const warnings: CacheWarning[] = [];
  if (manifestDesc.mediaType && manifestDesc.mediaType !== pm.mediaType && !pm.inferred) {
    warnings.push({ code: 'media-type-disagrees', message: `index.json says ${manifestDesc.mediaType} but the manifest body says ${pm.mediaType}`, where: indexFile });
  }
  let norm: NormConfig;
  let configInfo: ConfigInfo;
  let configText: string | null = null;
  let variant: CacheView['variant'] = pm.kind === 'index' ? 'index' : 'image-manifest';
  let extra: Descriptor[] = [];
  if (pm.config) {
    const c = await readJsonBlob(dir, pm.config, 'cache config');
    configText = c.text;
    norm = parseCacheConfig(c.value, blobFile(dir, pm.config.digest));
    configInfo = { mediaType: pm.config.mediaType, digest: pm.config.digest, size: c.size, format: norm.format };
  } else if (pm.legacyAnnotated) {
    variant = 'legacy-index';
    norm = legacyFromAnnotated(pm, manifestFile);
    configInfo = { mediaType: '(annotations on index entries)', digest: null, size: 0, format: 'legacy-items' };
  } else if (pm.imageConfig) {
    const c = await readJsonBlob(dir, pm.imageConfig, 'image config');
    configText = c.text;
    const obj = c.value as Record<string, unknown>;
    if (!obj || typeof obj !== 'object' || obj[Annotation.inlineCacheKey] === undefined) {
      throw new CacheError('invalid-manifest', `${manifestFile}: not a cache manifest: its config is ${pm.imageConfig.mediaType} without ${Annotation.inlineCacheKey} (no inline cache)`);
    }
    const inline = inlineFromImageConfig(obj, blobFile(dir, pm.imageConfig.digest), pm.layers, c.size);
    variant = 'inline';
    norm = inline.norm;
    extra = inline.descriptors;
    warnings.push(...inline.warnings);
    configInfo = { mediaType: pm.imageConfig.mediaType, digest: pm.imageConfig.digest, size: c.size, format: 'inline-records' };
  } else {
    throw new CacheError('invalid-manifest', `${manifestFile}: no ${MediaType.cacheConfigV0} entry: this index is not a cache manifest`);
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
    configFile: configInfo.digest ? blobFile(dir, configInfo.digest) : manifestFile,
  });
  const present = new Set<string>();
  await Promise.all(
    [...new Set(norm.layers.map((l) => l.blob))].map(async (b) => {
      if (await exists(blobFile(dir, b))) present.add(b);
    }),
  );
  return {
    source,
    model,
    layout: { dir, tag: digest ? null : (tag ?? 'latest'), digest: digest ?? null },
    manifestDescriptor: { mediaType: pm.mediaType, digest: manifestDesc.digest, size: m.size },
    texts: { manifest: m.text, config: configText, index: indexText },
    present,
  };
}

async function openFile(source: string, file: string): Promise<OpenedSource> {
  const info = await stat(file);
  if (info.size > MAX_JSON_BLOB) throw new CacheError('too-large', `${file} is ${info.size} bytes, over the ${MAX_JSON_BLOB}-byte limit for JSON files`);
  const text = decodeUtf8(await readFile(file));
  const value = parseJsonText(text, file);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CacheError('invalid-source', `${file}: expected a JSON object (a cache config, a cache manifest or an image config), got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  const obj = value as Record<string, unknown>;
  const base = { layout: null, present: new Set<string>() };
  if (obj[Annotation.inlineCacheKey] !== undefined) {
    const inline = inlineFromImageConfig(obj, file, null, info.size);
    const model = assembleCache({
      source,
      variant: 'inline',
      manifest: null,
      parsedManifest: null,
      config: { mediaType: MediaType.ociConfig, digest: sha256(text), size: info.size, format: 'inline-records' },
      norm: inline.norm,
      extraDescriptors: inline.descriptors,
      warnings: inline.warnings,
      configFile: file,
    });
    return { ...base, source, model, manifestDescriptor: null, texts: { manifest: null, config: text, index: null } };
  }
  if (looksLikeCacheConfig(obj)) {
    const norm = parseCacheConfig(obj, file);
    const warnings: CacheWarning[] = [];
    if (norm.format === 'v0' && norm.layers.length > 0) {
      warnings.push({ code: 'config-only', message: 'a bare cache config: without its manifest, layer media types and sizes are unknown and every result is dropped', where: file });
    }
    const model = assembleCache({
      source,
      variant: 'config-only',
      manifest: null,
      parsedManifest: null,
      config: { mediaType: MediaType.cacheConfigV0, digest: sha256(text), size: info.size, format: norm.format },
      norm,
      warnings,
      configFile: file,
    });
    return { ...base, source, model, manifestDescriptor: null, texts: { manifest: null, config: text, index: null } };
  }
  // A manifest file: if it sits in a layout's blobs/<alg>/ folder, open it from that layout.
  const algDir = dirname(file);
  const root = dirname(dirname(algDir));
  if (basename(dirname(algDir)) === 'blobs') {
    return openLayout(source, root, null, `${basename(algDir)}:${basename(file)}`);
  }
  const pm = parseCacheManifest(obj, file);
  throw new CacheError('missing-blob', `${file}: a bare cache manifest; its config ${pm.config?.digest ?? '(none)'} is not available next to it. Open the layout folder that holds its blobs instead.`, { file });
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** Opens any source string `inspect` accepts. */
export async function openCacheSource(source: string): Promise<OpenedSource> {
  const ref = parseSourceRef(source);
  const path = resolve(ref.path);
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new CacheError('not-found', `${ref.path}: no such file or directory`, { path: ref.path });
  }
  if (info.isDirectory()) return openLayout(source, path, ref.tag, ref.digest);
  if (ref.tag || ref.digest) throw new CacheError('invalid-source', `${ref.path} is a file; a tag or digest can only follow a layout folder`);
  if (!info.isFile()) throw new CacheError('invalid-source', `${ref.path} is neither a folder nor a regular file`);
  if (basename(path) === 'index.json') return openLayout(source, dirname(path), null, null);
  return openFile(source, path);
}
