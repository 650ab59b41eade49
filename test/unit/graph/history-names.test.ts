import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toView } from '../../../shared/cache/model';
import type { CacheView } from '../../../shared/cache/view-types';
import { buildGraphModel } from '../../../shared/graph/graph-model';
import { chainPositions, displayName, historyNames, pairHistory, recordName } from '../../../shared/graph/history-names';
import type { ImageHistorySource } from '../../../shared/graph/history-names';
import { buildModel, dg } from '../../helpers/model-builder';
import type { LayerSpec, RecordSpec } from '../../helpers/model-builder';

const view = (layers: LayerSpec[], records: RecordSpec[]): CacheView => toView(buildModel(layers, records), { present: () => true, orphans: null, layout: null });
const L = (name: string, parent: number, diff = name): LayerSpec => ({ blob: dg(`blob:${name}`), parent, diffID: dg(`diff:${diff}`) });
const D = (name: string) => dg(`diff:${name}`);

/** base ← app ← final, one record ending at each (plus the source records they hang from). */
function chainCache(): CacheView {
  return view(
    [L('base', -1), L('app', 0), L('final', 1)],
    [
      { digest: dg('ctx') },
      { digest: dg('copy-base'), inputs: [[[0]]], result: 0 },
      { digest: dg('copy-app'), inputs: [[[1]]], result: 1 },
      { digest: dg('copy-final'), inputs: [[[2]]], result: 2 },
    ],
  );
}

const image = (diffIds: string[], history: ImageHistorySource['history'], ref = 'img:1'): ImageHistorySource => ({ ref, configDigest: null, diffIds, history });

