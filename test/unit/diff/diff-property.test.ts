import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { diffCaches } from '../../../shared/diff/diff-caches';
import type { CacheDiff } from '../../../shared/diff/types';
import { buildModel, dg } from '../../helpers/model-builder';
import type { LayerSpec, RecordSpec } from '../../helpers/model-builder';

/**
 * Properties of the diff on random valid caches: diff(A, A) is empty, diff(B, A) mirrors diff(A, B)
 * (new <-> gone, only A <-> only B, pairs swapped, bytes swapped), every unmatched leaf is explained
 * exactly once, and recompression alone never looks like a rebuild.
 */

/** Random valid caches: a layer forest, and a record DAG whose links point to lower indexes, digests from a small alphabet (so they repeat). */
const cacheArb = fc
  .record({
    layerParents: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
    layerNames: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 8, maxLength: 8 }),
    records: fc.array(
      fc.record({
        digest: fc.integer({ min: 0, max: 6 }),
        slots: fc.array(fc.array(fc.record({ link: fc.nat(), sel: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }) }), { minLength: 1, maxLength: 2 }), { maxLength: 2 }),
        result: fc.option(fc.nat(), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
  })
  .map(({ layerParents, layerNames, records }) => {
    const layers: LayerSpec[] = layerParents.map((p, i) => ({ blob: dg(`blob${layerNames[i]}-${i % 3}`), parent: i === 0 ? -1 : p % (i + 1) === i ? -1 : p % i, size: 100 * (layerNames[i] + 1) + (i % 3) }));
    const recs: RecordSpec[] = records.map((r, i) => ({
      digest: dg(`rec${r.digest}`),
      inputs: i === 0 ? [] : r.slots.map((slot) => slot.map((l) => [l.link % i, l.sel === undefined ? undefined : dg(`sel${l.sel}`)] as [number, string?])),
      result: r.result === undefined ? undefined : r.result % layers.length,
    }));
    return { layers, records: recs };
  });

type Cache = { layers: LayerSpec[]; records: RecordSpec[] };

/** One edit of a cache, as a later build would make: a changed key, a changed selector, a dropped result. */
const mutationArb = fc.record({ kind: fc.constantFrom('digest', 'selector', 'result'), at: fc.nat() });

function mutate(c: Cache, m: { kind: string; at: number }): Cache {
  const records = c.records.map((r) => ({ ...r, inputs: r.inputs?.map((slot) => slot.map((l) => [...l] as [number, string?])) }));
  const r = records[m.at % records.length];
  if (m.kind === 'digest') r.digest = dg(`mutated-${m.at}`);
  else if (m.kind === 'selector' && r.inputs && r.inputs.length > 0) r.inputs[0][0][1] = dg('selector-mutated');
  else delete r.result;
  return { layers: c.layers, records };
}

/** The same cache with every layer recompressed: other blob digests and sizes, the same diffIDs. */
function recompress(c: Cache): Cache {
  return { layers: c.layers.map((l) => ({ ...l, blob: dg(`zstd:${l.blob}`), diffID: dg(`diff:${l.blob}`), size: (l.size ?? 1000) + 1 })), records: c.records };
}

function mirrored(ab: CacheDiff, ba: CacheDiff): void {
  assert.equal(ab.identical, ba.identical);
  assert.equal(ab.summary.blobsOnlyA, ba.summary.blobsOnlyB);
  assert.equal(ab.summary.bytesOnlyA, ba.summary.bytesOnlyB);
  assert.equal(ab.summary.blobsBoth, ba.summary.blobsBoth);
  assert.equal(ab.summary.bytesBoth, ba.summary.bytesBoth);
  assert.deepEqual(ab.newRecords, ba.goneRecords);
  assert.deepEqual(ab.goneRecords, ba.newRecords);
  assert.deepEqual(
    ab.matched,
    ba.matched.map((m) => ({ a: m.b, b: m.a })).sort((x, y) => x.a - y.a || x.b - y.b),
  );
  assert.deepEqual(
    ab.resultChanged,
    ba.resultChanged.map((m) => ({ a: m.b, b: m.a })).sort((x, y) => x.a - y.a || x.b - y.b),
  );
  assert.deepEqual(
    ab.linksChanged,
    ba.linksChanged.map((m) => ({ a: m.b, b: m.a })).sort((x, y) => x.a - y.a || x.b - y.b),
  );
  assert.equal(ab.summary.recompressed, ba.summary.recompressed);
  assert.equal(ab.summary.recompressedBytesA, ba.summary.recompressedBytesB);
  assert.equal(ab.summary.recompressedBytesB, ba.summary.recompressedBytesA);
  assert.equal(ab.summary.chainsBoth, ba.summary.chainsBoth);
  assert.equal(ab.summary.chainsOnlyA, ba.summary.chainsOnlyB);
  assert.equal(ab.summary.chainsOnlyB, ba.summary.chainsOnlyA);
  assert.equal(ab.summary.recordsNew, ba.summary.recordsGone);
  assert.equal(ab.summary.recordsResultChanged, ba.summary.recordsResultChanged);
  // Every blob row is there the other way round: sides swapped, the same recompression partner.
  const flip = { a: 'b', b: 'a', both: 'both' } as const;
  const rows = (d: CacheDiff, swap: boolean) =>
    d.blobs.map((r) => `${r.digest} ${swap ? flip[r.side] : r.side} ${r.size} ${r.recompressedFrom ?? '-'}`).sort();
  assert.deepEqual(rows(ab, false), rows(ba, true));
}

