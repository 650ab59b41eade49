/**
 * Pure export planning: which layer entries survive (drop-missing), which blobs are copied or
 * converted and with which media type, and, once conversions are done, the cache config and layer
 * descriptors BuildKit's exporter would write for them. No I/O: the engine supplies blob facts
 * (presence, magic-byte compression) and the results of conversions.
 */
import { CacheError } from '../contract/errors';
import type { CacheConfig, CacheInput, CacheRecord } from '../cache/config-types';
import type { NormConfig, NormLayer, NormRecord } from '../cache/parse-config';
import { marshalConfig, marshalIndex, marshalManifest } from '../cache/serialize';
import { sortConfig } from '../cache/sort-config';
import { compareGoStrings } from '../json/go-json';
import type { ConfigFormat } from '../cache/view-types';
import { Annotation, MediaType, compressionOfMediaType, convertLayerMediaType, layerMediaType } from '../oci/media-types';
import type { Compression } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import { withDistributionSource } from '../oci/distribution-source';
import type { DistributionSource } from '../oci/distribution-source';
import { describeLevel } from './options';
import type { ResolvedExportOptions } from './options';
import type { ExportPreview } from './types';

/** What the engine learned about one source blob before planning. */
export interface BlobFacts {
  present: boolean;
  /** Compression read from the blob's first bytes (BuildKit's detectCompressionType); null when not read. */
  detected: Compression | null;
}

/** The parts of an opened cache the planner reads (a CacheModel satisfies it). */
export interface PlanSource {
  norm: NormConfig;
  descriptors: Map<string, Descriptor>;
  config: { format: ConfigFormat };
  /** Layer stacks (base first) per entry, null when the chain is broken, and why: CacheGraph's fields. */
  graph: { layerStacks: (number[] | null)[]; layerProblems?: (string | null)[] };
}

export interface PlanInput {
  source: PlanSource;
  options: ResolvedExportOptions;
  facts: (digest: string) => BlobFacts;
  /**
   * The registry repository the source's blobs are read from (a registry source), or null/absent for
   * a local one: copied layers then carry its `containerd.io/distribution.source.<host>` annotation.
   */
  distributionSource?: DistributionSource | null;
}

export type LayerClass = 'regular' | 'nondistributable' | 'empty' | 'unknown';

const REGULAR_LAYER_TYPES = new Set<string>([
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.dockerLayer,
  MediaType.dockerLayerGzip,
  MediaType.dockerLayerZstd,
]);

const NONDISTRIBUTABLE_TYPES = new Set<string>([
  MediaType.dockerForeignLayer,
  MediaType.dockerForeignLayerGzip,
  MediaType.ociNondistributable,
  MediaType.ociNondistributableGzip,
  MediaType.ociNondistributableZstd,
]);

export function classifyLayerMediaType(mediaType: string): LayerClass {
  if (mediaType === '') return 'empty';
  if (REGULAR_LAYER_TYPES.has(mediaType)) return 'regular';
  if (NONDISTRIBUTABLE_TYPES.has(mediaType)) return 'nondistributable';
  return 'unknown';
}

/** Annotations that describe one particular compressed encoding (estargz) and so die with a conversion. */
const ENCODING_ANNOTATIONS = ['containerd.io/snapshot/stargz/toc.digest', 'io.containers.estargz.uncompressed-size'];

export interface BlobPlan {
  /** Source blob digest. */
  source: string;
  size: number;
  sourceMediaType: string;
  /** Compression of the bytes: detected when read, else implied by the media type; null when unknown. */
  actual: Compression | null;
  action: 'copy' | 'convert';
  /** Compression written: the target of a conversion, else `actual`. */
  target: Compression | null;
  /** Media type of the exported descriptor when copied (conversions get theirs from the target). */
  mediaType: string;
  /** `containerd.io/uncompressed` of the source, or null. */
  diffID: string | null;
  present: boolean;
  /** Layer entries (kept ones) that use this blob. */
  uses: number;
  /** Why the media type was corrected or a conversion skipped, for the preview and logs; null when nothing to say. */
  note: string | null;
}

