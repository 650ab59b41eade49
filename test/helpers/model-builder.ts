/** Builds real CacheModels (through assembleCache, so the graph code runs) from compact descriptions. */
import { createHash } from 'node:crypto';
import { assembleCache } from '../../shared/cache/model';
import type { CacheModel } from '../../shared/cache/model';
import type { NormConfig } from '../../shared/cache/parse-config';
import { MediaType } from '../../shared/oci/media-types';

/** A valid sha256 digest named by a word, so tests read like the data they describe. */
export function dg(word: string): string {
  return `sha256:${createHash('sha256').update(word).digest('hex')}`;
}

export interface LayerSpec {
  blob: string;
  parent: number;
  diffID?: string;
  size?: number;
}

export interface RecordSpec {
  digest: string;
  /** Slots of alternatives: [link, selector?]. */
  inputs?: [number, string?][][];
  result?: number;
  chain?: number[];
  createdAt?: string;
}

export function buildModel(layers: LayerSpec[], records: RecordSpec[]): CacheModel {
  const norm: NormConfig = {
    format: 'v0',
    layers: layers.map((l) => ({ blob: l.blob, parent: l.parent, annotations: null })),
    records: records.map((r) => ({
      digest: r.digest,
      inputs: (r.inputs ?? []).map((slot) => slot.map(([link, selector]) => ({ link, selector: selector ?? null }))),
      results: r.result === undefined ? [] : [{ layer: r.result, createdAt: r.createdAt ?? '2026-01-01T00:00:00Z' }],
      chains: r.chain === undefined ? [] : [{ layers: r.chain, createdAt: r.createdAt ?? '2026-01-01T00:00:00Z' }],
    })),
    descriptors: [],
  };
  const seen = new Set<string>();
  const descriptors = layers
    .filter((l) => !seen.has(l.blob) && seen.add(l.blob))
    .map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.blob, size: l.size ?? 1000, annotations: { 'containerd.io/uncompressed': l.diffID ?? dg(`diff:${l.blob}`) } }));
  return assembleCache({
    source: 'test',
    variant: 'image-manifest',
    manifest: null,
    parsedManifest: null,
    config: { mediaType: MediaType.cacheConfigV0, digest: null, size: 0, format: 'v0' },
    norm,
    extraDescriptors: descriptors,
    configFile: 'test-config.json',
  });
}
