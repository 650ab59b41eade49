/**
 * An independent oracle for the diff, for tests only: it reads a generation's raw JSON (manifest and
 * cache config, straight from `blobs/`) and recomputes, the slow and obvious way, what the engine's
 * diff must say: record matching by its definition (recursive, memoised, every pair of records tried),
 * blobs on each side, results changed, the form, and for every unmatched final result of B the first
 * change and what it cost. It shares no code with shared/diff or shared/cache: nothing here is
 * optimised, every rule is written out as the README and issue 8 state it. (Only `engineView` at the
 * end knows the engine's result type, to put it in the oracle's shape.)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheDiff } from '../../../shared/diff/types';

/** What the oracle needs of one side: its raw JSON, as read from the layout. */
export interface RawCache {
  manifest: Record<string, unknown> | null;
  config: RawConfig;
}

export interface RawConfig {
  layers?: { blob: string; parent?: number }[];
  records?: { digest: string; inputs?: { selector?: string; link: number }[][]; layers?: { layer: number; createdAt: string }[]; chains?: { layers: number[]; createdAt: string }[] }[];
}

interface RawDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

const CACHE_CONFIG = 'application/vnd.buildkit.cacheconfig.v0';

/** Reads `DIR@sha256:…` as raw JSON: the manifest blob, then the config blob it names. */
export async function readRawGeneration(dir: string, manifestDigest: string): Promise<RawCache> {
  const blob = async (digest: string) => JSON.parse(await readFile(join(dir, 'blobs', ...digest.split(':')), 'utf8')) as Record<string, unknown>;
  const manifest = await blob(manifestDigest);
  const config = (descriptorsOf(manifest).find((d) => d.mediaType === CACHE_CONFIG) ?? (manifest.config as RawDescriptor)).digest;
  return { manifest, config: (await blob(config)) as RawConfig };
}

/** Every descriptor a manifest lists: an index's `manifests`, or an image manifest's config and layers. */
function descriptorsOf(manifest: Record<string, unknown>): RawDescriptor[] {
  if (Array.isArray(manifest.manifests)) return manifest.manifests as RawDescriptor[];
  return [manifest.config as RawDescriptor, ...((manifest.layers as RawDescriptor[] | undefined) ?? [])];
}

function layerDescriptors(c: RawCache): Map<string, RawDescriptor> {
  const out = new Map<string, RawDescriptor>();
  // The last descriptor of a digest wins, as BuildKit's provider map.
  for (const d of c.manifest ? descriptorsOf(c.manifest) : []) if (d.mediaType !== CACHE_CONFIG) out.set(d.digest, d);
  return out;
}

/** RFC 3339 with up to 9 fraction digits, as [seconds, nanoseconds], compared exactly. */
function timeOf(t: string): [number, number] {
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) throw new Error(`oracle: bad timestamp ${t}`);
  return [Date.parse(`${m[1]}${m[3]}`) / 1000, Number((m[2] ?? '').padEnd(9, '0'))];
}