export interface LayerEntryPlan {
  index: number;
  blob: string;
  /** Why this entry is dropped (drop-missing), or null when it is exported. */
  dropped: string | null;
}

export interface ExportPlan {
  options: ResolvedExportOptions;
  /** Every referenced blob that is absent (from disk or from the descriptors), in first-use order. */
  missing: string[];
  entries: LayerEntryPlan[];
  /** Source layer indexes that are exported, ascending. */
  kept: number[];
  /** One per distinct blob of the kept entries, in first-use order. */
  blobs: BlobPlan[];
  droppedResults: number;
  /** No layer entry survives: BuildKit's `skipping cache export for empty result`. */
  empty: boolean;
  manifestMediaType: string;
  /** See PlanInput.distributionSource; null for a local source (the manifest bytes are then BuildKit's own). */
  distributionSource: DistributionSource | null;
}

/** The result of converting one blob, supplied by the engine. */
export interface ConvertedBlob {
  digest: string;
  size: number;
  diffID: string;
  compression: Compression;
}

export function manifestMediaType(options: Pick<ResolvedExportOptions, 'oci' | 'imageManifest'>): string {
  if (options.imageManifest) return MediaType.ociManifest;
  return options.oci ? MediaType.ociIndex : MediaType.dockerManifestList;
}

function planBlob(digest: string, desc: Descriptor, facts: BlobFacts, options: ResolvedExportOptions): Omit<BlobPlan, 'uses'> {
  const sourceMediaType = desc.mediaType;
  const kind = classifyLayerMediaType(sourceMediaType);
  const declared = kind === 'regular' ? compressionOfMediaType(sourceMediaType) : null;
  const actual = facts.detected ?? declared;
  let mediaType = convertLayerMediaType(sourceMediaType, options.oci);
  let note: string | null = null;
  if (kind === 'empty' && actual) {
    // refs.go: a descriptor without a media type gets one detected from the blob's data.
    mediaType = layerMediaType(actual, options.oci);
    note = `no media type: ${actual} detected from the blob's first bytes`;
  } else if (kind === 'regular' && facts.detected && declared !== facts.detected) {
    // A lying media type would make every consumer decompress with the wrong codec: the bytes win.
    mediaType = layerMediaType(facts.detected, options.oci);
    note = `media type says ${declared} but the blob's first bytes are ${facts.detected}: exported as ${mediaType}`;
  }
  let action: BlobPlan['action'] = 'copy';
  let target: Compression | null = actual;
  const wanted = options.target;
  if (wanted !== null && facts.present) {
    if (kind === 'nondistributable') {
      note = `non-distributable layer (${sourceMediaType}): kept as it is`;
    } else if (kind === 'unknown') {
      note = `unknown layer media type ${JSON.stringify(sourceMediaType)}: kept as it is`;
    } else if (actual !== wanted) {
      action = 'convert';
      target = wanted;
    }
  }
  const diffID = desc.annotations?.[Annotation.uncompressed] ?? (actual === 'uncompressed' ? digest : null);
  return { source: digest, size: desc.size, sourceMediaType, actual, action, target, mediaType, diffID, present: facts.present, note };
}

