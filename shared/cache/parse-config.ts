/**
 * Reads a cache config in every form BuildKit ever wrote (v0, v0 with gha/s3 annotations, the 2017
 * `Items` form and annotated index, inline records) into one normalised shape.
 *
 * This is the "json.Unmarshal" half of BuildKit's import: types, digests and timestamps are checked
 * here, naming the file and the field. What BuildKit checks while walking the graph (links and layer
 * indexes in range, loops, empty input slots) is checked in graph.ts, in BuildKit's order.
 */
import { Annotation } from '../oci/media-types';
import type { Descriptor } from '../oci/types';
import type { CacheConfig } from './config-types';
import { asDigest, asInt, asObject, asOptionalArray, asOptionalString, asArray, fail } from './field-checks';
import { isRfc3339, timestampNanos } from './time';
import type { ConfigFormat } from './view-types';

export interface NormLayer {
  blob: string;
  /** Explicit: 0 when the JSON omitted it, -1 for none. Not range-checked here (graph.ts does, like BuildKit, where a result uses it). */
  parent: number;
  /**
   * gha/s3/azblob per-layer annotations as the config carried them; for the 2017 forms, the diffID
   * they carried (createdAt ''). Null otherwise.
   */
  annotations: { mediaType?: string; diffID?: string; size?: number; createdAt: string } | null;
}

export interface NormInput {
  link: number;
  selector: string | null;
}

export interface NormRecord {
  digest: string;
  /** Input slots, each a list of alternative links. Links are not range-checked here (graph.ts). */
  inputs: NormInput[][];
  results: { layer: number; createdAt: string }[];
  chains: { layers: number[]; createdAt: string }[];
}

export interface NormConfig {
  format: ConfigFormat;
  layers: NormLayer[];
  records: NormRecord[];
  /** Descriptors the config itself carries (gha/s3/azblob annotations): the only descriptors such a cache has. */
  descriptors: Descriptor[];
}

export interface ParseConfigOptions {
  /**
   * The config was read on its own (a gha/s3/azblob cache index, or a file copied out of a layout),
   * not through a cache manifest. Then layer annotations, when any layer has them, are the layer
   * descriptors, and BuildKit's gha/s3/azblob importer requires them on every layer. Through a
   * manifest they are ignored, as BuildKit's registry and local importers ignore them.
   */
  standalone?: boolean;
}

const CODE = 'invalid-config' as const;
/** Go's zero time.Time: gha's importer writes no createdat annotation for it. */
const ZERO_TIME = timestampNanos('0001-01-01T00:00:00Z');

/** The 2017 entries (an `Items` element or an annotated index entry), strings as Go wrote them ('' when empty). */
export interface LegacyItemLike {
  blobsum: string;
  cacheKey: string;
  contentKey: string;
  parent: string;
  diffID: string;
}

// The helpers below check the common case inline and build a field path only on failure: a config
// can hold 100k records, and a path string (or a closure) per field would cost more than the checks.

/** A Go int: absent or null reads as 0 (not omitempty in Go, but absent unmarshals to 0); NaN when invalid. */
function intOrNaN(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : NaN;
}

