/**
 * Reads a cache config in every form BuildKit ever wrote (v0, v0 with gha/s3 annotations, the 2017
 * `Items` form, inline records) into one normalised shape, with BuildKit's import checks and texts.
 */
import { Annotation, MediaType } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import type { CacheConfig } from './config-types';
import { asArray, asDigest, asInt, asObject, asString, fail } from './field-checks';
import type { ConfigFormat } from './view-types';

export interface NormLayer {
  blob: string;
  /** Explicit: 0 when the JSON omitted it, -1 for none. */
  parent: number;
  annotations: { mediaType?: string; diffID?: string; size?: number; createdAt: string } | null;
}

export interface NormInput {
  link: number;
  selector: string | null;
}

export interface NormRecord {
  digest: string;
  inputs: NormInput[][];
  results: { layer: number; createdAt: string }[];
  chains: { layers: number[]; createdAt: string }[];
}

export interface NormConfig {
  format: ConfigFormat;
  layers: NormLayer[];
  records: NormRecord[];
  /** Descriptors the config itself carries (gha/s3 annotations, legacy forms). */
  descriptors: Descriptor[];
}

const CODE = 'invalid-config' as const;

function parseInputs(value: unknown, file: string, path: string, recordIndex: number, recordCount: number): NormInput[][] {
  if (value === undefined || value === null) return [];
  return asArray(value, file, path, CODE).map((slot, k) => {
    const slotPath = `${path}[${k}]`;
    if (slot === null || (Array.isArray(slot) && slot.length === 0)) fail(CODE, file, slotPath, `invalid empty input for record ${recordIndex}`);
    return asArray(slot, file, slotPath, CODE).map((raw, j) => {
      const p = `${slotPath}[${j}]`;
      const o = asObject(raw, file, p, CODE);
      const link = asInt(o.link ?? 0, file, `${p}.link`, CODE);
      if (link < 0 || link >= recordCount) fail(CODE, file, `${p}.link`, `invalid record ID: ${link}`);
      if (link === recordIndex) fail(CODE, file, `${p}.link`, 'invalid looping record');
      const selector = o.selector === undefined || o.selector === '' ? null : asString(o.selector, file, `${p}.selector`, CODE);
      return { link, selector };
    });
  });
}

function parseV0(obj: Record<string, unknown>, file: string): NormConfig {
  const layersRaw = obj.layers === undefined || obj.layers === null ? [] : asArray(obj.layers, file, 'layers', CODE);
  const recordsRaw = obj.records === undefined || obj.records === null ? [] : asArray(obj.records, file, 'records', CODE);
  let annotated = 0;
  const layers: NormLayer[] = layersRaw.map((raw, i) => {
    const p = `layers[${i}]`;
    const o = asObject(raw, file, p, CODE);
    const blob = asDigest(o.blob, file, `${p}.blob`);
    const parent = o.parent === undefined ? 0 : asInt(o.parent, file, `${p}.parent`, CODE, -1);
    if (parent >= layersRaw.length) fail(CODE, file, `${p}.parent`, `invalid layer index ${parent}`);
    let annotations: NormLayer['annotations'] = null;
    if (o.annotations !== undefined && o.annotations !== null) {
      annotated++;
      const a = asObject(o.annotations, file, `${p}.annotations`, CODE);
      annotations = { createdAt: a.createdAt === undefined ? '' : asString(a.createdAt, file, `${p}.annotations.createdAt`, CODE) };
      if (a.mediaType !== undefined) annotations.mediaType = asString(a.mediaType, file, `${p}.annotations.mediaType`, CODE);
      if (a.diffID !== undefined && a.diffID !== '') annotations.diffID = asDigest(a.diffID, file, `${p}.annotations.diffID`);
      if (a.size !== undefined) annotations.size = asInt(a.size, file, `${p}.annotations.size`, CODE, 0);
    }
    return { blob, parent, annotations };
  });
  if (annotated > 0) {
    // gha/s3/azblob configs: BuildKit's importer needs the annotations on every layer.
    layers.forEach((l, i) => {
      if (!l.annotations) fail(CODE, file, `layers[${i}].annotations`, 'cache layer with missing annotations');
      if (!l.annotations.diffID) fail(CODE, file, `layers[${i}].annotations.diffID`, 'cache layer with missing diffid');
    });
  }
  const records = recordsRaw.map((raw, i) => parseRecord(raw, file, `records[${i}]`, i, recordsRaw.length, layers.length));
  const descriptors: Descriptor[] = [];
  if (annotated > 0) {
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.blob)) continue;
      seen.add(l.blob);
      const ann: Record<string, string> = {};
      if (l.annotations!.createdAt) ann[Annotation.createdAt] = l.annotations!.createdAt;
      ann[Annotation.uncompressed] = l.annotations!.diffID!;
      descriptors.push({ mediaType: l.annotations!.mediaType ?? '', digest: l.blob, size: l.annotations!.size ?? 0, annotations: ann });
    }
  }
  return { format: annotated > 0 ? 'v0-annotated' : 'v0', layers, records, descriptors };
}