/** Decides what to export. Throws nothing for missing blobs: the caller decides (fail, or drop-missing). */
export function planExport(input: PlanInput): ExportPlan {
  const { source, options } = input;
  const { norm, descriptors } = source;
  const factsMemo = new Map<string, BlobFacts>();
  const factsOf = (d: string): BlobFacts => {
    let f = factsMemo.get(d);
    if (!f) factsMemo.set(d, (f = input.facts(d)));
    return f;
  };
  const absent = (d: string) => !descriptors.has(d) || !factsOf(d).present;
  const missing: string[] = [];
  const seenMissing = new Set<string>();
  for (const l of norm.layers) {
    if (absent(l.blob) && !seenMissing.has(l.blob)) {
      seenMissing.add(l.blob);
      missing.push(l.blob);
    }
  }
  const entries: LayerEntryPlan[] = norm.layers.map((l, index) => {
    const stack = source.graph.layerStacks[index];
    if (stack === null) {
      // BuildKit's marshal never writes a broken chain; exporting one would make every importer fail.
      const why = source.graph.layerProblems?.[index] ?? 'invalid looping layer';
      throw new CacheError('invalid-config', `layers[${index}]: ${why}: this chain cannot be exported`, { field: `layers[${index}]` });
    }
    const gone = stack.find((i) => absent(norm.layers[i].blob));
    if (gone === undefined) return { index, blob: l.blob, dropped: null };
    const blob = norm.layers[gone].blob;
    const why = !descriptors.has(blob) ? 'has no descriptor in the cache manifest' : 'is absent from the source';
    return { index, blob: l.blob, dropped: gone === index ? `blob ${blob} ${why}` : `its chain needs blob ${blob}, which ${why}` };
  });
  // Without drop-missing nothing is dropped: the export fails on `missing` before writing.
  const keptSet = new Set(entries.filter((e) => e.dropped === null || !options.dropMissing).map((e) => e.index));
  const kept = [...keptSet].sort((a, b) => a - b);
  let droppedResults = 0;
  if (options.dropMissing) {
    for (const r of norm.records) {
      droppedResults += r.results.filter((x) => !keptSet.has(x.layer)).length;
      droppedResults += r.chains.filter((c) => c.layers.some((l) => !keptSet.has(l))).length;
    }
  }
  const byBlob = new Map<string, BlobPlan>();
  for (const i of kept) {
    const blob = norm.layers[i].blob;
    const existing = byBlob.get(blob);
    if (existing) {
      existing.uses++;
      continue;
    }
    const desc = descriptors.get(blob) ?? { mediaType: '', digest: blob, size: 0 };
    byBlob.set(blob, { ...planBlob(blob, desc, factsOf(blob), options), uses: 1 });
  }
  return {
    options,
    missing,
    entries,
    kept,
    blobs: [...byBlob.values()],
    droppedResults,
    empty: kept.length === 0,
    manifestMediaType: manifestMediaType(options),
    distributionSource: input.distributionSource ?? null,
  };
}

/** `missing blob <digest>` for each, one per line: BuildKit's Finalize text, for every blob at once. */
export function missingBlobsMessage(missing: readonly string[]): string {
  return missing.map((d) => `missing blob ${d}`).join('\n');
}

export function previewFromPlan(plan: ExportPlan, source: PlanSource): ExportPreview {
  const blobs = new Map(plan.blobs.map((b) => [b.source, b]));
  const layers = plan.entries.map((e) => {
    const desc = source.descriptors.get(e.blob);
    const b = blobs.get(e.blob);
    const dropped = plan.options.dropMissing ? e.dropped : null;
    const targetMediaType = b ? (b.action === 'convert' ? layerMediaType(b.target!, plan.options.oci) : b.mediaType) : convertLayerMediaType(desc?.mediaType ?? '', plan.options.oci);
    return {
      index: e.index,
      blob: e.blob,
      size: desc?.size ?? 0,
      mediaType: desc?.mediaType ?? '',
      targetMediaType,
      convert: b?.action === 'convert',
      present: b?.present ?? (source.descriptors.has(e.blob) && !plan.missing.includes(e.blob)),
      dropped,
    };
  });
  const totalBytes = plan.blobs.reduce((sum, b) => sum + b.size, 0);
  const error = !plan.options.dropMissing && plan.missing.length > 0 ? missingBlobsMessage(plan.missing) : null;
  return {
    layers,
    totalBytes,
    convertCount: plan.blobs.filter((b) => b.action === 'convert').length,
    droppedLayers: plan.options.dropMissing ? plan.entries.length - plan.kept.length : 0,
    droppedResults: plan.droppedResults,
    missingBlobs: plan.missing,
    manifestMediaType: plan.manifestMediaType,
    tag: plan.options.tag,
    error,
    empty: plan.empty,
    notes: plan.blobs.filter((b) => b.note !== null).map((b) => ({ blob: b.source, note: b.note! })),
    effectiveLevel: plan.options.target === null || plan.options.target === 'uncompressed' ? null : plan.options.level,
    levelNote: describeLevel(plan.options),
  };
}

/**
 * The exported layer descriptor of one blob, after its conversion (if any). A blob copied from a
 * registry (`from`) gets that repository in its distribution-source annotation, as GetRemote adds it
 * to a lazy ref's descriptor, so a later push can mount it from there.
 */
