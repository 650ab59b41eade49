/**
 * The diff on hand-built pairs of caches, one per case the diff must tell apart: identical caches, a
 * changed source, a changed build context (content checksum), a changed selector, recompression only,
 * an added and a removed stage, duplicate record digests, multi-platform roots, a `chains` result, a
 * builder stage read by COPY --from, backlinks, a dependency added to a key, a result gained, and a
 * config that differs only in layer order. Models go through assembleCache, so the graph code is real.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { buildModel, dg } from '../../helpers/model-builder';
import type { LayerSpec, RecordSpec } from '../../helpers/model-builder';

const SEL = dg('selector /src');
const short = (d: string) => d.slice(0, 19);

/** A Dockerfile-shaped cache: FROM base; COPY . (content checksum + definition key); RUN. */
function baseCache(over: { base?: string; sum?: string; copySelector?: string; runBlob?: string; runDiff?: string } = {}) {
  const layers: LayerSpec[] = [
    { blob: dg('blob:base'), parent: -1, diffID: dg('diff:base'), size: 5_000_000 },
    { blob: dg('blob:copy'), parent: 0, diffID: dg('diff:copy'), size: 2_000_000 },
    { blob: over.runBlob ?? dg('blob:run'), parent: 1, diffID: over.runDiff ?? dg('diff:run'), size: 41_000_000 },
  ];
  const records: RecordSpec[] = [
    { digest: over.base ?? dg('base@0') },
    { digest: dg('ctx-def@0') },
    { digest: over.sum ?? dg('sum1@-1') },
    { digest: dg('copy@0'), inputs: [[[0]], [[2], [1, over.copySelector ?? SEL]]], result: 1 },
    { digest: dg('run@0'), inputs: [[[3]]], result: 2 },
  ];
  return { layers, records };
}

function model(c: { layers: LayerSpec[]; records: RecordSpec[] }) {
  return buildModel(c.layers, c.records);
}

