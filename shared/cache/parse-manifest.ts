/** Reads a cache manifest in either form (index / image manifest, OCI / Docker), inferring its type like BuildKit. */
import { Annotation, MediaType, isDockerMediaType } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import { asArray, asDescriptor, asInt, asObject, asString, fail } from './field-checks';
import type { MediaTypeFamily } from './view-types';

export type ManifestKind = 'index' | 'manifest';

export interface ParsedManifest {
  kind: ManifestKind;
  mediaType: string;
  /** True when the body had no mediaType and it was inferred (BuildKit's DetectManifestBlobMediaType). */
  inferred: boolean;
  family: MediaTypeFamily;
  /** The cache config descriptor, or null (inline cache / legacy 2017 index). */
  config: Descriptor | null;
  /** Layer descriptors in manifest order, duplicates kept. */
  layers: Descriptor[];
  /** The 2017 form: an index of layer descriptors carrying buildkit.cachekey annotations and no config. */
  legacyAnnotated: boolean;
  /** For image manifests that are not cache manifests: the image config descriptor (inline cache). */
  imageConfig: Descriptor | null;
}

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);

/** BuildKit's body-based inference, with its error texts. */
export function inferManifestKind(obj: Record<string, unknown>, file: string): { kind: ManifestKind; mediaType: string; inferred: boolean } {
  const looksManifest = obj.config !== undefined || obj.layers !== undefined;
  const looksIndex = obj.manifests !== undefined;
  if (looksManifest && looksIndex) fail('invalid-manifest', file, '(root)', 'invalid ambiguous manifest and manifest list');
  const kind: ManifestKind = looksManifest ? 'manifest' : 'index';
  if (obj.mediaType === undefined || obj.mediaType === '') {
    return { kind, mediaType: kind === 'manifest' ? MediaType.dockerManifest : MediaType.dockerManifestList, inferred: true };
  }
  const mediaType = asString(obj.mediaType, file, 'mediaType', 'invalid-manifest');
  const declared = INDEX_TYPES.has(mediaType) ? 'index' : MANIFEST_TYPES.has(mediaType) ? 'manifest' : null;
  if (declared === null) fail('invalid-manifest', file, 'mediaType', `unsupported manifest media type ${JSON.stringify(mediaType)} (expected an OCI or Docker index or manifest)`);
  if (declared !== kind) fail('invalid-manifest', file, 'mediaType', 'mediaType in manifest does not match manifest contents');
  return { kind, mediaType, inferred: false };
}

export function parseCacheManifest(value: unknown, file: string): ParsedManifest {
  const obj = asObject(value, file, '(root)', 'invalid-manifest');
  if (obj.schemaVersion !== undefined) asInt(obj.schemaVersion, file, 'schemaVersion', 'invalid-manifest');
  const { kind, mediaType, inferred } = inferManifestKind(obj, file);
  const family: MediaTypeFamily = isDockerMediaType(mediaType) ? 'docker' : 'oci';
  if (kind === 'index') {
    const entries = asArray(obj.manifests ?? [], file, 'manifests', 'invalid-manifest').map((d, i) => asDescriptor(d, file, `manifests[${i}]`, 'invalid-manifest'));
    let config: Descriptor | null = null;
    const layers: Descriptor[] = [];
    for (const d of entries) {
      // BuildKit: every cacheconfig entry is the config (the last one wins); every other entry is a layer.
      if (d.mediaType === MediaType.cacheConfigV0 || d.mediaType === MediaType.legacyBuildCacheV0) config = d;
      else layers.push(d);
    }
    const legacyAnnotated = config === null && layers.length > 0 && layers.some((d) => d.annotations?.['buildkit.cachekey'] !== undefined);
    return { kind, mediaType, inferred, family, config, layers, legacyAnnotated, imageConfig: null };
  }
  const cfg = asDescriptor(obj.config, file, 'config', 'invalid-manifest');
  const layers = obj.layers === null || obj.layers === undefined ? [] : asArray(obj.layers, file, 'layers', 'invalid-manifest').map((d, i) => asDescriptor(d, file, `layers[${i}]`, 'invalid-manifest'));
  const isCache = cfg.mediaType === MediaType.cacheConfigV0 || cfg.mediaType === MediaType.legacyBuildCacheV0;
  return { kind, mediaType, inferred, family, config: isCache ? cfg : null, layers, legacyAnnotated: false, imageConfig: isCache ? null : cfg };
}

/** The diffID annotation of a layer descriptor, if any. */
export function descriptorDiffId(d: Descriptor): string | null {
  return d.annotations?.[Annotation.uncompressed] ?? null;
}