export function exportedDescriptor(blob: BlobPlan, source: Descriptor | undefined, converted: ConvertedBlob | undefined, oci: boolean, from: DistributionSource | null = null): Descriptor {
  const base: Descriptor = source ?? { mediaType: '', digest: blob.source, size: blob.size };
  if (blob.action === 'copy' || !converted) {
    const out: Descriptor = { ...base, mediaType: blob.mediaType };
    if (from) out.annotations = withDistributionSource(base.annotations, from);
    return out;
  }
  // refs.go getRemote: a converted descriptor keeps the non-encoding annotations and gets the new blob's.
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(base.annotations ?? {})) if (!ENCODING_ANNOTATIONS.includes(k)) annotations[k] = v;
  annotations[Annotation.uncompressed] = converted.diffID;
  const out: Descriptor = { mediaType: layerMediaType(converted.compression, oci), digest: converted.digest, size: converted.size, annotations };
  if (base.urls) out.urls = base.urls;
  return out;
}

/** The exported config in normalised form, before sorting, with the source blob of each entry. */
export interface ExportedChains {
  config: NormConfig;
  /** Per layer entry of `config`: the source blob it came from. */
  sourceBlobs: string[];
  /** False when nothing changed: the source config text can be written as it is. */
  changed: boolean;
}

/**
 * Applies drops and conversions to the config: keeps the surviving entries, rewrites blob digests,
 * remaps parent/result/chain indexes, and merges entries that became the same chain (same blob on
 * the same parent chain, which BuildKit's marshal would have written once).
 */
export function exportChains(plan: ExportPlan, source: PlanSource, converted: ReadonlyMap<string, ConvertedBlob>): ExportedChains {
  const { norm } = source;
  const newBlob = (b: string) => converted.get(b)?.digest ?? b;
  const anyConverted = plan.blobs.some((b) => b.action === 'convert' && converted.has(b.source) && converted.get(b.source)!.digest !== b.source);
  const dropped = plan.kept.length !== norm.layers.length;
  const changed = dropped || anyConverted || source.config.format !== 'v0';
  if (!changed) {
    return { config: { ...norm, descriptors: [] }, sourceBlobs: norm.layers.map((l) => l.blob), changed: false };
  }
  // Chain identity after conversion: the blob sequence from the base up. Entries with equal
  // identity collapse onto the first (lowest source index).
  const idOf = (i: number) => source.graph.layerStacks[i]!.map((j) => newBlob(norm.layers[j].blob)).join(' ');
  const oldToNew = new Map<number, number>();
  const firstById = new Map<string, number>();
  const keptUnique: number[] = [];
  for (const i of plan.kept) {
    const id = idOf(i);
    const first = firstById.get(id);
    if (first !== undefined) {
      oldToNew.set(i, oldToNew.get(first)!);
      continue;
    }
    firstById.set(id, i);
    oldToNew.set(i, keptUnique.length);
    keptUnique.push(i);
  }
  const layers: NormLayer[] = keptUnique.map((i) => {
    const l = norm.layers[i];
    // Local and registry configs never carry per-layer annotations (only gha/s3/azblob write them).
    return { blob: newBlob(l.blob), parent: l.parent === -1 ? -1 : oldToNew.get(l.parent)!, annotations: null };
  });
  const records: NormRecord[] = norm.records.map((r) => {
    const results = r.results.filter((x) => oldToNew.has(x.layer)).map((x) => ({ layer: oldToNew.get(x.layer)!, createdAt: x.createdAt }));
    const chains = r.chains
      .filter((c) => c.layers.every((l) => oldToNew.has(l)))
      .map((c) => ({ layers: c.layers.map((l) => oldToNew.get(l)!), createdAt: c.createdAt }));
    return { digest: r.digest, inputs: r.inputs.map((slot) => slot.map((x) => ({ ...x }))), results, chains };
  });
  return {
    config: { format: 'v0', layers, records, descriptors: [] },
    sourceBlobs: keptUnique.map((i) => norm.layers[i].blob),
    changed: true,
  };
}

