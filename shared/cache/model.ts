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

/** What a source contributes to a model, whatever its form. */
interface CacheParts {
  source: string;
  variant: ManifestVariant;
  manifest: ManifestInfo | null;
  parsedManifest: ParsedManifest | null;
  config: ConfigInfo;
  norm: NormConfig;
}

export interface CacheModel extends CacheParts {
  /** Blob digest -> descriptor: BuildKit's DescriptorProvider (the last descriptor for a digest wins). */
  descriptors: Map<string, Descriptor>;
  graph: CacheGraph;
  warnings: CacheWarning[];
}

export interface AssembleInput extends CacheParts {
  /** Extra descriptors, e.g. the image layers (with diffIDs from the image config) for inline cache. */
  extraDescriptors?: Descriptor[];
  warnings?: CacheWarning[];
  configFile: string;
}

/** How many items a warning names before it says "and N more". */
const LIST_LIMIT = 5;

function listSome(items: string[]): string {
  return items.length <= LIST_LIMIT ? items.join(', ') : `${items.slice(0, LIST_LIMIT).join(', ')} and ${items.length - LIST_LIMIT} more`;
}

/** Validates like BuildKit's importer (throws CacheError) and builds the graph; everything BuildKit would only skip becomes a warning. */
export function assembleCache(input: AssembleInput): CacheModel {
  // BuildKit fills its provider map in manifest order, so for a blob listed twice the last wins.
  const descriptors = new Map<string, Descriptor>();
  for (const d of input.parsedManifest?.layers ?? []) descriptors.set(d.digest, d);
  for (const d of input.extraDescriptors ?? []) descriptors.set(d.digest, d);
  for (const d of input.norm.descriptors) descriptors.set(d.digest, d);
  const graph = buildGraph(input.norm, descriptors, input.configFile);
  const warnings = [...(input.warnings ?? [])];
  const pm = input.parsedManifest;
  if (pm?.unknownMediaType) {
    warnings.push({
      code: 'unknown-media-type',
      message: `the manifest's mediaType ${JSON.stringify(pm.unknownMediaType)} is not a manifest or index type; like BuildKit, its body decides: ${pm.mediaType}`,
      where: input.manifest?.digest ?? undefined,
    });
  }
  if (input.manifest && input.manifest.size > IMPORT_LIMIT) {
    warnings.push(tooLarge('manifest', input.manifest.digest, input.manifest.size));
  }
  // The inline path reads the image config without BuildKit's limit.
  if (input.config.size > IMPORT_LIMIT && input.variant !== 'inline') {
    warnings.push(tooLarge('config', input.config.digest, input.config.size));
  }
  if (graph.droppedResults > 0) {
    const records = graph.resolutions.flatMap((r, i) => (r.dropped ? [`records[${i}]`] : []));
    warnings.push({
      code: 'results-dropped',
      message:
        `${graph.droppedResults} result(s) use a blob that is not among the manifest's descriptors; BuildKit silently skips them` +
        (records.length > 0 ? ` (left without any usable result: ${listSome(records)})` : ''),
      where: input.configFile,
    });
  }
  const broken = graph.layerProblems.flatMap((p, i) => (p === null ? [] : [`layers[${i}]: ${p}`]));
  if (broken.length > 0) {
    warnings.push({
      code: 'invalid-layer-chain',
      message: `${broken.length} layer entr${broken.length === 1 ? 'y has a chain' : 'ies have chains'} that never reach a root (${listSome(broken)}); no usable result walks through them, so BuildKit imports this config anyway, but an export refuses them`,
      where: input.configFile,
    });
  }
  const ignored = graph.ignored.flatMap((x, i) => (x ? [`records[${i}]`] : []));
  if (ignored.length > 0) {
    warnings.push({
      code: 'ignored-records',
      message: `${ignored.length} record(s) have a random: key or link to one (${listSome(ignored)}); BuildKit ignores them`,
      where: input.configFile,
    });
  }
  return { ...input, descriptors, graph, warnings };
}