function newer(x: string, y: string): boolean {
  const [a, b] = [timeOf(x), timeOf(y)];
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

export interface OracleSide {
  digests: string[];
  inputs: { selector: string; link: number }[][][];
  /** Per record, the blobs of its shown result (base first), [] without one; and whether BuildKit skips it (a blob with no descriptor). */
  stack: string[][];
  dropped: boolean[];
  blobs: Map<string, { size: number; diffID: string | null }>;
}

/** A layer entry's chain, base first, or null when it loops or leaves the array. */
function chainOf(layers: { blob: string; parent?: number }[], entry: number): string[] | null {
  const out: string[] = [];
  const seen = new Set<number>();
  for (let i = entry; i !== -1; i = layers[i].parent ?? 0) {
    if (i < 0 || i >= layers.length || seen.has(i)) return null;
    seen.add(i);
    out.unshift(layers[i].blob);
  }
  return out;
}

export function side(c: RawCache): OracleSide {
  const layers = c.config.layers ?? [];
  const records = c.config.records ?? [];
  const desc = layerDescriptors(c);
  const blobs = new Map<string, { size: number; diffID: string | null }>();
  for (const l of layers) {
    const d = desc.get(l.blob);
    if (!blobs.has(l.blob)) blobs.set(l.blob, { size: d?.size ?? 0, diffID: d?.annotations?.['containerd.io/uncompressed'] ?? null });
  }
  const stack: string[][] = [];
  const dropped: boolean[] = [];
  for (const r of records) {
    // Every result, newest first on BuildKit's terms: the newest usable one; else the newest skipped one.
    const all = [
      ...(r.layers ?? []).map((x) => ({ createdAt: x.createdAt, blobs: chainOf(layers, x.layer) ?? [] })),
      ...(r.chains ?? []).map((x) => ({ createdAt: x.createdAt, blobs: x.layers.map((i) => layers[i].blob) })),
    ];
    const usable = all.filter((x) => x.blobs.length > 0 && x.blobs.every((b) => desc.has(b)));
    const pick = (list: typeof all) => list.reduce<(typeof all)[number] | null>((best, x) => (best === null || newer(x.createdAt, best.createdAt) ? x : best), null);
    const best = pick(usable) ?? pick(all);
    stack.push(best?.blobs ?? []);
    dropped.push(best !== null && !usable.includes(best));
  }
  return {
    digests: records.map((r) => r.digest),
    inputs: records.map((r) => (r.inputs ?? []).map((slot) => slot.map((l) => ({ selector: l.selector ?? '', link: l.link })))),
    stack,
    dropped,
    blobs,
  };
}

export interface OracleDivergence {
  leaf: number;
  record: number;
  slot: number;
  digestA: string | null;
  digestB: string;
  recordA: number | null;
  kind: 'source' | 'content-checksum' | 'op';
  rebuiltRecords: number[];
  rebuiltLayers: number;
  rebuiltBytes: number;
}

export interface OracleDiff {
  matched: { a: number; b: number }[];
  newRecords: number[];
  goneRecords: number[];
  resultChanged: { a: number; b: number }[];
  linksChanged: { a: number; b: number }[];
  blobsOnlyA: number;
  blobsOnlyB: number;
  blobsBoth: number;
  bytesOnlyA: number;
  bytesOnlyB: number;
  bytesBoth: number;
  recompressed: number;
  divergences: OracleDivergence[];
  formChanged: boolean;
}

/** `records B i matches record A j`: same digest, as many slots, every slot shares an alternative (same selector, matching records). */
function matcher(A: OracleSide, B: OracleSide): (i: number, j: number) => boolean {
  const memo = new Map<string, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const ok =
      B.digests[i] === A.digests[j] &&
      B.inputs[i].length === A.inputs[j].length &&
      B.inputs[i].every((slot, k) => slot.some((lb) => A.inputs[j][k].some((la) => la.selector === lb.selector && match(lb.link, la.link))));
    memo.set(key, ok);
    return ok;
  };
  return match;
}

function formOf(c: RawCache): string {
  if (!c.manifest) return 'none';
  const types = [c.manifest.mediaType as string | undefined, ...descriptorsOf(c.manifest).filter((d) => d.mediaType !== CACHE_CONFIG).map((d) => d.mediaType)].filter(Boolean) as string[];
  const docker = types.filter((t) => t.startsWith('application/vnd.docker.')).length;
  const family = docker === 0 ? 'oci' : docker === types.length ? 'docker' : 'mixed';
  return `${Array.isArray(c.manifest.manifests) ? 'index' : 'image-manifest'} ${family}`;
}

