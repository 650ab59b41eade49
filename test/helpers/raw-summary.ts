/** Computes a layout's summary straight from its raw JSON, independently of the engine, for assertions. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheSummary } from '../../shared/cache/view-types';

/** The counts are the engine's CacheSummary, computed here from the raw JSON without its code. */
export interface RawSummary extends CacheSummary {
  manifestDigest: string;
  configDigest: string;
}

const blob = (dir: string, digest: string) => join(dir, 'blobs', ...digest.split(':'));

export function rawSummary(dir: string, tag = 'latest'): RawSummary {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const manifest = JSON.parse(readFileSync(blob(dir, entry.digest), 'utf8'));
  const layerDescs = manifest.layers ?? manifest.manifests.filter((d: { mediaType: string }) => d.mediaType !== 'application/vnd.buildkit.cacheconfig.v0');
  const configDesc = manifest.config ?? manifest.manifests.find((d: { mediaType: string }) => d.mediaType === 'application/vnd.buildkit.cacheconfig.v0');
  const config = JSON.parse(readFileSync(blob(dir, configDesc.digest), 'utf8'));
  const sizes = new Map<string, number>(layerDescs.map((d: { digest: string; size: number }) => [d.digest, d.size]));
  const blobs = new Set<string>(config.layers.map((l: { blob: string }) => l.blob));
  return {
    manifestDigest: entry.digest,
    configDigest: configDesc.digest,
    layerEntries: config.layers.length,
    uniqueBlobs: blobs.size,
    records: config.records.length,
    recordsWithResults: config.records.filter((r: { layers?: unknown[]; chains?: unknown[] }) => (r.layers?.length ?? 0) + (r.chains?.length ?? 0) > 0).length,
    chainRoots: config.layers.filter((l: { parent?: number }) => l.parent === -1).length,
    sourceRecords: config.records.filter((r: { inputs?: unknown[] }) => (r.inputs?.length ?? 0) === 0).length,
    missingBlobs: [...blobs].filter((b) => !existsSync(blob(dir, b))).length,
    totalBytes: [...blobs].reduce((sum, b) => sum + (sizes.get(b) ?? 0), 0),
  };
}
