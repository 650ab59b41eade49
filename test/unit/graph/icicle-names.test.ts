/** The chains picture's data with names: each block carries the step that made its layer, and labels fit their block. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toView } from '../../../shared/cache/model';
import { historyNames } from '../../../shared/graph/history-names';
import { LABEL_CHAR, LABEL_PAD, fitLabel, icicle } from '../../../shared/graph/icicle';
import { buildModel, dg } from '../../helpers/model-builder';

describe('icicle blocks with names', () => {
  const bare = toView(
    buildModel(
      [
        { blob: dg('base'), parent: -1, size: 100, diffID: dg('d-base') },
        { blob: dg('app'), parent: 0, size: 300, diffID: dg('d-app') },
        { blob: dg('other'), parent: -1, size: 50, diffID: dg('d-other') },
      ],
      [{ digest: dg('r1'), result: 1 }],
    ),
    { present: () => true, orphans: null, layout: null },
  );
  const names = historyNames(bare.layers, bare.records, [
    { ref: '/img:final', configDigest: null, diffIds: [dg('d-base'), dg('d-app')], history: [{ created_by: 'ADD rootfs.tar / # buildkit' }, { created_by: 'COPY app /app # buildkit' }] },
  ]);

  it('names each block the image names, with where the name comes from; the rest have none', () => {
    const { blocks } = icicle({ ...bare, names });
    const at = (i: number) => blocks.find((b) => b.index === i)!;
    assert.equal(at(1).name, 'COPY app /app');
    assert.equal(at(1).nameFrom?.from, 'from image /img:final history[1]');
    assert.equal(at(0).name, 'ADD rootfs.tar /');
    assert.equal(at(2).name, null);
    assert.equal(icicle(bare).blocks.every((b) => b.name === null), true, 'no names without an image');
  });

  it('a label is cut with an ellipsis to what fits, and left out when not 4 characters fit', () => {
    const room = (n: number) => 2 * LABEL_PAD + n * LABEL_CHAR;
    assert.equal(fitLabel('#1 COPY app /app', room(16)), '#1 COPY app /app');
    assert.equal(fitLabel('#1 COPY app /app', room(10)), '#1 COPY a…');
    assert.equal(fitLabel('#1 COPY app /app', room(3)), '');
  });
});