export function oracleDiff(rawA: RawCache, rawB: RawCache): OracleDiff {
  const A = side(rawA);
  const B = side(rawB);
  const match = matcher(A, B);
  const nA = A.digests.length;
  const nB = B.digests.length;
  const matched: { a: number; b: number }[] = [];
  for (let j = 0; j < nA; j++) for (let i = 0; i < nB; i++) if (match(i, j)) matched.push({ a: j, b: i });
  const isMatchedB = (i: number) => matched.some((m) => m.b === i);
  const newRecords = [...Array(nB).keys()].filter((i) => !isMatchedB(i));
  const goneRecords = [...Array(nA).keys()].filter((j) => !matched.some((m) => m.a === j));

  // Content identity: a blob's diffID when known, so recompression is not a change.
  const contentA = (blob: string) => A.blobs.get(blob)?.diffID ?? blob;
  const contentB = (blob: string) => B.blobs.get(blob)?.diffID ?? blob;
  const chainA = (j: number) => A.stack[j].map(contentA).join('>');
  const chainB = (i: number) => B.stack[i].map(contentB).join('>');
  const reusedA = (j: number) => matched.some((m) => m.a === j && chainA(j) === chainB(m.b));
  const reusedB = (i: number) => matched.some((m) => m.b === i && chainA(m.a) === chainB(i));
  const resultChanged = matched.filter((m) => chainA(m.a) !== chainB(m.b) && !reusedA(m.a) && !reusedB(m.b));
  // Same links: every alternative of either side has a counterpart (same selector, matching records) on the other.
  const sameLinks = (m: { a: number; b: number }) =>
    B.inputs[m.b].every((slotB, k) => {
      const slotA = A.inputs[m.a][k];
      return slotB.every((lb) => slotA.some((la) => la.selector === lb.selector && match(lb.link, la.link))) && slotA.every((la) => slotB.some((lb) => la.selector === lb.selector && match(lb.link, la.link)));
    });
  const linksChanged = matched.filter((m) => !sameLinks(m) && !matched.some((x) => x.a === m.a && sameLinks(x)) && !matched.some((x) => x.b === m.b && sameLinks(x)));

  // Blobs: a one-sided blob whose diffID the other side holds under another digest is recompressed, counted apart.
  const diffIdsA = new Set([...A.blobs.values()].map((x) => x.diffID).filter(Boolean));
  const diffIdsB = new Set([...B.blobs.values()].map((x) => x.diffID).filter(Boolean));
  let blobsOnlyA = 0, blobsOnlyB = 0, blobsBoth = 0, bytesOnlyA = 0, bytesOnlyB = 0, bytesBoth = 0;
  const recompressedContents = new Set<string>();
  for (const [blob, x] of A.blobs) {
    if (B.blobs.has(blob)) {
      blobsBoth++;
      bytesBoth += x.size;
    } else if (x.diffID && diffIdsB.has(x.diffID)) recompressedContents.add(x.diffID);
    else {
      blobsOnlyA++;
      bytesOnlyA += x.size;
    }
  }
  for (const [blob, x] of B.blobs) {
    if (A.blobs.has(blob)) continue;
    if (x.diffID && diffIdsA.has(x.diffID)) recompressedContents.add(x.diffID);
    else {
      blobsOnlyB++;
      bytesOnlyB += x.size;
    }
  }
  const heldByA = (blob: string) => A.blobs.has(blob) || diffIdsA.has(contentB(blob));

  // Content-checksum roots: linked without selector from a slot after the first, or from a slot that also has selector links.
  const checksum = (i: number) =>
    B.inputs[i].length === 0 &&
    B.inputs.some((slots) => slots.some((slot, k) => (k > 0 || slot.some((l) => l.selector !== '')) && slot.some((l) => l.link === i && l.selector === '')));
  const kind = (i: number) => (B.inputs[i].length > 0 ? 'op' : checksum(i) ? 'content-checksum' : 'source');
  const knownToA = (i: number) => A.digests.includes(B.digests[i]);
  const slotLost = (slot: { link: number }[]) => slot.every((l) => !isMatchedB(l.link));
  // The change is further down when A knows the key (its inputs changed), or the key is new and a whole slot changed under it.
  const below = (i: number): boolean => !isMatchedB(i) && (knownToA(i) || B.inputs[i].some(slotLost));
  const unmatchedIn = (slot: { selector: string; link: number }[]) => slot.filter((l) => !isMatchedB(l.link)).sort((x, y) => x.link - y.link);
  const follow = (links: { link: number }[]) => links.find((l) => knownToA(l.link)) ?? links.find((l) => below(l.link));
  const changedOf = (links: { selector: string; link: number }[]) => links.find((l) => l.selector === '' && checksum(l.link)) ?? links[0];

  type Point = Omit<OracleDivergence, 'leaf' | 'rebuiltRecords' | 'rebuiltLayers' | 'rebuiltBytes'>;
  const walk = (i: number): Point => {
    const sameKey = [...Array(nA).keys()].filter((j) => A.digests[j] === B.digests[i]);
    const sameShape = sameKey.filter((j) => A.inputs[j].length === B.inputs[i].length);
    if (sameShape.length === 0) {
      const lost = sameKey.length === 0 ? B.inputs[i].findIndex(slotLost) : -1;
      if (lost < 0) return { record: i, slot: -1, digestA: sameKey.length ? B.digests[i] : null, digestB: B.digests[i], recordA: sameKey.length ? sameKey[0] : null, kind: kind(i) };
      const links = unmatchedIn(B.inputs[i][lost]);
      // Under a new key every op is followed: A has nothing here to say what the slot held before.
      const next = follow(links) ?? links.find((l) => B.inputs[l.link].length > 0);
      if (next) return walk(next.link);
      const changed = changedOf(links);
      return { record: i, slot: lost, digestA: null, digestB: B.digests[changed.link], recordA: null, kind: kind(changed.link) };
    }
    const satisfied = (j: number) => B.inputs[i].map((slot, k) => slot.some((lb) => A.inputs[j][k].some((la) => la.selector === lb.selector && match(lb.link, la.link))));
    // The A record agreeing on the most slots, the lowest index on ties.
    let best = sameShape[0];
    for (const j of sameShape) if (satisfied(j).filter(Boolean).length > satisfied(best).filter(Boolean).length) best = j;
    const slot = satisfied(best).indexOf(false);
    const links = unmatchedIn(B.inputs[i][slot]);
    const next = follow(links);
    if (next) return walk(next.link);
    const changed = changedOf(links) ?? [...B.inputs[i][slot]].sort((x, y) => x.link - y.link)[0];
    const slotA = A.inputs[best][slot];
    const linkA = slotA.find((l) => l.selector === changed.selector) ?? slotA.find((l) => match(changed.link, l.link)) ?? slotA[0];
    return { record: i, slot, digestA: A.digests[linkA.link], digestB: B.digests[changed.link], recordA: best, kind: kind(changed.link) };
  };

  // Reachability through records A cannot serve.
  const reaches = (from: number, to: number): boolean => {
    const seen = new Set<number>();
    const stack = [from];
    while (stack.length) {
      const x = stack.pop()!;
      if (x === to) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      for (const slot of B.inputs[x]) for (const l of slot) if (!isMatchedB(l.link)) stack.push(l.link);
    }
    return false;
  };
  // What a record was built on: the result of its tallest input (through inputs without results).
  const under = (i: number): string[] => {
    if (B.stack[i].length > 0 && !B.dropped[i]) return B.stack[i];
    let best: string[] = [];
    for (const slot of B.inputs[i]) for (const l of slot) if (under(l.link).length > best.length) best = under(l.link);
    return best;
  };
  const own = (i: number): string[] => {
    if (B.dropped[i]) return [];
    let base = 0;
    for (const slot of B.inputs[i]) {
      for (const l of slot) {
        const u = under(l.link);
        const isPrefix = u.length <= B.stack[i].length && u.every((blob, k) => B.stack[i][k] === blob);
        if (isPrefix && u.length > base) base = u.length;
      }
    }
    return B.stack[i].slice(base);
  };

  const divergences: OracleDivergence[] = [];
  for (let leaf = 0; leaf < nB; leaf++) {
    const linkedTo = B.inputs.some((slots) => slots.some((slot) => slot.some((l) => l.link === leaf)));
    if (linkedTo || isMatchedB(leaf)) continue;
    const p = walk(leaf);
    const rebuiltRecords = [...Array(nB).keys()].filter((x) => !isMatchedB(x) && reaches(leaf, x) && reaches(x, p.record));
    const missing = [...new Set(rebuiltRecords.flatMap(own))].filter((blob) => !heldByA(blob));
    divergences.push({ leaf, ...p, rebuiltRecords, rebuiltLayers: missing.length, rebuiltBytes: missing.reduce((s, blob) => s + (B.blobs.get(blob)?.size ?? 0), 0) });
  }
  return {
    matched,
    newRecords,
    goneRecords,
    resultChanged,
    linksChanged,
    blobsOnlyA,
    blobsOnlyB,
    blobsBoth,
    bytesOnlyA,
    bytesOnlyB,
    bytesBoth,
    recompressed: recompressedContents.size,
    divergences,
    formChanged: formOf(rawA) !== formOf(rawB),
  };
}