describe('diff properties', () => {
  it('diff(A, A) is empty', () => {
    fc.assert(
      fc.property(cacheArb, (c) => {
        const d = diffCaches(buildModel(c.layers, c.records), buildModel(c.layers, c.records));
        assert.equal(d.identical, true);
        assert.deepEqual(d.newRecords, []);
        assert.deepEqual(d.goneRecords, []);
        assert.deepEqual(d.divergences, []);
        assert.deepEqual(d.resultChanged, []);
        assert.deepEqual(d.linksChanged, []);
        assert.equal(d.summary.blobsOnlyA + d.summary.blobsOnlyB + d.summary.recompressed, 0);
        assert.equal(d.summary.chainsOnlyA + d.summary.chainsOnlyB, 0);
        assert.equal(d.summary.reusableShare, 1);
        assert.ok(d.blobs.every((r) => r.side === 'both'));
      }),
      { numRuns: 200 },
    );
  });

  it('diff(A, B) and diff(B, A) are mirror images', () => {
    fc.assert(
      fc.property(cacheArb, cacheArb, (x, y) => {
        const a = buildModel(x.layers, x.records);
        const b = buildModel(y.layers, y.records);
        mirrored(diffCaches(a, b), diffCaches(b, a));
      }),
      { numRuns: 300 },
    );
  });

  it('every unmatched leaf of B gets exactly one explanation', () => {
    fc.assert(
      fc.property(cacheArb, cacheArb, (x, y) => {
        const b = buildModel(y.layers, y.records);
        const d = diffCaches(buildModel(x.layers, x.records), b);
        const unmatchedLeaves = b.graph.dependents.flatMap((deps, i) => (deps.length === 0 && d.newRecords.includes(i) ? [i] : []));
        assert.deepEqual(d.divergences.map((v) => v.leaf), unmatchedLeaves);
        for (const v of d.divergences) {
          assert.match(v.explanation, new RegExp(`record #${v.record}\\b`));
          // What was rebuilt runs from the diverged record up to the leaf, through records A cannot serve.
          assert.ok(v.rebuiltRecords.includes(v.record) && v.rebuiltRecords.includes(v.leaf));
          for (const r of v.rebuiltRecords) assert.ok(d.newRecords.includes(r), `#${r} is unmatched`);
          assert.ok(v.rebuiltBytes >= 0 && v.rebuiltLayers >= 0);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('a cache and its edited copy are mirror images too (records overlap, unlike two random caches)', () => {
    fc.assert(
      fc.property(cacheArb, mutationArb, (x, m) => {
        const a = buildModel(x.layers, x.records);
        const y = mutate(x, m);
        const b = buildModel(y.layers, y.records);
        const ab = diffCaches(a, b);
        mirrored(ab, diffCaches(b, a));
        // An edit never touches the layers: every blob is reused.
        assert.equal(ab.summary.blobsOnlyA + ab.summary.blobsOnlyB + ab.summary.recompressed, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('recompression alone changes blobs, never records, results or cache misses', () => {
    fc.assert(
      fc.property(cacheArb, (x) => {
        const a = buildModel(x.layers, x.records);
        const y = recompress(x);
        const b = buildModel(y.layers, y.records);
        const d = diffCaches(a, b);
        const distinct = new Set(x.layers.map((l) => l.blob)).size;
        assert.equal(d.summary.recompressed, distinct);
        assert.equal(d.summary.blobsOnlyA + d.summary.blobsOnlyB + d.summary.blobsBoth, 0);
        assert.deepEqual([d.newRecords, d.goneRecords, d.resultChanged, d.linksChanged, d.divergences], [[], [], [], [], []]);
        assert.equal(d.summary.chainsOnlyA + d.summary.chainsOnlyB, 0);
        assert.equal(d.summary.reusableShare, 1);
        assert.equal(d.identical, false);
        mirrored(d, diffCaches(b, a));
      }),
      { numRuns: 200 },
    );
  });

  it('the walk stops only where the change is: nothing it names has a change further down', () => {
    fc.assert(
      fc.property(cacheArb, mutationArb, mutationArb, (x, m1, m2) => {
        const a = buildModel(x.layers, x.records);
        const y = mutate(mutate(x, m1), m2);
        const b = buildModel(y.layers, y.records);
        const d = diffCaches(a, b);
        const unmatched = (i: number) => d.newRecords.includes(i);
        const aKnows = (i: number) => a.norm.records.some((r) => r.digest === b.norm.records[i].digest);
        // A record's change lies further down when A knows its key, or its key is new and a whole slot changed.
        const lostSlot = (i: number) => b.norm.records[i].inputs.some((slot) => slot.every((l) => unmatched(l.link)));
        for (const v of d.divergences) {
          const rec = b.norm.records[v.record];
          if (v.slot < 0) {
            // The key itself: new with every slot still served, or known to A with another number of inputs.
            assert.ok(aKnows(v.record) ? v.recordA !== null : !lostSlot(v.record), v.explanation);
            continue;
          }
          const link = rec.inputs[v.slot].find((l) => b.norm.records[l.link].digest === v.digestB && l.selector === v.selector);
          assert.ok(link, v.explanation);
          if (!unmatched(link.link)) continue; // a changed selector on a record A serves
          const isRoot = b.norm.records[link.link].inputs.length === 0;
          if (v.recordA === null) assert.ok(isRoot, `under a new key only a root stops the walk: ${v.explanation}`);
          else assert.ok(isRoot || (!aKnows(link.link) && !lostSlot(link.link)), v.explanation);
        }
      }),
      { numRuns: 400 },
    );
  });
});
