import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { diffCaches } from '../../../shared/diff/diff-caches';
import type { CacheDiff } from '../../../shared/diff/types';
import { buildModel, dg } from '../../helpers/model-builder';
import type { LayerSpec, RecordSpec } from '../../helpers/model-builder';

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
  const sides = (d: CacheDiff, side: 'a' | 'b') => d.blobs.filter((r) => r.side === side).map((r) => r.digest).sort();
  assert.deepEqual(sides(ab, 'a'), sides(ba, 'b'));
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
        assert.equal(d.summary.blobsOnlyA + d.summary.blobsOnlyB, 0);
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
        for (const v of d.divergences) assert.ok(v.explanation.length > 0);
      }),
      { numRuns: 300 },
    );
  });
});
