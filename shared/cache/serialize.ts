/**
 * Byte-exact JSON for BuildKit cache objects (format doc §11): the same bytes BuildKit writes, so the
 * same digests. Each Go type is described once below, field for field in declaration order with its
 * `omitempty` flag, from:
 *   - cache/remotecache/v1/types/spec.go (moby/buildkit) for the cache config;
 *   - specs-go/v1/{manifest,index,descriptor,layout}.go (opencontainers/image-spec v1.1) for OCI;
 *   - cache/cacheimport/export.go @ 7171f5a27 for the 2017 legacy `Items` config.
 * Hashing is the caller's job (shared/ has no crypto).
 */
import type { CacheConfig, CacheRecord, LegacyConfig } from './config-types';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../oci/types';
import type { GoMarshalOptions, GoSchema } from '../json/go-json';
import { goArray, goInt, goMap, goMarshal, goPointer, goRaw, goString, goStruct, goTime } from '../json/go-json';

// ---- cache config v0 -------------------------------------------------------------------------------

export const layerAnnotationsSchema: GoSchema = goStruct([
  ['mediaType', goString, true],
  ['diffID', goString, true],
  ['size', goInt, true],
  // time.Time is a struct: omitempty never drops it, and the tag has not said omitempty since d31230ea9.
  ['createdAt', goTime],
]);

export const cacheLayerSchema: GoSchema = goStruct([
  ['blob', goString, true],
  // ParentIndex int `json:"parent,omitempty"`: a parent of 0 is never written; -1 ("no parent") is.
  ['parent', goInt, true],
  ['annotations', goPointer(layerAnnotationsSchema), true],
]);

export const cacheResultSchema: GoSchema = goStruct([
  ['layer', goInt],
  ['createdAt', goTime],
]);

export const chainedResultSchema: GoSchema = goStruct([
  ['layers', goArray(goInt)],
  ['createdAt', goTime],
]);

export const cacheInputSchema: GoSchema = goStruct([
  ['selector', goString, true],
  ['link', goInt],
]);

export const cacheRecordSchema: GoSchema = goStruct([
  ['layers', goArray(cacheResultSchema), true], // Go field Results
  ['chains', goArray(chainedResultSchema), true],
  ['digest', goString, true],
  ['inputs', goArray(goArray(cacheInputSchema)), true],
]);

export const cacheConfigSchema: GoSchema = goStruct([
  ['layers', goArray(cacheLayerSchema), true],
  ['records', goArray(cacheRecordSchema), true],
]);

/** 2017 legacy config: Go field names as keys, no tags, so no omitempty either. */
export const legacyConfigSchema: GoSchema = goStruct([
  [
    'Items',
    goArray(
      goStruct([
        ['Blobsum', goString],
        ['CacheKey', goString],
        ['ContentKey', goString],
        ['Parent', goString],
        ['DiffID', goString],
      ]),
    ),
  ],
]);

// ---- OCI image-spec --------------------------------------------------------------------------------

export const platformSchema: GoSchema = goStruct([
  ['architecture', goString],
  ['os', goString],
  ['os.version', goString, true],
  ['os.features', goArray(goString), true],
  ['variant', goString, true],
]);

export const descriptorSchema: GoSchema = goStruct([
  ['mediaType', goString],
  ['digest', goString],
  ['size', goInt],
  ['urls', goArray(goString), true],
  ['annotations', goMap(goString), true],
  // []byte in Go, i.e. base64 text in JSON; the TS type already holds that text.
  ['data', goString, true],
  ['platform', goPointer(platformSchema), true],
  ['artifactType', goString, true],
]);

export const manifestSchema: GoSchema = goStruct([
  ['schemaVersion', goInt],
  ['mediaType', goString, true],
  ['artifactType', goString, true],
  ['config', descriptorSchema],
  // Not omitempty: BuildKit before v0.13 wrote `"layers":null` for an export without layers.
  ['layers', goArray(descriptorSchema)],
  ['subject', goPointer(descriptorSchema), true],
  ['annotations', goMap(goString), true],
]);

export const indexSchema: GoSchema = goStruct([
  ['schemaVersion', goInt],
  ['mediaType', goString, true],
  ['artifactType', goString, true],
  ['manifests', goArray(descriptorSchema)],
  ['subject', goPointer(descriptorSchema), true],
  ['annotations', goMap(goString), true],
]);

export const ociLayoutSchema: GoSchema = goStruct([['imageLayoutVersion', goString]]);

/** image-spec v1.1 fields that shared/oci/types.ts does not model; written when present. */
export interface ArtifactFields {
  artifactType?: string;
  subject?: Descriptor;
}

// ---- entry points ----------------------------------------------------------------------------------

export function marshalConfig(config: CacheConfig, options?: GoMarshalOptions): string {
  return goMarshal(config, cacheConfigSchema, options);
}

/** The 2017 `{"Items":[…]}` config (format doc §12). */
export function marshalLegacyConfig(config: LegacyConfig, options?: GoMarshalOptions): string {
  return goMarshal(config, legacyConfigSchema, options);
}

export function marshalManifest(manifest: ImageManifest & ArtifactFields, options?: GoMarshalOptions): string {
  return goMarshal(manifest, manifestSchema, options);
}

/** An OCI index: a cache manifest list (index variant) or a layout's index.json. */
export function marshalIndex(index: ImageIndex & ArtifactFields, options?: GoMarshalOptions): string {
  return goMarshal(index, indexSchema, options);
}

export function marshalDescriptor(descriptor: Descriptor, options?: GoMarshalOptions): string {
  return goMarshal(descriptor, descriptorSchema, options);
}

export function marshalPlatform(platform: Platform, options?: GoMarshalOptions): string {
  return goMarshal(platform, platformSchema, options);
}

/** The `oci-layout` file: `{"imageLayoutVersion":"1.0.0"}`, no newline. */
export function marshalOciLayout(version = '1.0.0'): string {
  return goMarshal({ imageLayoutVersion: version }, ociLayoutSchema);
}

/**
 * The inline-cache payload (format doc §8): a JSON array of records, before it is base64-encoded into
 * the image config.
 */
export function marshalInlineRecords(records: CacheRecord[], options?: GoMarshalOptions): string {
  return goMarshal(records, goArray(cacheRecordSchema), options);
}

/**
 * An image config as BuildKit's patchImageConfig writes it: a `map[string]json.RawMessage`, so the
 * top-level keys come out sorted and each value keeps its own (struct-ordered) shape.
 */
export function marshalPatchedImageConfig(config: Record<string, unknown>, options?: GoMarshalOptions): string {
  return goMarshal(config, goMap(goRaw), options);
}