describe('names from an image history', () => {
  it('names every record whose result ends at a layer by that layer’s created_by, empty-layer entries consuming no diffID, and says where it comes from', () => {
    const v = chainCache();
    const names = historyNames(v.layers, v.records, [
      image(
        [D('base'), D('app'), D('final')],
        [
          { created_by: 'COPY a.txt /a.txt # buildkit', created: '2026-01-01T00:00:00Z' },
          { created_by: 'WORKDIR /app', empty_layer: true },
          { created_by: 'ENV X=1', empty_layer: true },
          { created_by: 'COPY b.txt /b.txt # buildkit' },
          { created_by: 'RUN make # buildkit' },
        ],
      ),
    ]);
    assert.deepEqual(
      names.records.map((n) => n?.text ?? null),
      [null, 'COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'RUN make # buildkit'],
    );
    assert.equal(names.records[2]!.from, 'from image img:1 history[3]');
    assert.equal(names.records[2]!.imageLayer, 1);
    assert.equal(names.records[1]!.created, '2026-01-01T00:00:00Z');
    assert.equal(names.records[3]!.match, 'chain');
    assert.deepEqual(names.images[0], { ref: 'img:1', configDigest: null, layers: 3, matchedLayers: 3, namedLayers: 3, namedRecords: 3, notes: [], inline: false });
    assert.equal(recordName(names, 3), 'RUN make');
  });

  it('leaves the last layers unnamed when the history has fewer entries than layers, and says so', () => {
    const v = chainCache();
    const names = historyNames(v.layers, v.records, [image([D('base'), D('app'), D('final')], [{ created_by: 'COPY a.txt /a.txt' }])]);
    assert.deepEqual(
      names.records.map((n) => n?.text ?? null),
      [null, 'COPY a.txt /a.txt', null, null],
    );
    assert.match(names.images[0].notes.join('\n'), /3 layers but only 1 history entry with a layer: layers 1–2 have no name/);
  });

  it('ignores history entries past the last layer (BuildKit marks them empty), and says so', () => {
    const v = chainCache();
    const names = historyNames(v.layers, v.records, [
      image([D('base'), D('app'), D('final')], [{ created_by: 'A' }, { created_by: 'B' }, { created_by: 'C' }, { created_by: 'D extra' }, { created_by: 'E extra' }]),
    ]);
    assert.deepEqual(
      names.records.map((n) => n?.text ?? null),
      [null, 'A', 'B', 'C'],
    );
    assert.match(names.images[0].notes.join('\n'), /5 entries with a layer but the image has 3 layers: the last 2 name nothing/);
  });

  it('names what it can when some image layers are not in the cache, and counts them', () => {
    const v = chainCache();
    // The image was built on another base: its first layer is not in the cache, so only diffIDs match.
    const names = historyNames(v.layers, v.records, [image([D('other-base'), D('app'), D('elsewhere')], [{ created_by: 'FROM other' }, { created_by: 'COPY app' }, { created_by: 'RUN x' }])]);
    assert.deepEqual(
      names.records.map((n) => n?.text ?? null),
      [null, null, 'COPY app', null],
    );
    assert.equal(names.records[2]!.match, 'diffID');
    assert.match(names.records[2]!.from, /matched by diffID only/);
    assert.equal(names.images[0].matchedLayers, 1);
    assert.match(names.images[0].notes.join('\n'), /2 of the image's 3 layers are not in this cache/);
  });

  it('gives the same name to two records whose results end at one layer', () => {
    const v = view(
      [L('base', -1), L('app', 0)],
      [
        { digest: dg('one'), result: 1 },
        { digest: dg('two'), inputs: [[[0]]], result: 1 },
        { digest: dg('three'), result: 0 },
      ],
    );
    const names = historyNames(v.layers, v.records, [image([D('base'), D('app')], [{ created_by: 'FROM base' }, { created_by: 'COPY . /app' }])]);
    assert.deepEqual(
      names.records.map((n) => n?.text ?? null),
      ['COPY . /app', 'COPY . /app', 'FROM base'],
    );
    assert.equal(names.images[0].namedRecords, 3);
  });

  it('tells a diffID that appears twice in the image apart by its place in the chain', () => {
    // The same content added twice (COPY a.txt twice): entries 0 and 2 have one diffID.
    const v = view(
      [L('a', -1, 'same'), L('b', 0), L('a-again', 1, 'same'), L('other', -1), L('b-elsewhere', 3, 'b'), L('a-elsewhere', 4, 'same')],
      [
        { digest: dg('first'), result: 0 },
        { digest: dg('second'), result: 1 },
        { digest: dg('third'), result: 2 },
        { digest: dg('elsewhere'), result: 5 },
      ],
    );
    const names = historyNames(v.layers, v.records, [image([D('same'), D('b'), D('same')], [{ created_by: 'COPY a.txt /a.txt' }, { created_by: 'COPY b.txt /b.txt' }, { created_by: 'COPY a.txt /again/a.txt' }])]);
    assert.deepEqual(
      names.records.map((n) => [n?.text ?? null, n?.imageLayer ?? null, n?.match ?? null]),
      [
        ['COPY a.txt /a.txt', 0, 'chain'],
        ['COPY b.txt /b.txt', 1, 'chain'],
        ['COPY a.txt /again/a.txt', 2, 'chain'],
        // Another chain (other base) with that content above b's: the place above b fits it.
        ['COPY a.txt /again/a.txt', 2, 'diffID'],
      ],
    );
  });

  it('prefers a whole-chain match over a diffID-only one across images; between equal matches the earlier image wins', () => {
    const v = chainCache();
    const other = image([D('x'), D('app')], [{ created_by: 'from other' }, { created_by: 'APP (diffID only)' }], 'other:1');
    const right = image([D('base'), D('app')], [{ created_by: 'BASE' }, { created_by: 'APP (chain)' }], 'right:1');
    const names = historyNames(v.layers, v.records, [other, right]);
    assert.equal(names.records[2]!.text, 'APP (chain)');
    assert.equal(names.records[2]!.image, 'right:1');
    assert.deepEqual(
      names.images.map((i) => [i.ref, i.namedRecords]),
      [
        ['other:1', 0],
        ['right:1', 2],
      ],
    );
    const twice = historyNames(v.layers, v.records, [right, image([D('base'), D('app')], [{ created_by: 'LATER' }, { created_by: 'LATER' }], 'later:1')]);
    assert.equal(twice.records[1]!.text, 'BASE');
  });

  it('names nothing when no diffID is in common, and survives a looping parent chain', () => {
    const v = chainCache();
    const none = historyNames(v.layers, v.records, [image([D('nope')], [{ created_by: 'X' }])]);
    assert.equal(none.images[0].matchedLayers, 0);
    assert.ok(none.records.every((n) => n === null));
    const loop = chainPositions(
      [
        { diffID: D('a'), parent: 1 },
        { diffID: D('b'), parent: 0 },
        { diffID: D('c'), parent: 7 },
      ],
      [D('a'), D('b')],
    );
    assert.deepEqual([...loop], [-1, -1, -1]);
  });

  it('pairs layers with non-empty entries only', () => {
    const { perLayer } = pairHistory({ diffIds: ['d0', 'd1'], history: [{ created_by: 'ARG X', empty_layer: true }, { created_by: 'one' }, { created_by: '' }, { created_by: 'three' }] });
    assert.deepEqual(
      perLayer.map((p) => [p?.history, p?.createdBy]),
      [
        [1, 'one'],
        [2, null],
      ],
    );
  });

  it('shows names without BuildKit’s suffix or the classic builder’s shell prefix', () => {
    assert.equal(displayName('COPY a.txt /a.txt # buildkit'), 'COPY a.txt /a.txt');
    assert.equal(displayName('/bin/sh -c #(nop) COPY file:abc in / '), 'COPY file:abc in /');
    assert.equal(displayName('/bin/sh -c apt-get update'), 'RUN apt-get update');
    assert.equal(displayName('RUN /bin/sh -c echo hi # buildkit'), 'RUN /bin/sh -c echo hi');
  });

  it('puts history names on graph nodes, the role staying as the secondary label', () => {
    const v = chainCache();
    v.names = historyNames(v.layers, v.records, [image([D('base'), D('app'), D('final')], [{ created_by: 'A # buildkit' }, { created_by: 'B # buildkit' }, { created_by: 'C # buildkit' }])]);
    const m = buildGraphModel(v);
    const last = m.nodes[m.nodeOf[3]];
    assert.equal(last.label, 'C');
    assert.equal(last.name, 'C');
    assert.equal(last.role, 'stage result');
    assert.match(last.nameSource, /^from image img:1 history\[2\]; role from the graph: a final result/);
    const source = m.nodes[m.nodeOf[0]];
    assert.equal(source.label, 'source');
    assert.equal(source.name, null);
    // A collapsed run takes its head's name.
    const collapsed = buildGraphModel(v, { collapse: true });
    assert.ok(collapsed.nodes.some((n) => n.records.length > 1 && n.label === 'C · 3 records'), collapsed.nodes.map((n) => n.label).join(', '));
  });
});