/** The engine's answer in the oracle's shape, so one deepEqual shows every difference at once. */
export function engineView(d: CacheDiff): OracleDiff {
  const s = d.summary;
  return {
    matched: d.matched,
    newRecords: d.newRecords,
    goneRecords: d.goneRecords,
    resultChanged: d.resultChanged,
    linksChanged: d.linksChanged,
    blobsOnlyA: s.blobsOnlyA,
    blobsOnlyB: s.blobsOnlyB,
    blobsBoth: s.blobsBoth,
    bytesOnlyA: s.bytesOnlyA,
    bytesOnlyB: s.bytesOnlyB,
    bytesBoth: s.bytesBoth,
    recompressed: s.recompressed,
    divergences: d.divergences.map((v) => ({
      leaf: v.leaf,
      record: v.record,
      slot: v.slot,
      digestA: v.digestA,
      digestB: v.digestB,
      recordA: v.recordA,
      kind: v.kind,
      rebuiltRecords: v.rebuiltRecords,
      rebuiltLayers: v.rebuiltLayers,
      rebuiltBytes: v.rebuiltBytes,
    })),
    formChanged: d.form.changed,
  };
}

/** Whether the oracle sees any change at all (form included). */
export function oracleSeesChange(o: OracleDiff): boolean {
  return o.newRecords.length + o.goneRecords.length + o.resultChanged.length + o.linksChanged.length + o.blobsOnlyA + o.blobsOnlyB + o.recompressed > 0 || o.formChanged;
}
