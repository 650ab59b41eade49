/**
 * Reads a cache manifest in every form (index / image manifest, OCI / Docker, with or without a
 * mediaType, the 2017 annotated index), inferring its type like BuildKit's
 * DetectManifestBlobMediaType and sorting its entries like cache/remotecache/import.go.
 */
import { Annotation, MediaType, isDockerMediaType } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import { asDescriptor, asDigest, asInt, asObject, asOptionalArray, asOptionalString, asStringMap, fail } from './field-checks';
import type { LegacyItemLike } from './parse-config';
import type { MediaTypeFamily } from './view-types';

export type ManifestKind = 'index' | 'manifest';

export interface ParsedManifest {
  kind: ManifestKind;
  /** The body's mediaType, or the type BuildKit infers when it is absent or not a manifest type. */
  mediaType: string;
  /** True when the type was inferred from the body (no usable mediaType in it). */
  inferred: boolean;
  /** A mediaType that is neither a manifest nor an index type: BuildKit ignores it and infers. */
  unknownMediaType: string | null;
  family: MediaTypeFamily;
  /** The cache config descriptor, or null (inline cache / legacy 2017 index). */
  config: Descriptor | null;
  /** Layer descriptors in manifest order, duplicates kept. */
  layers: Descriptor[];
  /** The 2017 form: an index of layer descriptors carrying buildkit.cachekey annotations and no config. */
  legacyAnnotated: boolean;
  /** The 2017 form's entries (empty otherwise), one per index entry, blobless ones included. */
  legacyItems: LegacyItemLike[];
  /** For image manifests that are not cache manifests: the image config descriptor (inline cache). */
  imageConfig: Descriptor | null;
  /** Index entries that are image manifests or indexes: an image index, whose platforms may carry inline cache. */
  platformManifests: Descriptor[];
}

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const CODE = 'invalid-manifest' as const;

export const LegacyAnnotation = {
  cacheKey: 'buildkit.cachekey',
  contentKey: 'buildkit.contentkey',
  parent: 'buildkit.parent',
  diffID: 'buildkit.diffid',
} as const;

export function isCacheConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.cacheConfigV0 || mediaType === MediaType.legacyBuildCacheV0;
}

/**
 * BuildKit's body-based inference, with its error texts. A key counts as present even when its value
 * is `null` (Go reads it into a json.RawMessage), except `mediaType` (a *string, which null leaves nil).
 */
export function inferManifestKind(obj: Record<string, unknown>, file: string): { kind: ManifestKind; mediaType: string; inferred: boolean; unknownMediaType: string | null } {
  const looksManifest = obj.config !== undefined || obj.layers !== undefined;
  if (looksManifest && obj.manifests !== undefined) fail(CODE, file, '(root)', 'invalid ambiguous manifest and manifest list');
  const kind: ManifestKind = looksManifest ? 'manifest' : 'index';
  const inferredType = kind === 'manifest' ? MediaType.dockerManifest : MediaType.dockerManifestList;
  const declared = asOptionalString(obj.mediaType, file, 'mediaType', CODE);
  if (declared === '') return { kind, mediaType: inferredType, inferred: true, unknownMediaType: null };
  const declaredKind = INDEX_TYPES.has(declared) ? 'index' : MANIFEST_TYPES.has(declared) ? 'manifest' : null;
  if (declaredKind === null) return { kind, mediaType: inferredType, inferred: true, unknownMediaType: declared };
  if (declaredKind !== kind) fail(CODE, file, 'mediaType', `mediaType in manifest does not match manifest contents (${declared} has ${kind === 'manifest' ? 'config/layers' : 'no config or layers'})`);
  return { kind, mediaType: declared, inferred: false, unknownMediaType: null };
}

