import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toView } from '../../../shared/cache/model';
import type { CacheView } from '../../../shared/cache/view-types';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { diffColours, nodeDiffMarks } from '../../../shared/graph/diff-colours';
import { focusSubgraph } from '../../../shared/graph/focus';
import { buildGraphModel, expandRun } from '../../../shared/graph/graph-model';
import { graphHash, layeredLayout, layoutInput } from '../../../shared/graph/layered-layout';
import { buildModel, dg } from '../../helpers/model-builder';
import type { LayerSpec, RecordSpec } from '../../helpers/model-builder';

const view = (layers: LayerSpec[], records: RecordSpec[]): CacheView => toView(buildModel(layers, records), { present: () => true, orphans: null, layout: null });

const L = (name: string, parent: number, size = 1000): LayerSpec => ({ blob: dg(name), parent, size });

/**
 * 0 base (source) ─┐
 * 1 context (source)├─► 2 run (slot0 ← 0, slot1 ← 1 OR 3) ─► 4 copy ─► 5 final (result)
 * 3 checksum (source, content key) ┘
 */
function sample(): CacheView {
  return view(
    [L('base', -1, 100), L('app', 0, 50)],
    [
      { digest: dg('base'), result: 0 },
      { digest: dg('context') },
      { digest: dg('run'), inputs: [[[0, dg('sel-base')]], [[1, dg('sel-ctx')], [3]]] },
      { digest: dg('checksum') },
      { digest: dg('copy'), inputs: [[[2]]] },
      { digest: dg('final'), inputs: [[[4, dg('sel-copy')]]], result: 1, createdAt: '2026-03-04T05:06:07Z' },
    ],
  );
}

describe('record graph model', () => {
  it('makes one node per record and one edge per input link, each slot a port in order', () => {
    const v = sample();
    const m = buildGraphModel(v);
    assert.equal(m.nodes.length, 6);
    assert.equal(m.edges.length, 5);
    const run = m.nodes[m.nodeOf[2]];
    assert.equal(run.ports, 2);
    const into = m.edges.filter((e) => e.to === run.id).map((e) => [e.slot, e.alt, e.alternatives, v.records[m.nodes[e.from].head].digest]);
    assert.deepEqual(into, [
      [0, 0, 1, dg('base')],
      [1, 0, 2, dg('context')],
      [1, 1, 2, dg('checksum')],
    ]);
  });

  it('groups alternatives of one slot ("any one satisfies it") and names links without a selector "content checksum"', () => {
    const m = buildGraphModel(sample());
    const slot1 = m.edges.filter((e) => e.to === m.nodeOf[2] && e.slot === 1);
    assert.ok(slot1.every((e) => e.alternatives === 2));
    assert.deepEqual(
      slot1.map((e) => e.label),
      [dg('sel-ctx'), 'content checksum'],
    );
  });

  it('names nodes from the graph: sources, stage results with their layer count, bytes and createdAt', () => {
    const m = buildGraphModel(sample());
    const role = (r: number) => m.nodes[m.nodeOf[r]].role;
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(role), ['source', 'source', 'step', 'source', 'step', 'stage result']);
    const fin = m.nodes[m.nodeOf[5]];
    assert.deepEqual([fin.hasResult, fin.layers, fin.bytes, fin.createdAt], [true, 2, 150, '2026-03-04T05:06:07Z']);
    assert.deepEqual(m.roots.map((n) => m.nodes[n].head).sort(), [0, 1, 3]);
    assert.deepEqual(
      m.leaves.map((n) => m.nodes[n].head),
      [5],
    );
  });

  it('collapses straight runs (single input, single dependent) into one node that expands again', () => {
    const v = sample();
    const m = buildGraphModel(v, { collapse: true });
    // 2 → 4 → 5 is straight: 4 has one input (2) and 2 one dependent (4); 5 likewise. Sources stay alone.
    assert.equal(m.nodes.length, 4);
    const run = m.nodes[m.nodeOf[5]];
    assert.deepEqual(run.records, [2, 4, 5]);
    assert.equal(run.role, 'stage result');
    assert.equal(run.ports, 2, 'the run keeps the ports of its first record');
    assert.match(run.label, /3 records/);
    const open = buildGraphModel(v, { collapse: true, expanded: expandRun(m, 4, new Set()) });
    assert.equal(open.nodes.length, 6);
  });

  it('keeps a record with two dependents out of a run', () => {
    const v = view(
      [],
      [
        { digest: dg('a') },
        { digest: dg('b'), inputs: [[[0]]] },
        { digest: dg('c'), inputs: [[[1]]] },
        { digest: dg('d'), inputs: [[[1]]] },
      ],
    );
    const m = buildGraphModel(v, { collapse: true });
    assert.equal(m.nodes.length, 4);
  });

  it('focus subgraph: ancestors and dependents of a node, capped', () => {
    const v = sample();
    const f = focusSubgraph(v.records, 4);
    assert.deepEqual([...f.ancestors].sort(), [0, 1, 2, 3]);
    assert.deepEqual([...f.dependents], [5]);
    assert.equal(f.truncated, false);
    const capped = focusSubgraph(v.records, 4, 3);
    assert.equal(capped.records.size, 3);
    assert.equal(capped.truncated, true);
    assert.ok(capped.records.has(2) && capped.records.has(5), 'nearest first, both directions');
    const m = buildGraphModel(v, { only: f.records });
    assert.equal(m.nodes.length, 6);
    const onlyUp = buildGraphModel(v, { only: new Set([2, 4]) });
    assert.equal(onlyUp.nodes.length, 2);
    assert.equal(onlyUp.edges.length, 1, 'links to records outside the subgraph are left out');
  });

  it('diff colouring: matched dimmed, result changed amber, only in B red, divergence outlined', () => {
    const layers = [L('base', -1), L('app-v1', 0), L('app-v2', 0)];
    const common: RecordSpec[] = [{ digest: dg('base'), result: 0 }, { digest: dg('ctx') }];
    const a = buildModel(layers, [...common, { digest: dg('copy'), inputs: [[[0]], [[1, dg('sel-v1')]]], result: 1 }, { digest: dg('pull'), inputs: [[[0]]], result: 1 }]);
    const b = buildModel(layers, [...common, { digest: dg('copy'), inputs: [[[0]], [[1, dg('sel-v2')]]], result: 2 }, { digest: dg('pull'), inputs: [[[0]]], result: 2 }]);
    const diff = diffCaches(a, b);
    const c = diffColours(diff, 4);
    assert.equal(c.record[0], 'matched');
    assert.equal(c.record[2], 'new', 'the copy with another selector is only in B');
    assert.equal(c.record[3], 'changed', 'same key, another result');
    assert.ok(c.divergence.has(2));
    const bv = toView(b, { present: () => true, orphans: null, layout: null });
    const marks = nodeDiffMarks(buildGraphModel(bv), c);
    assert.equal(marks.outlined.filter(Boolean).length, c.divergence.size);
  });
});

