/**
 * Diffs two caches (A = before, B = after): blobs, chains, records matched by structure, and for every
 * final result of B that A cannot serve, the first input that diverged. Pure and deterministic.
 */
import type { CacheModel } from '../cache/model';
import type { NormConfig } from '../cache/parse-config';
import { Annotation } from '../oci/media-types';
import { explanation, recordKind } from './explain';
import { indexByDigest, matchRecords, satisfiedSlots } from './record-matching';
import type { BlobDiffRow, CacheDiff, Divergence, RecordMatch } from './types';

interface BlobInfo {
  size: number;
  diffID: string | null;
}

function blobsOf(m: CacheModel): Map<string, BlobInfo> {
  const out = new Map<string, BlobInfo>();
  for (const l of m.norm.layers) {
    if (out.has(l.blob)) continue;
    const d = m.descriptors.get(l.blob);
    out.set(l.blob, { size: d?.size ?? l.annotations?.size ?? 0, diffID: d?.annotations?.[Annotation.uncompressed] ?? l.annotations?.diffID ?? null });
  }
  return out;
}

/** A layer's content identity: its diffID when known (so recompression is not a change), else its blob. */
function contentId(m: CacheModel, blob: string): string {
  return m.descriptors.get(blob)?.annotations?.[Annotation.uncompressed] ?? blob;
}

function chainKeys(m: CacheModel): Set<string> {
  const keys = new Set<string>();
  for (const stack of m.graph.layerStacks) if (stack) keys.add(stack.map((l) => contentId(m, m.norm.layers[l].blob)).join('>'));
  return keys;
}

function resultKey(m: CacheModel, record: number): string | null {
  const res = m.graph.resolutions[record];
  if (res.stack.length === 0) return null;
  return res.stack.map((l) => contentId(m, m.norm.layers[l].blob)).join('>');
}

function diffBlobs(a: CacheModel, b: CacheModel): BlobDiffRow[] {
  const ba = blobsOf(a);
  const bb = blobsOf(b);
  const byDiffIdA = new Map<string, string>();
  const byDiffIdB = new Map<string, string>();
  for (const [d, info] of [...ba].sort(([x], [y]) => (x < y ? -1 : 1))) if (info.diffID && !byDiffIdA.has(info.diffID)) byDiffIdA.set(info.diffID, d);
  for (const [d, info] of [...bb].sort(([x], [y]) => (x < y ? -1 : 1))) if (info.diffID && !byDiffIdB.has(info.diffID)) byDiffIdB.set(info.diffID, d);
  const rows: BlobDiffRow[] = [];
  for (const [digest, info] of ba) {
    const other = info.diffID ? byDiffIdB.get(info.diffID) : undefined;
    if (bb.has(digest)) rows.push({ digest, size: info.size, side: 'both', diffID: info.diffID, recompressedFrom: null });
    else rows.push({ digest, size: info.size, side: 'a', diffID: info.diffID, recompressedFrom: other && other !== digest ? other : null });
  }
  for (const [digest, info] of bb) {
    if (ba.has(digest)) continue;
    const other = info.diffID ? byDiffIdA.get(info.diffID) : undefined;
    rows.push({ digest, size: info.size, side: 'b', diffID: info.diffID, recompressedFrom: other && other !== digest ? other : null });
  }
  const order = { a: 0, both: 1, b: 2 } as const;
  return rows.sort((x, y) => order[x.side] - order[y.side] || (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0));
}

/** Finds, from an unmatched leaf of B, the first input whose record A did not have. */
function firstDivergence(leaf: number, a: NormConfig, b: NormConfig, matches: Set<number>[], byDigestA: Map<string, number[]>): Omit<Divergence, 'explanation' | 'rebuiltLayers' | 'rebuiltBytes' | 'leaf'> {
  let record = leaf;
  // Each step descends one link; the graph has no loops (checked at parse time), so this ends.
  for (;;) {
    const rb = b.records[record];
    const candidates = (byDigestA.get(rb.digest) ?? []).filter((j) => a.records[j].inputs.length === rb.inputs.length);
    if (candidates.length === 0) {
      return { record, slot: -1, selector: null, selectorA: null, digestA: null, digestB: rb.digest, recordA: null, kind: rb.inputs.length === 0 ? 'source' : 'op' };
    }
    // The A record that agrees on the most slots is the one B was meant to reuse.
    let best = candidates[0];
    let bestSat = satisfiedSlots(rb, a.records[best], matches);
    for (const j of candidates.slice(1)) {
      const sat = satisfiedSlots(rb, a.records[j], matches);
      if (sat.filter(Boolean).length > bestSat.filter(Boolean).length) {
        best = j;
        bestSat = sat;
      }
    }
    const slot = bestSat.findIndex((s) => !s);
    const ra = a.records[best];
    const linksB = [...rb.inputs[slot]].sort((x, y) => x.link - y.link);
    const unmatched = linksB.find((l) => matches[l.link].size === 0 && (byDigestA.get(b.records[l.link].digest) ?? []).length > 0);
    if (unmatched) {
      // The same kind of record exists in A but with other inputs: the change is further down.
      record = unmatched.link;
      continue;
    }
    // Name the content checksum first when it changed: it says "your files changed", the usual cause.
    const changedLinks = linksB.filter((l) => matches[l.link].size === 0);
    const changed = changedLinks.find((l) => l.selector === null && b.records[l.link].inputs.length === 0) ?? changedLinks[0] ?? linksB[0];
    const linkA = ra.inputs[slot].find((l) => l.selector === changed.selector) ?? ra.inputs[slot][0];
    return {
      record,
      slot,
      selector: changed.selector,
      selectorA: linkA ? linkA.selector : null,
      digestA: linkA ? a.records[linkA.link].digest : null,
      digestB: b.records[changed.link].digest,
      recordA: best,
      kind: recordKind(b, changed.link, changed.selector),
    };
  }
}

