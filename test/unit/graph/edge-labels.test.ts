import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toView } from '../../../shared/cache/model';
import { LABEL_LINE, edgeGeometry, edgeLabelPositions, portY } from '../../../shared/graph/edge-labels';
import { buildGraphModel } from '../../../shared/graph/graph-model';
import { layeredLayout, layoutInput } from '../../../shared/graph/layered-layout';
import { buildModel, dg } from '../../helpers/model-builder';

/** "content checksum" in 10px monospace, the widest label there is, with its plate. */
const WIDEST = 16 * 6.1 + 4;

/**
 * Sources 0–2 feed op 4: slot 0 ← 0 (a selector) or 1 (no selector), slots 1 and 2 both ← 2;
 * mid ← 4; end ← mid and, a long edge across two columns, ← source 0. Source 3 stands alone.
 */
function sample() {
  const v = toView(
    buildModel(
      [],
      [
        { digest: dg('s0') },
        { digest: dg('s1') },
        { digest: dg('s2') },
        { digest: dg('s3') },
        { digest: dg('op'), inputs: [[[0, dg('sel')], [1]], [[2]], [[2, dg('sel2')]]] },
        { digest: dg('mid'), inputs: [[[4]]] },
        { digest: dg('end'), inputs: [[[5]], [[0]]] },
      ],
    ),
    { present: () => true, orphans: null, layout: null },
  );
  const model = buildGraphModel(v);
  return { model, layout: layeredLayout(layoutInput(model)) };
}

describe('edge label placement', () => {
  it('ends each edge at its slot’s port', () => {
    const { model, layout } = sample();
    model.edges.forEach((e, i) => {
      const g = edgeGeometry(model, layout, i);
      assert.equal(g.x2, layout.x[e.to]);
      assert.equal(g.y2, layout.y[e.to] + portY(layout.options.nodeHeight, model.nodes[e.to].ports, e.slot));
    });
  });

  it('puts every label in the gap just before the node it feeds, clear of both columns, long edges included', () => {
    const { model, layout } = sample();
    const at = edgeLabelPositions(model, layout);
    const o = layout.options;
    model.edges.forEach((e, i) => {
      const x2 = layout.x[e.to];
      assert.ok(at.x[i] - WIDEST / 2 > x2 - o.layerGap && at.x[i] + WIDEST / 2 < x2, `edge ${i} label at ${at.x[i]} fits the gap before ${x2}`);
    });
    const long = model.edges.findIndex((e) => layout.layer[e.to] - layout.layer[e.from] > 1);
    assert.ok(long >= 0, 'the sample has a long edge');
  });

  it('keeps labels in one gap at least a line apart, and un-crowded ones on their own curve', () => {
    const { model, layout } = sample();
    const at = edgeLabelPositions(model, layout);
    const into4 = model.edges.map((e, i) => ({ e, i })).filter(({ e }) => e.to === model.nodeOf[4]);
    assert.equal(into4.length, 4);
    const ys = into4.map(({ i }) => at.y[i]).sort((a, b) => a - b);
    for (let k = 1; k < ys.length; k++) assert.ok(ys[k] - ys[k - 1] >= LABEL_LINE - 1e-9, `labels ${ys.join(', ')} a line apart`);
    // The only edge into "mid" sits on its curve, between its two ends.
    const one = model.edges.findIndex((e) => e.to === model.nodeOf[5]);
    const g = edgeGeometry(model, layout, one);
    assert.ok(at.y[one] >= Math.min(g.y1, g.y2) - 1e-9 && at.y[one] <= Math.max(g.y1, g.y2) + 1e-9);
  });
});