describe('layered layout', () => {
  it('runs from sources on the left to final results on the right, one layer per step', () => {
    const m = buildGraphModel(sample());
    const l = layeredLayout(layoutInput(m));
    const x = (r: number) => l.x[m.nodeOf[r]];
    assert.ok(x(2) > x(0) && x(4) > x(2) && x(5) > x(4));
    assert.ok(x(1) < x(2) && x(3) < x(2));
    // No two nodes of a layer overlap.
    for (let i = 0; i < m.nodes.length; i++)
      for (let j = i + 1; j < m.nodes.length; j++) if (l.layer[i] === l.layer[j]) assert.ok(Math.abs(l.y[i] - l.y[j]) >= l.options.nodeHeight, `${i} and ${j} overlap`);
  });

  it('keeps the inputs of a node in slot order from top to bottom', () => {
    const v = view(
      [],
      [{ digest: dg('z') }, { digest: dg('y') }, { digest: dg('x') }, { digest: dg('op'), inputs: [[[2]], [[0]], [[1]]] }],
    );
    const m = buildGraphModel(v);
    const l = layeredLayout(layoutInput(m));
    const ys = [2, 0, 1].map((r) => l.y[m.nodeOf[r]]);
    assert.deepEqual(ys, [...ys].sort((p, q) => p - q));
  });

  it('survives a loop and lays out 10k nodes', () => {
    const loop = layeredLayout({ count: 2, from: Int32Array.from([0, 1]), to: Int32Array.from([1, 0]), slot: new Int32Array(2) });
    assert.equal(loop.layers, 2);
    const n = 10_000;
    const from: number[] = [];
    const to: number[] = [];
    for (let i = 1; i < n; i++) {
      from.push(Math.floor(i / 3), i > 10 ? i - 7 : 0);
      to.push(i, i);
    }
    const big = layeredLayout({ count: n, from: Int32Array.from(from), to: Int32Array.from(to), slot: new Int32Array(from.length) });
    assert.equal(big.x.length, n);
    assert.ok(Number.isFinite(big.width) && Number.isFinite(big.height));
  });

  it('hashes equal graphs equally and different graphs differently', () => {
    const a = layoutInput(buildGraphModel(sample()));
    assert.equal(graphHash(a), graphHash(layoutInput(buildGraphModel(sample()))));
    assert.notEqual(graphHash(a), graphHash(layoutInput(buildGraphModel(sample(), { collapse: true }))));
  });
});