export function diffCaches(a: CacheModel, b: CacheModel): CacheDiff {
  const blobs = diffBlobs(a, b);
  const matches = matchRecords(a.norm, b.norm);
  const matchedA = new Set<number>();
  const matched: RecordMatch[] = [];
  matches.forEach((set, bi) => {
    for (const ai of set) {
      matched.push({ a: ai, b: bi });
      matchedA.add(ai);
    }
  });
  matched.sort((x, y) => x.a - y.a || x.b - y.b);
  const newRecords = matches.flatMap((set, i) => (set.size === 0 ? [i] : []));
  const goneRecords = a.norm.records.flatMap((_, i) => (matchedA.has(i) ? [] : [i]));
  // A result changed when matched keys hold different layers and neither side has a partner with the same
  // layers (duplicate keys may carry several results; a match on any of them is a reuse).
  const keysA = a.norm.records.map((_, i) => resultKey(a, i));
  const keysB = b.norm.records.map((_, i) => resultKey(b, i));
  const sameResult = new Set<string>();
  for (const m of matched) if (keysA[m.a] !== null && keysA[m.a] === keysB[m.b]) sameResult.add(`a${m.a}`).add(`b${m.b}`);
  const resultChanged = matched.filter((m) => keysA[m.a] !== null && keysB[m.b] !== null && keysA[m.a] !== keysB[m.b] && !sameResult.has(`a${m.a}`) && !sameResult.has(`b${m.b}`));

  // What A holds, by content: recompressed layers still count as served.
  const contentA = new Set<string>();
  for (const l of a.norm.layers) {
    contentA.add(l.blob);
    contentA.add(contentId(a, l.blob));
  }
  const servedByA = (blob: string) => contentA.has(blob) || contentA.has(contentId(b, blob));
  const sizeB = (blob: string) => b.descriptors.get(blob)?.size ?? 0;

  const byDigestA = indexByDigest(a.norm);
  const divergences: Divergence[] = [];
  b.graph.dependents.forEach((deps, leaf) => {
    if (deps.length > 0 || matches[leaf].size > 0) return;
    const found = firstDivergence(leaf, a.norm, b.norm, matches, byDigestA);
    const stack = b.graph.resolutions[leaf].stack;
    const rebuilt = [...new Set(stack.map((l) => b.norm.layers[l].blob))].filter((blob) => !servedByA(blob));
    const partial = { ...found, leaf, rebuiltLayers: rebuilt.length, rebuiltBytes: rebuilt.reduce((s, blob) => s + sizeB(blob), 0) };
    divergences.push({ ...partial, explanation: explanation(partial, b.norm) });
  });

  const resultBlobsB = new Set<string>();
  b.graph.resolutions.forEach((res) => {
    if (!res.dropped) for (const l of res.stack) resultBlobsB.add(b.norm.layers[l].blob);
  });
  let totalB = 0;
  let servedB = 0;
  for (const blob of resultBlobsB) {
    totalB += sizeB(blob);
    if (servedByA(blob)) servedB += sizeB(blob);
  }
  const chainsA = chainKeys(a);
  const chainsB = chainKeys(b);
  const chainsBoth = [...chainsB].filter((k) => chainsA.has(k)).length;
  const sum = (side: BlobDiffRow['side']) => blobs.filter((r) => r.side === side).reduce((s, r) => s + r.size, 0);
  const count = (side: BlobDiffRow['side']) => blobs.filter((r) => r.side === side).length;
  const summary = {
    blobsOnlyA: count('a'),
    blobsOnlyB: count('b'),
    blobsBoth: count('both'),
    bytesOnlyA: sum('a'),
    bytesOnlyB: sum('b'),
    bytesBoth: sum('both'),
    recompressed: blobs.filter((r) => r.side === 'b' && r.recompressedFrom !== null).length,
    recordsMatched: b.norm.records.length - newRecords.length,
    recordsNew: newRecords.length,
    recordsGone: goneRecords.length,
    recordsResultChanged: resultChanged.length,
    reusableShare: totalB === 0 ? 1 : servedB / totalB,
    chainsBoth,
    chainsOnlyA: chainsA.size - chainsBoth,
    chainsOnlyB: chainsB.size - chainsBoth,
  };
  const identical =
    summary.blobsOnlyA === 0 &&
    summary.blobsOnlyB === 0 &&
    newRecords.length === 0 &&
    goneRecords.length === 0 &&
    resultChanged.length === 0 &&
    a.norm.layers.length === b.norm.layers.length;
  return { identical, summary, blobs, matched, newRecords, goneRecords, resultChanged, divergences };
}