describe('diff: hand-built pairs', () => {
  it('identical caches', () => {
    const a = model(baseCache());
    const d = diffCaches(a, model(baseCache()));
    assert.equal(d.identical, true);
    assert.deepEqual(d.newRecords, []);
    assert.deepEqual(d.goneRecords, []);
    assert.deepEqual(d.divergences, []);
    assert.deepEqual(d.matched, [0, 1, 2, 3, 4].map((i) => ({ a: i, b: i })));
    assert.equal(d.summary.blobsBoth, 3);
    assert.equal(d.summary.bytesBoth, 48_000_000);
    assert.equal(d.summary.reusableShare, 1);
  });

  it('a changed source: the explanation names the source record and the slot that links it', () => {
    const b = baseCache({ base: dg('base-v2@0'), runBlob: dg('blob:run2'), runDiff: dg('diff:run2') });
    b.layers[1] = { blob: dg('blob:copy2'), parent: 0, diffID: dg('diff:copy2'), size: 2_000_000 };
    b.layers[0] = { blob: dg('blob:base2'), parent: -1, diffID: dg('diff:base2'), size: 5_000_000 };
    const d = diffCaches(model(baseCache()), model(b));
    assert.equal(d.identical, false);
    assert.equal(d.divergences.length, 1);
    const div = d.divergences[0];
    assert.deepEqual(
      { leaf: div.leaf, record: div.record, slot: div.slot, kind: div.kind, digestA: div.digestA, digestB: div.digestB, recordA: div.recordA },
      { leaf: 4, record: 3, slot: 0, kind: 'source', digestA: dg('base@0'), digestB: dg('base-v2@0'), recordA: 3 },
    );
    assert.deepEqual(div.rebuiltRecords, [3, 4], 'COPY and RUN above the new base');
    assert.equal(div.rebuiltLayers, 3);
    assert.equal(div.rebuiltBytes, 48_000_000);
    assert.equal(div.explanation, `input 0 of record #3 changed: source record ${short(dg('base@0'))}… → ${short(dg('base-v2@0'))}…; 3 layers, 48 MB rebuilt above it`);
    assert.deepEqual(d.newRecords, [0, 3, 4]);
    assert.deepEqual(d.goneRecords, [0, 3, 4]);
  });

  it('a changed build context: the content checksum (no selector) is named', () => {
    const b = baseCache({ sum: dg('sum2@-1'), runBlob: dg('blob:run2'), runDiff: dg('diff:run2') });
    // Both alternatives of the slot change, as in real data: the definition key follows the content.
    b.records[1] = { digest: dg('ctx-def-2@0') };
    const d = diffCaches(model(baseCache()), model(b));
    assert.equal(d.divergences.length, 1);
    const div = d.divergences[0];
    assert.equal(div.record, 3);
    assert.equal(div.slot, 1);
    assert.equal(div.kind, 'content-checksum');
    assert.equal(div.selector, null);
    assert.equal(div.digestA, dg('sum1@-1'));
    assert.equal(div.digestB, dg('sum2@-1'));
    assert.match(div.explanation, /^input 1 of record #3 changed: content checksum of its files \(no selector\) sha256:\w{12}… → sha256:\w{12}…; 1 layer, 41 MB rebuilt above it$/);
  });

  it('a changed selector on the same record', () => {
    const other = dg('selector /other');
    const d = diffCaches(model(baseCache()), model(baseCache({ copySelector: other })));
    // The content-checksum alternative still matches, so COPY is reused: no miss.
    assert.deepEqual(d.divergences, []);
    const a2 = baseCache();
    a2.records[3].inputs = [[[0]], [[1, SEL]]];
    const b2 = baseCache();
    b2.records[3].inputs = [[[0]], [[1, other]]];
    const d2 = diffCaches(model(a2), model(b2));
    assert.equal(d2.divergences.length, 1);
    const div = d2.divergences[0];
    assert.equal(div.record, 3);
    assert.equal(div.slot, 1);
    assert.equal(div.selector, other);
    assert.equal(div.selectorA, SEL);
    assert.match(div.explanation, /^input 1 of record #3 changed its selector: sha256:\w{12}… → sha256:\w{12}… on the same record/);
  });

  it('recompression only: same diffIDs, other blobs, nothing rebuilt', () => {
    const b = baseCache();
    b.layers = b.layers.map((l, i) => ({ ...l, blob: dg(`zstd:${i}`) }));
    const d = diffCaches(model(baseCache()), model(b));
    assert.equal(d.identical, false);
    assert.equal(d.summary.recompressed, 3);
    // Counted apart from new and dropped content: nothing was rebuilt or lost.
    assert.deepEqual([d.summary.blobsOnlyA, d.summary.blobsOnlyB, d.summary.blobsBoth], [0, 0, 0]);
    assert.deepEqual([d.summary.recompressedBytesA, d.summary.recompressedBytesB], [48_000_000, 48_000_000]);
    assert.equal(d.blobs.filter((r) => r.side === 'a' && r.recompressedFrom !== null).length, 3, 'A-only rows point at B too');
    assert.deepEqual(d.resultChanged, []);
    assert.deepEqual(d.linksChanged, []);
    assert.deepEqual(
      d.blobs.filter((r) => r.side === 'b').map((r) => r.recompressedFrom).sort(),
      [dg('blob:base'), dg('blob:copy'), dg('blob:run')].sort(),
    );
    assert.equal(d.summary.recordsNew, 0);
    assert.equal(d.summary.recordsResultChanged, 0);
    assert.deepEqual(d.divergences, []);
    assert.equal(d.summary.chainsBoth, 3, 'chains compare by diffID');
    assert.equal(d.summary.reusableShare, 1);
  });

  it('an added stage is new in B and explained as a new key', () => {
    const b = baseCache();
    b.layers.push({ blob: dg('blob:test'), parent: 2, diffID: dg('diff:test'), size: 3_000_000 });
    b.records.push({ digest: dg('test@0'), inputs: [[[4]]], result: 3 });
    const d = diffCaches(model(baseCache()), model(b));
    assert.deepEqual(d.newRecords, [5]);
    assert.deepEqual(d.goneRecords, []);
    assert.equal(d.divergences.length, 1);
    assert.equal(d.divergences[0].slot, -1);
    assert.equal(d.divergences[0].record, 5);
    assert.match(d.divergences[0].explanation, /^record #5 is new: no record of A has its key sha256:\w{12}… \(an op with 1 input; its definition changed\); 1 layer, 3\.0 MB rebuilt above it$/);
  });

  it('a removed stage is gone from A and explains nothing', () => {
    const b = baseCache();
    b.layers.pop();
    b.records.pop();
    const d = diffCaches(model(baseCache()), model(b));
    assert.deepEqual(d.goneRecords, [4]);
    assert.deepEqual(d.newRecords, []);
    assert.deepEqual(d.divergences, []);
    assert.equal(d.summary.blobsOnlyA, 1);
  });

  it('duplicate digests with different inputs match by structure, not by digest', () => {
    const a = baseCache();
    a.records.push({ digest: dg('dup@0'), inputs: [[[0]]] }, { digest: dg('dup@0'), inputs: [[[1]]] });
    const b = baseCache();
    b.records.push({ digest: dg('dup@0'), inputs: [[[1]]] });
    const d = diffCaches(model(a), model(b));
    assert.ok(d.matched.some((m) => m.a === 6 && m.b === 5), 'B #5 matches A #6 (same inputs)');
    assert.ok(!d.matched.some((m) => m.a === 5 && m.b === 5), 'not A #5 (other inputs, same digest)');
    assert.deepEqual(d.goneRecords, [5]);
  });

  it('multi-platform roots: only the changed platform diverges', () => {
    const two = (armBase: string) => buildModel(
      [
        { blob: dg('amd'), parent: -1, size: 10 },
        { blob: dg('amd-run'), parent: 0, size: 20 },
        { blob: dg(`arm:${armBase}`), parent: -1, size: 30 },
        { blob: dg(`arm-run:${armBase}`), parent: 2, size: 40 },
      ],
      [
        { digest: dg('amd-base@0') },
        { digest: dg('run-amd@0'), inputs: [[[0]]], result: 1 },
        { digest: dg(`${armBase}@0`) },
        { digest: dg('run-arm@0'), inputs: [[[2]]], result: 3 },
      ],
    );
    const a = two('arm-base');
    const b = two('arm-base-v2');
    assert.deepEqual(b.graph.layerStacks.filter((s) => s && s.length === 1).length, 2, 'two roots');
    const d = diffCaches(a, b);
    assert.equal(d.divergences.length, 1);
    assert.equal(d.divergences[0].leaf, 3);
    assert.equal(d.divergences[0].digestB, dg('arm-base-v2@0'));
    assert.ok(d.matched.some((m) => m.a === 1 && m.b === 1), 'the amd64 result is reused');
    assert.equal(d.summary.reusableShare, 30 / 100);
  });

  it('a chains result: a changed layer inside the chain is a changed result', () => {
    const chainCache = (mid: string) =>
      buildModel(
        [
          { blob: dg('l0'), parent: -1 },
          { blob: dg(mid), parent: 0, diffID: dg(`d:${mid}`) },
          { blob: dg('l2'), parent: 1 },
        ],
        [{ digest: dg('src@0') }, { digest: dg('inline@0'), inputs: [[[0]]], chain: [0, 2] }, { digest: dg('other@0'), inputs: [[[0]]], chain: [0, 1, 2] }],
      );
    const a = chainCache('mid');
    assert.deepEqual(a.graph.resolutions[2].stack, [0, 1, 2], 'chains are taken as listed');
    const d = diffCaches(a, chainCache('mid-v2'));
    assert.deepEqual(d.resultChanged, [{ a: 2, b: 2 }]);
    assert.equal(d.summary.recordsResultChanged, 1);
    assert.ok(!d.resultChanged.some((m) => m.a === 1), 'the chain without the changed layer is unchanged');
  });
  it('a builder stage read by COPY --from: what was rebuilt includes records off the final stack', () => {
    // Stage 0 (builder): src -> build (result b0, b1). Stage 1: base -> COPY --from=builder (result r0, r1).
    const cache = (srcKey: string, buildBlob: string) =>
      buildModel(
        [
          { blob: dg('b0'), parent: -1, size: 100 },
          { blob: dg(buildBlob), parent: 0, size: 7_000_000 },
          { blob: dg('r0'), parent: -1, size: 300 },
          { blob: dg(`r1:${buildBlob}`), parent: 2, size: 2_000_000 },
        ],
        [
          { digest: dg(srcKey) },
          { digest: dg('build@0'), inputs: [[[0]]], result: 1 },
          { digest: dg('runtime-base@0') },
          { digest: dg(`sum:${buildBlob}@-1`) },
          { digest: dg('copy-from@0'), inputs: [[[2]], [[3], [1, SEL]]], result: 3 },
        ],
      );
    const d = diffCaches(cache('src@0', 'bin'), cache('src-v2@0', 'bin2'));
    assert.equal(d.divergences.length, 1);
    const div = d.divergences[0];
    assert.deepEqual([div.leaf, div.record, div.slot, div.kind, div.digestA, div.digestB], [4, 1, 0, 'source', dg('src@0'), dg('src-v2@0')]);
    // The builder's 7 MB layer is not in the final image, but it was rebuilt for it.
    assert.deepEqual(div.rebuiltRecords, [1, 4]);
    assert.deepEqual([div.rebuiltLayers, div.rebuiltBytes], [2, 9_000_000]);
    assert.equal(div.explanation, `input 0 of record #1 changed: source record ${short(dg('src@0'))}… → ${short(dg('src-v2@0'))}…; 2 layers, 9.0 MB rebuilt above it`);
  });

  it('backlinks: a key that gained an alternative is the same key with changed links, not a miss', () => {
    const b = baseCache();
    // A later export links COPY's slot 1 to another definition key as well (BuildKit's addBacklinks).
    b.records.push({ digest: dg('ctx-def-older@0') });
    b.records[3].inputs = [[[0]], [[2], [1, SEL], [5, SEL]]];
    const d = diffCaches(model(baseCache()), model(b));
    assert.deepEqual(d.newRecords, [5]);
    assert.deepEqual(d.goneRecords, []);
    assert.deepEqual(d.linksChanged, [{ a: 3, b: 3 }]);
    assert.equal(d.summary.recordsLinksChanged, 1);
    assert.deepEqual(d.divergences, [], 'COPY and RUN are still served');
    assert.equal(d.identical, false);
    const back = diffCaches(model(b), model(baseCache()));
    assert.deepEqual(back.linksChanged, [{ a: 3, b: 3 }], 'and the same pair the other way round');
  });

  it('a dependency added to the same key: the record is named with both input counts', () => {
    const b = baseCache({ runBlob: dg('blob:run2'), runDiff: dg('diff:run2') });
    b.records[4] = { digest: dg('run@0'), inputs: [[[3]], [[1]]], result: 2 };
    const d = diffCaches(model(baseCache()), model(b));
    assert.equal(d.divergences.length, 1);
    const div = d.divergences[0];
    assert.deepEqual([div.record, div.slot, div.recordA, div.digestA, div.digestB, div.kind], [4, -1, 4, dg('run@0'), dg('run@0'), 'op']);
    assert.match(div.explanation, /^record #4 has 2 inputs where A's record #4 with the same key sha256:\w{12}… had 1: its definition changed; 1 layer, 41 MB rebuilt above it$/);
  });

  it('a key that gained a result is a changed result, and the caches are not identical', () => {
    const a = baseCache();
    delete a.records[3].result;
    const d = diffCaches(model(a), model(baseCache()));
    assert.deepEqual(d.resultChanged, [{ a: 3, b: 3 }]);
    assert.deepEqual(d.newRecords, []);
    assert.equal(d.identical, false);
  });

  it('only the layer order of the config differs: identical', () => {
    const b = baseCache();
    // The same chains written in another order (what BuildKit's sort leaves for ties, as in dto-pattern).
    b.layers = [b.layers[2], b.layers[0], b.layers[1]].map((l, i) => ({ ...l, parent: [2, -1, 1][i] }));
    b.records[3].result = 2;
    b.records[4].result = 0;
    const d = diffCaches(model(baseCache()), model(b));
    assert.equal(d.identical, true);
    assert.equal(d.summary.chainsBoth, 3);
  });
});

/**
 * Issue 8, item 6: the first divergence is the deepest change, found by walking down through new keys
 * and keys whose inputs changed, and what was rebuilt is counted from there: each rebuilt record's own
 * layers, never the base layers below the change.
 */
describe('diff: the first change under chains of new keys', () => {
  const ROOT_SEL = dg('selector /');
  /** Issue 8's cache, with its record numbers: leaf #6 → #12 (new key) → #16 (changed inputs) → #10 ← #13 (changed checksum). */
  function issueCache(v: 1 | 2) {
    const layers: LayerSpec[] = [
      { blob: dg('base0'), parent: -1, size: 5_000_000 },
      // The base key is the same on both sides, but B's base result differs below the change: not rebuilt above it.
      { blob: dg(`base1-v${v}`), parent: 0, diffID: dg(`base1-diff-v${v}`), size: 8_000_000 },
      { blob: dg(`copy-v${v}`), parent: 1, size: 20_000_000 },
      { blob: dg(`package-v${v}`), parent: 2, size: 30_000_000 },
      { blob: dg(`label-v${v}`), parent: 3, size: 15_000_000 },
      { blob: dg(`final-v${v}`), parent: 4, size: 10_000_000 },
    ];
    const records: RecordSpec[] = Array.from({ length: 17 }, (_, i) => ({ digest: dg(`unrelated root ${i}@0`) }));
    records[0] = { digest: dg('docker-image://base@0'), result: 1 };
    records[6] = { digest: dg(`entrypoint v${v}@0`), inputs: [[[12]]], result: 5 };
    records[10] = { digest: dg('copy src@0'), inputs: [[[0]], [[13]]], result: 2 };
    records[12] = { digest: dg(`label build=v${v}@0`), inputs: [[[16]]], result: 4 };
    records[13] = { digest: dg(`src checksum v${v}@-1`) };
    records[16] = { digest: dg('run mvn package@0'), inputs: [[[10, ROOT_SEL]]], result: 3 };
    return buildModel(layers, records);
  }

  it("issue 8's chain: names #10's changed content checksum (#13), and 4 layers rebuilt above it, not 5", () => {
    const d = diffCaches(issueCache(1), issueCache(2));
    assert.deepEqual(d.newRecords, [6, 10, 12, 13, 16]);
    assert.equal(d.divergences.length, 1);
    const v = d.divergences[0];
    assert.deepEqual(
      [v.leaf, v.record, v.slot, v.kind, v.recordA, v.digestA, v.digestB],
      [6, 10, 1, 'content-checksum', 10, dg('src checksum v1@-1'), dg('src checksum v2@-1')],
    );
    assert.deepEqual(v.rebuiltRecords, [6, 10, 12, 16], 'the chain from #10 up to the leaf');
    // One layer of its own per rebuilt record (copy, package, label, entrypoint); the base layer below #10 is not counted.
    assert.deepEqual([v.rebuiltLayers, v.rebuiltBytes], [4, 75_000_000]);
    assert.equal(
      v.explanation,
      `input 1 of record #10 changed: content checksum of its files (no selector) ${short(dg('src checksum v1@-1'))}… → ${short(dg('src checksum v2@-1'))}…; 4 layers, 75 MB rebuilt above it`,
    );
  });

  it('every key above a changed content checksum is new: named at the deepest new key, over the checksum', () => {
    const cache = (v: number) =>
      buildModel(
        [
          { blob: dg('base'), parent: -1, size: 1_000_000 },
          { blob: dg(`copy ${v}`), parent: 0, size: 2_000_000 },
          { blob: dg(`run ${v}`), parent: 1, size: 3_000_000 },
          { blob: dg(`final ${v}`), parent: 2, size: 4_000_000 },
        ],
        [
          { digest: dg('base@0'), result: 0 },
          { digest: dg(`sum ${v}@-1`) },
          { digest: dg(`copy ${v}@0`), inputs: [[[0]], [[1]]], result: 1 },
          { digest: dg(`run ${v}@0`), inputs: [[[2]]], result: 2 },
          { digest: dg(`final ${v}@0`), inputs: [[[3]]], result: 3 },
        ],
      );
    const d = diffCaches(cache(1), cache(2));
    const v = d.divergences[0];
    assert.deepEqual([v.leaf, v.record, v.slot, v.kind, v.recordA, v.digestA, v.digestB], [4, 2, 1, 'content-checksum', null, null, dg('sum 2@-1')]);
    assert.deepEqual(v.rebuiltRecords, [2, 3, 4]);
    assert.deepEqual([v.rebuiltLayers, v.rebuiltBytes], [3, 9_000_000]);
    assert.equal(
      v.explanation,
      `input 1 of record #2 changed: content checksum of its files (no selector) ${short(dg('sum 2@-1'))}… is new, and so is the record's own key ${short(dg('copy 2@0'))}…; 3 layers, 9.0 MB rebuilt above it`,
    );
  });

  it('new keys over a new key whose inputs are all served: that key is the change (its definition)', () => {
    const cache = (v: number) =>
      buildModel(
        [
          { blob: dg('base'), parent: -1, size: 1_000_000 },
          { blob: dg(`x ${v}`), parent: 0, size: 2_000_000 },
          { blob: dg(`y ${v}`), parent: 1, size: 3_000_000 },
        ],
        [
          { digest: dg('base@0'), result: 0 },
          { digest: dg(`x ${v}@0`), inputs: [[[0]]], result: 1 },
          { digest: dg(`y ${v}@0`), inputs: [[[1]]], result: 2 },
        ],
      );
    const v = diffCaches(cache(1), cache(2)).divergences[0];
    assert.deepEqual([v.leaf, v.record, v.slot, v.rebuiltRecords, v.rebuiltLayers], [2, 1, -1, [1, 2], 2]);
    assert.match(v.explanation, /^record #1 is new: no record of A has its key sha256:\w{12}… \(an op with 1 input; its definition changed\); 2 layers, 5\.0 MB rebuilt above it$/);
  });

  it('a known key over new keys over a changed checksum: the walk passes through both kinds', () => {
    const cache = (v: number) =>
      buildModel(
        [
          { blob: dg('base'), parent: -1, size: 1_000_000 },
          { blob: dg(`copy ${v}`), parent: 0, size: 2_000_000 },
          { blob: dg(`gen ${v}`), parent: 1, size: 3_000_000 },
          { blob: dg(`top ${v}`), parent: 2, size: 4_000_000 },
        ],
        [
          { digest: dg('base@0'), result: 0 },
          { digest: dg(`sum ${v}@-1`) },
          { digest: dg('copy@0'), inputs: [[[0]], [[1]]], result: 1 },
          { digest: dg(`generate ${v}@0`), inputs: [[[2]]], result: 2 },
          // The leaf's own key is unchanged: it is known, with a changed input.
          { digest: dg('top@0'), inputs: [[[3]]], result: 3 },
        ],
      );
    const v = diffCaches(cache(1), cache(2)).divergences[0];
    assert.deepEqual([v.leaf, v.record, v.slot, v.kind, v.recordA, v.rebuiltRecords, v.rebuiltLayers], [4, 2, 1, 'content-checksum', 2, [2, 3, 4], 3]);
  });
});
