import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toView } from '../../../shared/cache/model';
import { ICICLE_WIDTH, icicle } from '../../../shared/graph/icicle';
import { buildModel, dg } from '../../helpers/model-builder';

describe('layer chains icicle', () => {
  // base (100) ─┬─ app-a (300) ── top-a (100)
  //             └─ app-b (100)
  // other-base (500): a second chain root
  const view = toView(
    buildModel(
      [
        { blob: dg('base'), parent: -1, size: 100 },
        { blob: dg('app-a'), parent: 0, size: 300 },
        { blob: dg('top-a'), parent: 1, size: 100 },
        { blob: dg('app-b'), parent: 0, size: 100 },
        { blob: dg('other-base'), parent: -1, size: 500 },
      ],
      [
        { digest: dg('r1'), result: 2 },
        { digest: dg('r2'), result: 3 },
        { digest: dg('r3'), result: 4 },
      ],
    ),
    { present: () => true, orphans: null, layout: null },
  );
  const { blocks, depth } = icicle(view);
  const at = (i: number) => blocks.find((b) => b.index === i)!;

  it('draws a shared prefix once and splits it where the chains diverge', () => {
    assert.equal(blocks.length, 5, 'one block per layer entry');
    assert.equal(depth, 3);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => at(i).depth), [0, 1, 2, 1, 0]);
    // Both children sit under the base's block, side by side.
    for (const c of [1, 3]) assert.ok(at(c).x >= at(0).x && at(c).x + at(c).w <= at(0).x + at(0).w + 1e-9);
    assert.ok(at(1).x + at(1).w <= at(3).x + 1e-9 || at(3).x + at(3).w <= at(1).x + 1e-9, 'no overlap');
  });

  it('makes width proportional to the bytes of the entry and everything stacked on it', () => {
    const px = ICICLE_WIDTH / 1100;
    assert.ok(Math.abs(at(0).w - 600 * px) < 1e-6, `base carries 600 of 1100 bytes: ${at(0).w}`);
    assert.ok(Math.abs(at(4).w - 500 * px) < 1e-6);
    assert.ok(Math.abs(at(1).w - 400 * px) < 1e-6);
    assert.ok(Math.abs(at(3).w - 100 * px) < 1e-6);
    assert.ok(Math.abs(at(2).w - 100 * px) < 1e-6);
  });
});