/** A Go time.Time: absent or null is the zero time (kept as ''); anything else must be RFC 3339. */
function time(value: unknown, file: string, at: string, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string' && isRfc3339(value)) return value;
  const path = `${at}${field}`;
  if (typeof value !== 'string') return fail(CODE, file, path, `expected an RFC 3339 time string, got ${Array.isArray(value) ? 'array' : typeof value}`);
  return fail(CODE, file, path, `invalid time ${JSON.stringify(value.slice(0, 60))}: Go's time.Time accepts only RFC 3339 (e.g. 2026-05-19T05:13:39.09772643Z), so BuildKit cannot read this config`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** An optional array: absent or null (Go's nil slice) reads as empty. */
function list(value: unknown, file: string, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  return asArray(value, file, path, CODE);
}

/** Record digests are keys, not paths, but they are shown and compared: a digest, or a `random:` key (which BuildKit ignores). */
function recordDigest(value: unknown, file: string, path: string): string {
  if (typeof value === 'string' && value.startsWith('random:')) return value;
  return asDigest(value, file, path);
}

function parseRecord(raw: unknown, file: string, p: string, index: number): NormRecord {
  const at = `${p}[${index}]`;
  if (!isObject(raw)) asObject(raw, file, at, CODE);
  const o = raw as Record<string, unknown>;
  const digest = recordDigest(o.digest, file, `${at}.digest`);
  const inputsRaw = list(o.inputs, file, `${at}.inputs`);
  const inputs: NormInput[][] = new Array(inputsRaw.length);
  for (let k = 0; k < inputsRaw.length; k++) {
    const slotRaw = inputsRaw[k];
    // A null slot is Go's nil slice: empty, which graph.ts reports as `invalid empty input for record %d`.
    const links = Array.isArray(slotRaw) ? slotRaw : list(slotRaw, file, `${at}.inputs[${k}]`);
    const slot: NormInput[] = new Array(links.length);
    for (let j = 0; j < links.length; j++) {
      const l = links[j];
      if (!isObject(l)) asObject(l, file, `${at}.inputs[${k}][${j}]`, CODE);
      const lo = l as Record<string, unknown>;
      const sel = lo.selector;
      const selector = sel === undefined || sel === null || sel === '' ? null : typeof sel === 'string' ? sel : asOptionalString(sel, file, `${at}.inputs[${k}][${j}].selector`, CODE);
      let link = intOrNaN(lo.link);
      if (Number.isNaN(link)) link = asInt(lo.link, file, `${at}.inputs[${k}][${j}].link`, CODE);
      slot[j] = { link, selector };
    }
    inputs[k] = slot;
  }
  const resultsRaw = list(o.layers, file, `${at}.layers`);
  const results: NormRecord['results'] = new Array(resultsRaw.length);
  for (let j = 0; j < resultsRaw.length; j++) {
    const r = resultsRaw[j];
    if (!isObject(r)) asObject(r, file, `${at}.layers[${j}]`, CODE);
    const ro = r as Record<string, unknown>;
    let layer = intOrNaN(ro.layer);
    if (Number.isNaN(layer)) layer = asInt(ro.layer, file, `${at}.layers[${j}].layer`, CODE);
    results[j] = { layer, createdAt: time(ro.createdAt, file, at, `.layers[${j}].createdAt`) };
  }
  const chainsRaw = list(o.chains, file, `${at}.chains`);
  const chains: NormRecord['chains'] = new Array(chainsRaw.length);
  for (let j = 0; j < chainsRaw.length; j++) {
    const c = chainsRaw[j];
    if (!isObject(c)) asObject(c, file, `${at}.chains[${j}]`, CODE);
    const co = c as Record<string, unknown>;
    const layersRaw = list(co.layers, file, `${at}.chains[${j}].layers`);
    const layers: number[] = new Array(layersRaw.length);
    for (let k = 0; k < layersRaw.length; k++) {
      let v = intOrNaN(layersRaw[k]);
      if (Number.isNaN(v)) v = asInt(layersRaw[k], file, `${at}.chains[${j}].layers[${k}]`, CODE);
      layers[k] = v;
    }
    chains[j] = { layers, createdAt: time(co.createdAt, file, at, `.chains[${j}].createdAt`) };
  }
  return { digest, inputs, results, chains };
}

function parseAnnotations(value: unknown, file: string, p: string): NonNullable<NormLayer['annotations']> {
  const a = asObject(value, file, `${p}.annotations`, CODE);
  const out: NonNullable<NormLayer['annotations']> = { createdAt: time(a.createdAt, file, p, '.annotations.createdAt') };
  if (a.mediaType !== undefined && a.mediaType !== null) out.mediaType = asOptionalString(a.mediaType, file, `${p}.annotations.mediaType`, CODE);
  const diffID = asOptionalString(a.diffID, file, `${p}.annotations.diffID`, CODE);
  if (diffID !== '') out.diffID = asDigest(diffID, file, `${p}.annotations.diffID`);
  if (a.size !== undefined && a.size !== null) out.size = asInt(a.size, file, `${p}.annotations.size`, CODE, 0);
  return out;
}

function parseV0(obj: Record<string, unknown>, file: string, standalone: boolean): NormConfig {
  const layersRaw = list(obj.layers, file, 'layers');
  const recordsRaw = list(obj.records, file, 'records');
  let annotated = 0;
  const layers: NormLayer[] = layersRaw.map((raw, i) => {
    if (!isObject(raw)) asObject(raw, file, `layers[${i}]`, CODE);
    const o = raw as Record<string, unknown>;
    const blob = asDigest(o.blob, file, `layers[${i}].blob`);
    let parent = intOrNaN(o.parent);
    if (Number.isNaN(parent)) parent = asInt(o.parent, file, `layers[${i}].parent`, CODE);
    let annotations: NormLayer['annotations'] = null;
    if (o.annotations !== undefined && o.annotations !== null) {
      annotated++;
      annotations = parseAnnotations(o.annotations, file, `layers[${i}]`);
    }
    return { blob, parent, annotations };
  });
  const gha = standalone && annotated > 0;
  const descriptors: Descriptor[] = [];
  if (gha) {
    // BuildKit's gha/s3/azblob importers build one descriptor per layer entry, in order, before
    // parsing the graph; the first entry without annotations (or without a diffID) fails the import.
    const byBlob = new Map<string, Descriptor>();
    layers.forEach((l, i) => {
      if (!l.annotations) fail(CODE, file, `layers[${i}].annotations`, 'cache layer with missing annotations');
      if (!l.annotations.diffID) fail(CODE, file, `layers[${i}].annotations.diffID`, 'cache layer with missing diffid');
      const ann: Record<string, string> = { [Annotation.uncompressed]: l.annotations.diffID };
      if (l.annotations.createdAt && timestampNanos(l.annotations.createdAt) !== ZERO_TIME) ann[Annotation.createdAt] = l.annotations.createdAt;
      // A Go map keyed by blob: the last entry for a blob wins.
      byBlob.set(l.blob, { mediaType: l.annotations.mediaType ?? '', digest: l.blob, size: l.annotations.size ?? 0, annotations: ann });
    });
    descriptors.push(...byBlob.values());
  }
  const records = recordsRaw.map((raw, i) => parseRecord(raw, file, 'records', i));
  return { format: gha ? 'v0-annotated' : 'v0', layers, records, descriptors };
}

/**
 * The 2017 forms (Items config, annotated index) as layer chains plus one record per cache key. Each
 * distinct blob is one layer entry; its parent is found by blob digest. A parent blob that no entry
 * lists becomes an entry of its own with no descriptor, so the results above it show as dropped
 * (BuildKit 2017 failed them with `blob %s not found in cache`).
 */
export function legacyItemsToConfig(items: LegacyItemLike[]): NormConfig {
  const layers: NormLayer[] = [];
  const byBlob = new Map<string, number>();
  const entryFor = (blob: string): number => {
    let idx = byBlob.get(blob);
    if (idx === undefined) {
      idx = layers.length;
      byBlob.set(blob, idx);
      layers.push({ blob, parent: -1, annotations: null });
    }
    return idx;
  };
  for (const it of items) {
    if (it.blobsum === '') continue;
    const idx = entryFor(it.blobsum);
    if (it.diffID && !layers[idx].annotations) layers[idx].annotations = { diffID: it.diffID, createdAt: '' };
  }
  const parentSet = new Set<number>();
  for (const it of items) {
    if (it.blobsum === '' || it.parent === '') continue;
    const idx = byBlob.get(it.blobsum)!;
    if (parentSet.has(idx)) continue; // the first entry naming a parent for this blob wins
    parentSet.add(idx);
    layers[idx].parent = entryFor(it.parent);
  }
  const records: NormRecord[] = items
    .filter((it) => it.cacheKey !== '')
    .map((it) => ({
      digest: it.cacheKey,
      inputs: [],
      results: it.blobsum ? [{ layer: byBlob.get(it.blobsum)!, createdAt: '' }] : [],
      chains: [],
    }));
  return { format: 'legacy-items', layers, records, descriptors: [] };
}

function parseLegacyItems(obj: Record<string, unknown>, file: string): NormConfig {
  const items = asArray(obj.Items, file, 'Items', CODE).map((raw, i) => {
    const o = asObject(raw, file, `Items[${i}]`, CODE);
    // Go field names, no omitempty; every non-empty value is a digest (digest.Parse in the 2017 importer).
    const d = (k: string) => {
      const v = asOptionalString(o[k], file, `Items[${i}].${k}`, CODE);
      return v === '' ? '' : asDigest(v, file, `Items[${i}].${k}`);
    };
    return { blobsum: d('Blobsum'), cacheKey: d('CacheKey'), contentKey: d('ContentKey'), parent: d('Parent'), diffID: d('DiffID') };
  });
  return legacyItemsToConfig(items);
}

/** Parses a cacheconfig.v0 document of either schema (§12 detection rule: a top-level `Items` is the 2017 form). */
export function parseCacheConfig(value: unknown, file: string, options: ParseConfigOptions = {}): NormConfig {
  const obj = asObject(value, file, '(root)', CODE);
  if (obj.Items !== undefined && obj.Items !== null) return parseLegacyItems(obj, file);
  return parseV0(obj, file, options.standalone === true);
}

/** Parses the records array of inline cache; layers come from the image (parent(i) = i-1). */
export function parseInlineRecords(value: unknown, layerBlobs: string[], file: string): NormConfig {
  const recordsRaw = asOptionalArray(value, file, '(root)', CODE);
  const layers: NormLayer[] = layerBlobs.map((blob, i) => ({ blob, parent: i - 1, annotations: null }));
  const records = recordsRaw.map((raw, i) => parseRecord(raw, file, 'records', i));
  return { format: 'inline-records', layers, records, descriptors: [] };
}

/** Whether a JSON object looks like a cache config (either schema) rather than a manifest or image config. */
export function looksLikeCacheConfig(obj: Record<string, unknown>): boolean {
  if (obj.Items !== undefined) return true;
  if (obj.schemaVersion !== undefined || obj.manifests !== undefined || obj.config !== undefined || obj.mediaType !== undefined) return false;
  if (obj.rootfs !== undefined || obj.architecture !== undefined) return false;
  // An image manifest's layers are descriptors (`digest`), a config's layers are chain entries (`blob`).
  if (Array.isArray(obj.layers) && obj.layers.length > 0) {
    const first = obj.layers[0] as Record<string, unknown> | null;
    if (first && typeof first === 'object' && 'digest' in first && !('blob' in first)) return false;
  }
  return obj.layers !== undefined || obj.records !== undefined || Object.keys(obj).length === 0;
}

export type { CacheConfig };