function parseRecord(raw: unknown, file: string, p: string, index: number, recordCount: number, layerCount: number): NormRecord {
  const o = asObject(raw, file, p, CODE);
  const digest = asString(o.digest ?? '', file, `${p}.digest`, CODE);
  if (!digest.startsWith('random:')) asDigest(digest, file, `${p}.digest`);
  const inputs = parseInputs(o.inputs, file, `${p}.inputs`, index, recordCount);
  const results = (o.layers === undefined || o.layers === null ? [] : asArray(o.layers, file, `${p}.layers`, CODE)).map((r, j) => {
    const rp = `${p}.layers[${j}]`;
    const ro = asObject(r, file, rp, CODE);
    const layer = asInt(ro.layer ?? 0, file, `${rp}.layer`, CODE);
    if (layer < 0 || layer >= layerCount) fail(CODE, file, `${rp}.layer`, `invalid layer index ${layer}`);
    return { layer, createdAt: ro.createdAt === undefined ? '' : asString(ro.createdAt, file, `${rp}.createdAt`, CODE) };
  });
  const chains = (o.chains === undefined || o.chains === null ? [] : asArray(o.chains, file, `${p}.chains`, CODE)).map((c, j) => {
    const cp = `${p}.chains[${j}]`;
    const co = asObject(c, file, cp, CODE);
    const ls = asArray(co.layers ?? [], file, `${cp}.layers`, CODE).map((v, k) => {
      const layer = asInt(v, file, `${cp}.layers[${k}]`, CODE);
      if (layer < 0 || layer >= layerCount) fail(CODE, file, `${cp}.layers[${k}]`, `invalid layer index ${layer}`);
      return layer;
    });
    return { layers: ls, createdAt: co.createdAt === undefined ? '' : asString(co.createdAt, file, `${cp}.createdAt`, CODE) };
  });
  return { digest, inputs, results, chains };
}

export interface LegacyItemLike {
  blobsum: string;
  cacheKey: string;
  contentKey: string;
  parent: string;
  diffID: string;
}

/** The 2017 forms (Items config, annotated index) as one chain of layers plus one record per cache key. */
export function legacyItemsToConfig(items: LegacyItemLike[], file: string): NormConfig {
  const layers: NormLayer[] = [];
  const byBlob = new Map<string, number>();
  const descriptors: Descriptor[] = [];
  items.forEach((it, i) => {
    if (it.blobsum === '' || byBlob.has(it.blobsum)) return;
    asDigest(it.blobsum, file, `Items[${i}].Blobsum`);
    byBlob.set(it.blobsum, layers.length);
    layers.push({ blob: it.blobsum, parent: -1, annotations: null });
    const ann: Record<string, string> = {};
    if (it.diffID) ann[Annotation.uncompressed] = it.diffID;
    descriptors.push({ mediaType: MediaType.dockerLayerGzip, digest: it.blobsum, size: 0, annotations: ann });
  });
  items.forEach((it) => {
    if (it.blobsum === '' || it.parent === '') return;
    const idx = byBlob.get(it.blobsum)!;
    const parentIdx = byBlob.get(it.parent);
    if (parentIdx !== undefined) layers[idx].parent = parentIdx;
  });
  const records: NormRecord[] = items.map((it) => ({
    digest: it.cacheKey,
    inputs: [],
    results: it.blobsum ? [{ layer: byBlob.get(it.blobsum)!, createdAt: '' }] : [],
    chains: [],
  }));
  return { format: 'legacy-items', layers, records, descriptors };
}

function parseLegacyItems(obj: Record<string, unknown>, file: string): NormConfig {
  const items = asArray(obj.Items, file, 'Items', CODE).map((raw, i) => {
    const o = asObject(raw, file, `Items[${i}]`, CODE);
    const s = (k: string) => (o[k] === undefined || o[k] === null ? '' : asString(o[k], file, `Items[${i}].${k}`, CODE));
    return { blobsum: s('Blobsum'), cacheKey: s('CacheKey'), contentKey: s('ContentKey'), parent: s('Parent'), diffID: s('DiffID') };
  });
  return legacyItemsToConfig(items, file);
}

/** Parses a cacheconfig.v0 document of either schema (§12 detection rule: a top-level `Items` is the 2017 form). */
export function parseCacheConfig(value: unknown, file: string): NormConfig {
  const obj = asObject(value, file, '(root)', CODE);
  if (obj.Items !== undefined) return parseLegacyItems(obj, file);
  return parseV0(obj, file);
}

/** Parses the records array of inline cache; layers come from the image (parent(i) = i-1). */
export function parseInlineRecords(value: unknown, layerBlobs: string[], file: string): NormConfig {
  const recordsRaw = asArray(value, file, 'moby.buildkit.cache.v0', CODE);
  const layers: NormLayer[] = layerBlobs.map((blob, i) => ({ blob, parent: i - 1, annotations: null }));
  const records = recordsRaw.map((raw, i) => parseRecord(raw, file, `moby.buildkit.cache.v0[${i}]`, i, recordsRaw.length, layers.length));
  return { format: 'inline-records', layers, records, descriptors: [] };
}

/** Whether a JSON object looks like a cache config (either schema) rather than a manifest or image config. */
export function looksLikeCacheConfig(obj: Record<string, unknown>): boolean {
  if (obj.Items !== undefined) return true;
  if (obj.schemaVersion !== undefined || obj.manifests !== undefined || obj.config !== undefined) return false;
  if (obj.rootfs !== undefined || obj.architecture !== undefined) return false;
  return obj.layers !== undefined || obj.records !== undefined || Object.keys(obj).length === 0;
}

export type { CacheConfig };