/** NormConfig back to the JSON shape (omitempty fields left out as BuildKit leaves them). */
export function toCacheConfig(norm: NormConfig): CacheConfig {
  const config: CacheConfig = {};
  if (norm.layers.length > 0) {
    config.layers = norm.layers.map((l) => (l.parent === 0 ? { blob: l.blob } : { blob: l.blob, parent: l.parent }));
  }
  if (norm.records.length > 0) {
    config.records = norm.records.map((r) => {
      const rec: CacheRecord = {};
      // An absent createdAt (2017 forms) is Go's zero time, which the writer prints for undefined.
      if (r.results.length > 0) rec.layers = r.results.map((x) => ({ layer: x.layer, createdAt: x.createdAt || (undefined as unknown as string) }));
      if (r.chains.length > 0) rec.chains = r.chains.map((c) => ({ layers: [...c.layers], createdAt: c.createdAt || (undefined as unknown as string) }));
      if (r.digest !== '') rec.digest = r.digest;
      if (r.inputs.length > 0) rec.inputs = r.inputs.map((slot) => slot.map((x): CacheInput => (x.selector ? { selector: x.selector, link: x.link } : { link: x.link })));
      return rec;
    });
  }
  return config;
}

export interface ExportConfig {
  /** The config JSON to write. */
  text: string;
  /** Per layer entry of the written config, in its order: the source blob it came from. */
  sourceBlobs: string[];
  /** True when `text` is the source config's own text (nothing changed). */
  reused: boolean;
}

/**
 * The config to write. Unchanged: the source's own bytes (same digest as the source, which no
 * re-serialisation could promise for ties, §15). Changed: BuildKit's sortConfig, then Go's JSON.
 * sortConfig leaves `chains` indexes alone (as BuildKit does, because its inline exporter writes
 * chains after sorting); we sort configs that already have chains, so we remap them here.
 */
export function buildExportConfig(chains: ExportedChains, sourceText: string | null): ExportConfig {
  if (!chains.changed && sourceText !== null) return { text: sourceText, sourceBlobs: chains.sourceBlobs, reused: true };
  const raw = toCacheConfig(chains.config);
  const rawLayers = raw.layers ?? [];
  // The same order sortConfig computes: (blob, old parent). After exportChains merged equal chains
  // no two entries share both, so this order is total and matches sortConfig's exactly.
  const order = rawLayers.map((_, i) => i);
  order.sort((i, j) => compareGoStrings(rawLayers[i].blob ?? '', rawLayers[j].blob ?? '') || (rawLayers[i].parent ?? 0) - (rawLayers[j].parent ?? 0));
  const newIndex = new Array<number>(order.length);
  order.forEach((old, i) => (newIndex[old] = i));
  const sorted = sortConfig(raw);
  for (const r of sorted.records ?? []) {
    if (r.chains) r.chains = r.chains.map((c) => ({ ...c, layers: c.layers.map((l) => newIndex[l]) }));
  }
  return { text: marshalConfig(sorted), sourceBlobs: order.map((old) => chains.sourceBlobs[old]), reused: false };
}

/** The layer descriptors of the manifest: one per config layer entry, in config order, duplicates kept. */
export function exportLayerDescriptors(plan: ExportPlan, source: PlanSource, sourceBlobs: readonly string[], converted: ReadonlyMap<string, ConvertedBlob>): Descriptor[] {
  const blobs = new Map(plan.blobs.map((b) => [b.source, b]));
  return sourceBlobs.map((src) => {
    const b = blobs.get(src);
    if (!b) throw new CacheError('internal', `export plan has no blob ${src}`);
    return exportedDescriptor(b, source.descriptors.get(src), converted.get(src), plan.options.oci, plan.distributionSource);
  });
}

/** The cache manifest: index form with the config last, or image-manifest form with the config as `config`. */
export function buildExportManifest(options: Pick<ResolvedExportOptions, 'oci' | 'imageManifest'>, layers: Descriptor[], config: Descriptor): string {
  const mediaType = manifestMediaType(options);
  if (options.imageManifest) return marshalManifest({ schemaVersion: 2, mediaType, config, layers });
  return marshalIndex({ schemaVersion: 2, mediaType, manifests: [...layers, config] });
}