function tooLarge(what: 'manifest' | 'config', digest: string | null, size: number): CacheWarning {
  return {
    code: 'import-limit',
    message: `blob ${digest ?? '(unnamed)'} is too large (${size} > ${IMPORT_LIMIT}): BuildKit's importer refuses a cache ${what} over 1 MiB, so exporting this cache works but importing it fails`,
    where: digest ?? undefined,
  };
}

export interface ViewContext {
  present: (digest: string) => boolean;
  orphans: OrphanReport | null;
  layout: CacheView['layout'];
  extraWarnings?: CacheWarning[];
  /** Default 'local'. */
  blobLocation?: CacheView['blobLocation'];
}

export function summarize(model: CacheModel, present: (digest: string) => boolean): CacheSummary {
  const blobs = new Set(model.norm.layers.map((l) => l.blob));
  let missing = 0;
  let total = 0;
  for (const b of blobs) {
    if (!present(b)) missing++;
    total += model.descriptors.get(b)?.size ?? 0;
  }
  let chainRoots = 0;
  for (const l of model.norm.layers) if (l.parent === -1) chainRoots++;
  return {
    layerEntries: model.norm.layers.length,
    uniqueBlobs: blobs.size,
    records: model.norm.records.length,
    recordsWithResults: model.norm.records.filter((r) => r.results.length > 0 || r.chains.length > 0).length,
    chainRoots,
    sourceRecords: model.norm.records.filter((r) => r.inputs.length === 0).length,
    missingBlobs: missing,
    totalBytes: total,
  };
}

export function layerRows(model: CacheModel, present: (digest: string) => boolean): LayerRow[] {
  const uses = new Map<string, number>();
  const { layers } = model.norm;
  for (const l of layers) uses.set(l.blob, (uses.get(l.blob) ?? 0) + 1);
  return layers.map((l, index) => {
    const d = model.descriptors.get(l.blob);
    const mediaType = d?.mediaType || l.annotations?.mediaType || '';
    const validParent = l.parent >= 0 && l.parent < layers.length;
    return {
      index,
      blob: l.blob,
      mediaType,
      size: d?.size ?? l.annotations?.size ?? 0,
      compression: compressionOfMediaType(mediaType) ?? 'unknown',
      diffID: d?.annotations?.[Annotation.uncompressed] ?? l.annotations?.diffID ?? null,
      // A descriptor's annotation is what BuildKit uses (gha's zero time gets none); the config's own only without a descriptor.
      createdAt: d ? (d.annotations?.[Annotation.createdAt] ?? null) : l.annotations?.createdAt || null,
      parent: l.parent,
      parentBlob: validParent ? layers[l.parent].blob : null,
      present: present(l.blob),
      blobUses: uses.get(l.blob) ?? 1,
      problem: model.graph.layerProblems[index],
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
    isSource: r.inputs.length === 0,
    isLeaf: graph.dependents[index].length === 0,
    droppedResult: graph.resolutions[index].dropped,
    shownResult: graph.resolutions[index].chosen,
    ignored: graph.ignored[index],
  }));
}

export function chainTree(model: CacheModel): ChainTree {
  const { layers } = model.norm;
  const n = layers.length;
  const children: number[][] = Array.from({ length: n }, () => []);
  const roots: number[] = [];
  layers.forEach((l, i) => {
    if (l.parent === -1) roots.push(i);
    else if (l.parent >= 0 && l.parent < n) children[l.parent].push(i);
  });
  const recordsEndingAt: number[][] = Array.from({ length: n }, () => []);
  model.graph.resolutions.forEach((res, i) => {
    if (res.stack.length > 0) recordsEndingAt[res.stack[res.stack.length - 1]].push(i);
  });
  const detached = model.graph.layerStacks.flatMap((s, i) => (s === null ? [i] : []));
  return { roots, children, recordsEndingAt, detached };
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
    blobLocation: ctx.blobLocation ?? 'local',
  };
}