/** A 2017 index entry: blobless entries (records without a snapshot) have an empty digest. */
function legacyEntry(raw: unknown, file: string, path: string): { item: LegacyItemLike; descriptor: Descriptor | null } {
  const o = asObject(raw, file, path, CODE);
  const ann = asStringMap(o.annotations, file, `${path}.annotations`, CODE);
  const digestText = asOptionalString(o.digest, file, `${path}.digest`, CODE);
  const descriptor = digestText === '' ? null : asDescriptor(raw, file, path, CODE);
  const key = (name: string) => {
    const v = ann[name] ?? '';
    return v === '' ? '' : asDigest(v, file, `${path}.annotations[${JSON.stringify(name)}]`);
  };
  return {
    item: {
      blobsum: digestText,
      cacheKey: key(LegacyAnnotation.cacheKey),
      contentKey: key(LegacyAnnotation.contentKey),
      parent: key(LegacyAnnotation.parent),
      diffID: key(LegacyAnnotation.diffID),
    },
    descriptor,
  };
}

function isLegacyEntry(raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object') return false;
  const ann = (raw as Record<string, unknown>).annotations;
  return ann !== null && typeof ann === 'object' && !Array.isArray(ann) && LegacyAnnotation.cacheKey in ann;
}

export function parseCacheManifest(value: unknown, file: string): ParsedManifest {
  const obj = asObject(value, file, '(root)', CODE);
  if (obj.schemaVersion !== undefined && obj.schemaVersion !== null) asInt(obj.schemaVersion, file, 'schemaVersion', CODE);
  const { kind, mediaType, inferred, unknownMediaType } = inferManifestKind(obj, file);
  const family: MediaTypeFamily = isDockerMediaType(mediaType) ? 'docker' : 'oci';
  const base = { kind, mediaType, inferred, unknownMediaType, family, legacyAnnotated: false, legacyItems: [] as LegacyItemLike[], imageConfig: null, platformManifests: [] as Descriptor[] };
  if (kind === 'index') {
    const raw = asOptionalArray(obj.manifests, file, 'manifests', CODE);
    // Only a string is looked at: an untrusted value is never converted (String() of 100k nested arrays overflows the stack).
    const hasConfig = raw.some((d) => {
      const mt = d !== null && typeof d === 'object' ? (d as Record<string, unknown>).mediaType : undefined;
      return typeof mt === 'string' && isCacheConfigMediaType(mt);
    });
    if (!hasConfig && raw.some(isLegacyEntry)) {
      const entries = raw.map((d, i) => legacyEntry(d, file, `manifests[${i}]`));
      return {
        ...base,
        config: null,
        layers: entries.flatMap((e) => (e.descriptor ? [e.descriptor] : [])),
        legacyAnnotated: true,
        legacyItems: entries.map((e) => e.item),
      };
    }
    const entries = raw.map((d, i) => asDescriptor(d, file, `manifests[${i}]`, CODE));
    let config: Descriptor | null = null;
    const layers: Descriptor[] = [];
    const platformManifests: Descriptor[] = [];
    for (const d of entries) {
      // BuildKit: every cacheconfig entry is the config (the last one wins); every other entry is a layer.
      if (isCacheConfigMediaType(d.mediaType)) config = d;
      else {
        layers.push(d);
        if (INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType)) platformManifests.push(d);
      }
    }
    return { ...base, config, layers, platformManifests: config ? [] : platformManifests };
  }
  const cfg = asDescriptor(obj.config, file, 'config', CODE);
  const layers = asOptionalArray(obj.layers, file, 'layers', CODE).map((d, i) => asDescriptor(d, file, `layers[${i}]`, CODE));
  const isCache = isCacheConfigMediaType(cfg.mediaType);
  return { ...base, config: isCache ? cfg : null, layers, imageConfig: isCache ? null : cfg };
}

/** The diffID annotation of a layer descriptor, if any. */
export function descriptorDiffId(d: Descriptor): string | null {
  return d.annotations?.[Annotation.uncompressed] ?? null;
}
