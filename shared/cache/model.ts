/** One model for every cache form, and the view-shaped snapshot derived from it. */
import { Annotation, compressionOfMediaType } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import { buildGraph } from './graph';
import type { CacheGraph } from './graph';
import type { NormConfig } from './parse-config';
import type { ParsedManifest } from './parse-manifest';
import type {
  CacheSummary,
  CacheView,
  CacheWarning,
  ChainTree,
  ConfigInfo,
  LayerRow,
  ManifestInfo,
  ManifestVariant,
  OrphanReport,
  RecordRow,
} from './view-types';

/** BuildKit's importer refuses manifests and configs over 1 MiB (`blob %s is too large (%d > %d)`). */
export const IMPORT_LIMIT = 1 << 20;

export interface CacheModel {
  source: string;
  variant: ManifestVariant;
  manifest: ManifestInfo | null;
  parsedManifest: ParsedManifest | null;
  config: ConfigInfo;
  norm: NormConfig;
  /** Blob digest -> descriptor (manifest descriptors first, then those the config carries). */
  descriptors: Map<string, Descriptor>;
  graph: CacheGraph;
  warnings: CacheWarning[];
}

export interface AssembleInput {
  source: string;
  variant: ManifestVariant;
  manifest: ManifestInfo | null;
  parsedManifest: ParsedManifest | null;
  config: ConfigInfo;
  norm: NormConfig;
  /** Extra descriptors, e.g. from an image manifest for inline cache. */
  extraDescriptors?: Descriptor[];
  warnings?: CacheWarning[];
  configFile: string;
}

export function assembleCache(input: AssembleInput): CacheModel {
  const descriptors = new Map<string, Descriptor>();
  for (const d of input.parsedManifest?.layers ?? []) if (!descriptors.has(d.digest)) descriptors.set(d.digest, d);
  for (const d of input.extraDescriptors ?? []) if (!descriptors.has(d.digest)) descriptors.set(d.digest, d);
  for (const d of input.norm.descriptors) if (!descriptors.has(d.digest)) descriptors.set(d.digest, d);
  const graph = buildGraph(input.norm, descriptors, input.configFile);
  const warnings = [...(input.warnings ?? [])];
  if (input.manifest && input.manifest.size > IMPORT_LIMIT) {
    warnings.push(tooLarge('manifest', input.manifest.digest, input.manifest.size));
  }
  if (input.config.size > IMPORT_LIMIT && input.variant !== 'inline') {
    warnings.push(tooLarge('config', input.config.digest, input.config.size));
  }
  const dropped = graph.resolutions.filter((r) => r.dropped).length;
  if (dropped > 0) {
    warnings.push({
      code: 'results-dropped',
      message: `${dropped} record result(s) use a blob that is not among the manifest's descriptors; BuildKit silently skips them`,
      where: input.configFile,
    });
  }
  return { ...input, descriptors, graph, warnings };
}

function tooLarge(what: 'manifest' | 'config', digest: string | null, size: number): CacheWarning {
  return {
    code: 'import-limit',
    message: `the cache ${what} is ${size} bytes: BuildKit's importer refuses it ("blob ${digest ?? '(inline)'} is too large (${size} > ${IMPORT_LIMIT})"), so the export works but every later import fails`,
    where: digest ?? undefined,
  };
}

export interface ViewContext {
  present: (digest: string) => boolean;
  orphans: OrphanReport | null;
  layout: CacheView['layout'];
  extraWarnings?: CacheWarning[];
}

export function summarize(model: CacheModel, present: (digest: string) => boolean): CacheSummary {
  const blobs = new Set(model.norm.layers.map((l) => l.blob));
  let missing = 0;
  let total = 0;
  for (const b of blobs) {
    if (!present(b)) missing++;
    total += model.descriptors.get(b)?.size ?? 0;
  }
  return {
    layerEntries: model.norm.layers.length,
    uniqueBlobs: blobs.size,
    records: model.norm.records.length,
    recordsWithResults: model.norm.records.filter((r) => r.results.length > 0 || r.chains.length > 0).length,
    roots: model.norm.layers.filter((l) => l.parent === -1).length,
    missingBlobs: missing,
    totalBytes: total,
  };
}

export function layerRows(model: CacheModel, present: (digest: string) => boolean): LayerRow[] {
  const uses = new Map<string, number>();
  for (const l of model.norm.layers) uses.set(l.blob, (uses.get(l.blob) ?? 0) + 1);
  return model.norm.layers.map((l, index) => {
    const d = model.descriptors.get(l.blob);
    const mediaType = d?.mediaType || l.annotations?.mediaType || '';
    return {
      index,
      blob: l.blob,
      mediaType,
      size: d?.size ?? l.annotations?.size ?? 0,
      compression: compressionOfMediaType(mediaType) ?? 'unknown',
      diffID: d?.annotations?.[Annotation.uncompressed] ?? l.annotations?.diffID ?? null,
      createdAt: d?.annotations?.[Annotation.createdAt] ?? (l.annotations?.createdAt || null),
      parent: l.parent,
      parentBlob: l.parent >= 0 ? model.norm.layers[l.parent].blob : null,
      present: present(l.blob),
      blobUses: uses.get(l.blob) ?? 1,
    };
  });
}

export function recordRows(model: CacheModel): RecordRow[] {
  const { graph } = model;
  return model.norm.records.map((r, index) => ({
    index,
    digest: r.digest,
    inputs: r.inputs.map((slot) => slot.map((i) => ({ link: i.link, selector: i.selector }))),
    results: r.results.map((x) => ({ layer: x.layer, createdAt: x.createdAt })),
    chains: r.chains.map((c) => ({ layers: [...c.layers], createdAt: c.createdAt })),
    stack: graph.resolutions[index].stack,
    resultSize: graph.resultSizes[index],
    sharedBytes: graph.sharedBytes[index],
    dependents: graph.dependents[index],
    isRoot: r.inputs.length === 0,
    isLeaf: graph.dependents[index].length === 0,
    droppedResult: graph.resolutions[index].dropped,
  }));
}

export function chainTree(model: CacheModel): ChainTree {
  const n = model.norm.layers.length;
  const children: number[][] = Array.from({ length: n }, () => []);
  const roots: number[] = [];
  model.norm.layers.forEach((l, i) => (l.parent === -1 ? roots.push(i) : children[l.parent].push(i)));
  const recordsEndingAt: number[][] = Array.from({ length: n }, () => []);
  model.graph.resolutions.forEach((res, i) => {
    if (res.stack.length > 0) recordsEndingAt[res.stack[res.stack.length - 1]].push(i);
  });
  return { roots, children, recordsEndingAt };
}

export function toView(model: CacheModel, ctx: ViewContext): CacheView {
  return {
    source: model.source,
    manifest: model.manifest,
    variant: model.variant,
    config: model.config,
    summary: summarize(model, ctx.present),
    layers: layerRows(model, ctx.present),
    records: recordRows(model),
    chain: chainTree(model),
    orphans: ctx.orphans,
    warnings: [...model.warnings, ...(ctx.extraWarnings ?? [])],
    layout: ctx.layout,
  };
}
