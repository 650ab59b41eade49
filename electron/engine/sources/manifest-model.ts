/**
 * The one parse path from a cache manifest to the model, shared by local layouts and registries: the
 * manifest's config (a cache config, or an image config with inline cache) is read through a
 * `JsonBlobReader`, so where the blobs live changes nothing in what is built.
 */
import { CacheError } from '../../../shared/contract/errors';
import { asDigest, asObject, asOptionalArray, asOptionalString } from '../../../shared/cache/field-checks';
import { decodeBase64, decodeUtf8, parseJsonText } from '../../../shared/cache/json-text';
import { assembleCache } from '../../../shared/cache/model';
import type { CacheModel } from '../../../shared/cache/model';
import { legacyItemsToConfig, parseCacheConfig, parseInlineRecords } from '../../../shared/cache/parse-config';
import type { NormConfig } from '../../../shared/cache/parse-config';
import { isCacheConfigMediaType, parseCacheManifest } from '../../../shared/cache/parse-manifest';
import type { ParsedManifest } from '../../../shared/cache/parse-manifest';
import type { CacheView, CacheWarning, ConfigInfo, ManifestInfo } from '../../../shared/cache/view-types';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';

/** JSON blobs above this are refused outright (BuildKit's own limit is 1 MiB; we read more to show why it fails). */
export const MAX_JSON_BLOB = 64 << 20;

/** Where a descriptor was found, so a blob that disagrees with it names the file and the field. */
export interface DescriptorRef {
  what: string;
  file: string;
  field: string;
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
export function inlineFromImageConfig(config: Record<string, unknown>, file: string, manifestLayers: Descriptor[] | null): InlineParts {
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

/** A JSON blob read and checked against its descriptor (digest and size), wherever the source keeps it. */
export interface JsonBlob {
  text: string;
  value: unknown;
  size: number;
  /** The blob's name in messages: its file in a layout, `host/repo@digest` in a registry. */
  file: string;
}

/** How the shared parse path reads the manifest's config blob: from a layout's files or from a registry. */
export interface JsonBlobReader {
  read(desc: { digest: string; size: number | null }, ref: DescriptorRef): Promise<JsonBlob>;
  /** The name a blob goes by in messages. */
  name(digest: string): string;
}

export interface ManifestInput {
  source: string;
  /** The manifest's digest (verified by the caller). */
  digest: string;
  /** The media type the referrer declared (index.json entry, registry Content-Type; '' when none), who declared it and where, for the warning. */
  declared: { mediaType: string; by: string; where: string };
  manifest: JsonBlob;
  /** What a platform image's digest is appended to (`BASE@sha256:…`) in the "open one platform" message. */
  platformBase: string;
  warnings: CacheWarning[];
}

/**
 * The one parse path from a cache manifest to the model, shared by local layouts and registries:
 * reads the config (cache config, or an image config with inline cache) through `reader`.
 */
export async function modelFromManifest(input: ManifestInput, reader: JsonBlobReader): Promise<{ model: CacheModel; configText: string | null; manifestDescriptor: Descriptor }> {
  const { source, manifest: m, warnings } = input;
  const manifestFile = m.file;
  const pm = parseCacheManifest(m.value, manifestFile);
  const declared = input.declared;
  if (declared.mediaType && declared.mediaType !== pm.mediaType && !pm.inferred) {
    warnings.push({ code: 'media-type-disagrees', message: `${declared.by} says ${declared.mediaType} but the manifest body says ${pm.mediaType}`, where: declared.where });
  }
  let norm: NormConfig;
  let configInfo: ConfigInfo;
  let configText: string | null = null;
  let variant: CacheView['variant'] = pm.kind === 'index' ? 'index' : 'image-manifest';
  let extra: Descriptor[] = [];
  if (pm.config) {
    const field = pm.kind === 'index' ? (cacheConfigField(m.value) ?? 'manifests') : 'config';
    const c = await reader.read(pm.config, { what: 'cache config', file: manifestFile, field });
    configText = c.text;
    norm = parseCacheConfig(c.value, c.file);
    configInfo = { mediaType: pm.config.mediaType, digest: pm.config.digest, size: c.size, format: norm.format };
  } else if (pm.legacyAnnotated) {
    variant = 'legacy-index';
    norm = legacyItemsToConfig(pm.legacyItems);
    configInfo = { mediaType: '(annotations on index entries)', digest: null, size: 0, format: 'legacy-items' };
  } else if (pm.imageConfig) {
    const c = await reader.read(pm.imageConfig, { what: 'image config', file: manifestFile, field: 'config' });
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
    const list = pm.platformManifests.map((d) => `${input.platformBase}@${d.digest}${d.platform ? ` (${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''})` : ''}`).join(', ');
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
    manifest: manifestInfo(pm, input.digest, m.size),
    parsedManifest: pm,
    config: configInfo,
    norm,
    extraDescriptors: extra,
    warnings,
    configFile: configInfo.digest ? reader.name(configInfo.digest) : manifestFile,
  });
  return { model, configText, manifestDescriptor: { mediaType: pm.mediaType, digest: input.digest, size: m.size } };
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
