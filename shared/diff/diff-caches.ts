/**
 * Diffs two caches (A = before, B = after): blobs (recompressed ones told apart), layer chains by
 * content, records matched by structure, and for every final result of B that A cannot serve, the
 * first input that diverged. Pure and deterministic: the same models give the same diff, and
 * diff(B, A) is the mirror image of diff(A, B) (except `divergences`, which explain B).
 */
import type { CacheModel } from '../cache/model';
import { contentChecksumKeys, firstDivergence, rebuiltRecords } from './divergence';
import type { WalkContext } from './divergence';
import { explanation } from './explain';
import { diffForms } from './form-diff';
import { ChainInterner, blobsOf, contentOf, diffBlobs, heldContent, indexChains } from './layer-diff';
import { OwnLayers } from './rebuilt-layers';
import { indexByDigest, matchRecords, sameLinks } from './record-matching';
import type { CacheDiff, DiffSummary, Divergence, RecordMatch } from './types';

export function diffCaches(a: CacheModel, b: CacheModel): CacheDiff {
  const blobsA = blobsOf(a);
  const blobsB = blobsOf(b);
  const blobDiff = diffBlobs(blobsA, blobsB);

  const interner = new ChainInterner();
  const chainsA = indexChains(a, blobsA, interner);
  const chainsB = indexChains(b, blobsB, interner);
  let chainsBoth = 0;
  for (const id of chainsB.all) if (chainsA.all.has(id)) chainsBoth++;

  const matches = matchRecords(a.norm, b.norm, b.graph.recordOrder);
  const matchedA = new Uint8Array(a.norm.records.length);
  const matched: RecordMatch[] = [];
  matches.forEach((set, bi) => {
    for (const ai of set) {
      matched.push({ a: ai, b: bi });
      matchedA[ai] = 1;
    }
  });
  matched.sort((x, y) => x.a - y.a || x.b - y.b);
  const newRecords = matches.flatMap((set, i) => (set.size === 0 ? [i] : []));
  const goneRecords = a.norm.records.flatMap((_, i) => (matchedA[i] ? [] : [i]));

  // A result changed when matched keys hold different layer chains (no result counts as a value: a key
  // that gained or lost its result changed too). Duplicate keys may carry several results; a pair is
  // not reported when either side has a partner holding the same chain (that is a reuse).
  const resA = chainsA.result;
  const resB = chainsB.result;
  const reusedA = new Uint8Array(a.norm.records.length);
  const reusedB = new Uint8Array(b.norm.records.length);
  for (const m of matched) {
    if (resA[m.a] === resB[m.b]) {
      reusedA[m.a] = 1;
      reusedB[m.b] = 1;
    }
  }
  const resultChanged = matched.filter((m) => resA[m.a] !== resB[m.b] && !reusedA[m.a] && !reusedB[m.b]);
  // The same rule for links: a pair whose slots hold other alternatives, when neither side has a
  // partner with exactly its alternatives (duplicate keys of one side may all match each other).
  const sameA = new Uint8Array(a.norm.records.length);
  const sameB = new Uint8Array(b.norm.records.length);
  const same = matched.map((m) => sameLinks(b.norm.records[m.b], a.norm.records[m.a], matches));
  matched.forEach((m, i) => {
    if (same[i]) {
      sameA[m.a] = 1;
      sameB[m.b] = 1;
    }
  });
  const linksChanged = matched.filter((m, i) => !same[i] && !sameA[m.a] && !sameB[m.b]);

  // What B's results are made of, and what of it A holds (by blob or by diffID: recompressed is served).
  const heldA = heldContent(blobsA);
  const servedByA = (blob: string) => heldA.has(blob) || heldA.has(contentOf(blobsB, blob));
  const sizeB = (blob: string) => blobsB.get(blob)?.size ?? 0;
  const resultBlobs = (records: Iterable<number>): Set<string> => {
    const out = new Set<string>();
    for (const r of records) {
      const res = b.graph.resolutions[r];
      if (!res.dropped) for (const l of res.stack) out.add(b.norm.layers[l].blob);
    }
    return out;
  };
  let resultBytesB = 0;
  let reusableBytes = 0;
  for (const blob of resultBlobs(b.norm.records.keys())) {
    resultBytesB += sizeB(blob);
    if (servedByA(blob)) reusableBytes += sizeB(blob);
  }

  const ctx: WalkContext = { a: a.norm, b: b.norm, matches, byDigestA: indexByDigest(a.norm), checksumKey: contentChecksumKeys(b.norm) };
  const divergences: Divergence[] = [];
  const own = new OwnLayers(b);
  b.graph.dependents.forEach((deps, leaf) => {
    if (deps.length > 0 || matches[leaf].size > 0) return;
    const point = firstDivergence(leaf, ctx);
    const rebuilt = rebuiltRecords(leaf, point.record, b.norm, b.graph.dependents, matches);
    const missing = [...new Set(rebuilt.flatMap((r) => own.blobs(r)))].filter((blob) => !servedByA(blob));
    const partial = { ...point, leaf, rebuiltRecords: rebuilt, rebuiltLayers: missing.length, rebuiltBytes: missing.reduce((s, blob) => s + sizeB(blob), 0) };
    divergences.push({ ...partial, explanation: explanation(partial, a.norm, b.norm) });
  });

  const rows = blobDiff.rows;
  const plain = (side: 'a' | 'b' | 'both') => rows.filter((r) => r.side === side && r.recompressedFrom === null);
  const bytes = (list: { size: number }[]) => list.reduce((s, r) => s + r.size, 0);
  const [onlyA, both, onlyB] = [plain('a'), plain('both'), plain('b')];
  const summary: DiffSummary = {
    blobsOnlyA: onlyA.length,
    blobsOnlyB: onlyB.length,
    blobsBoth: both.length,
    bytesOnlyA: bytes(onlyA),
    bytesOnlyB: bytes(onlyB),
    bytesBoth: bytes(both),
    recompressed: blobDiff.recompressed,
    recompressedBytesA: blobDiff.recompressedBytesA,
    recompressedBytesB: blobDiff.recompressedBytesB,
    recordsMatched: b.norm.records.length - newRecords.length,
    recordsNew: newRecords.length,
    recordsGone: goneRecords.length,
    recordsResultChanged: resultChanged.length,
    recordsLinksChanged: linksChanged.length,
    resultBytesB,
    reusableBytes,
    reusableShare: resultBytesB === 0 ? 1 : reusableBytes / resultBytesB,
    chainsBoth,
    chainsOnlyA: chainsA.all.size - chainsBoth,
    chainsOnlyB: chainsB.all.size - chainsBoth,
  };
  const form = diffForms(a, b);
  const identical =
    !form.changed &&
    rows.every((r) => r.side === 'both') &&
    summary.chainsOnlyA === 0 &&
    summary.chainsOnlyB === 0 &&
    newRecords.length === 0 &&
    goneRecords.length === 0 &&
    resultChanged.length === 0 &&
    linksChanged.length === 0;
  return { identical, form, summary, blobs: rows, matched, newRecords, goneRecords, resultChanged, linksChanged, divergences };
}
