/** Squashing, per-layer changes, dive's efficiency score and the file diff on hand-written layers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainWaste, layerChanges, squash } from '../../../electron/engine/contents/chain-tree';
import { diffChains, diffEntries, summarizePaths } from '../../../electron/engine/contents/file-diff';
import type { LayerEntry } from '../../../electron/engine/contents/layer-entry';

const f = (path: string, size: number, extra: Partial<LayerEntry> = {}): LayerEntry => ({ path, type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: 0, ...extra });
const d = (path: string): LayerEntry => ({ path, type: 'dir', size: 0, mode: 0o755, uid: 0, gid: 0, mtime: 0 });
const wh = (path: string, kind: 'file' | 'opaque' = 'file'): LayerEntry => ({ ...f(path, 0), whiteout: kind });

describe('a chain of layers', () => {
  const layers = [[f('a', 100), f('b', 50)], [f('a', 100), wh('b')], [d('d'), f('d/x', 10)], [wh('d')]];

  it('squashes overwrites and whiteouts', () => {
    const tree = squash(layers);
    assert.deepEqual([...tree.keys()], ['a']);
    assert.equal(tree.get('a')!.layer, 1);
  });

  it("scores waste as dive does: duplicated and removed files weigh by size", () => {
    const w = chainWaste(layers);
    // a: 100 + 100 (min 100); b: 50 + a file whiteout's 0 (min 0); d/x: 10; d: its whiteout weighs the 10 bytes it removed.
    assert.equal(w.efficiency, 120 / 270);
    assert.equal(w.wastedBytes, 250);
    assert.deepEqual(w.inefficient.map((p) => [p.path, p.count, p.bytes]), [['a', 2, 200], ['b', 2, 50]]);
    assert.deepEqual(w.hidden, { overwritten: 100, removed: 60, duplicates: 0 });
    assert.equal(w.totalBytes, 260);
    assert.equal(w.visibleBytes, 100);
    assert.equal(chainWaste([[f('only', 5)]]).efficiency, 1);
  });

  it('names each layer changes against the layers below', () => {
    assert.deepEqual(layerChanges(layers, 1).map((c) => [c.path, c.kind]), [['a', 'modified'], ['b', 'removed']]);
    assert.deepEqual(layerChanges(layers, 3).map((c) => [c.path, c.kind]), [['d', 'removed'], ['d/x', 'removed']]);
    // An opaque directory that re-adds a file: modified, not removed and added.
    const opq = [[d('etc'), f('etc/conf', 1), f('etc/old', 1)], [wh('etc', 'opaque'), f('etc/conf', 2)]];
    assert.deepEqual(layerChanges(opq, 1).map((c) => [c.path, c.kind]), [['etc/conf', 'modified'], ['etc/old', 'removed']]);
    // A file replacing a directory takes the directory's contents with it.
    assert.deepEqual([...squash([[d('x'), f('x/y', 1)], [f('x', 3)]]).keys()], ['x']);
  });
});

describe('file diff', () => {
  it('compares size, mode, link target and owner first; content only when hashes are given', () => {
    const a = [f('same', 1), f('size', 1), f('mode', 1), f('gone', 1), { ...f('ln', 0), type: 'symlink' as const, link: 'x' }, f('content', 3)];
    const b = [f('same', 1), f('size', 2), f('mode', 1, { mode: 0o755 }), f('new', 1), { ...f('ln', 0), type: 'symlink' as const, link: 'y' }, f('content', 3)];
    const diff = diffEntries(a, b);
    assert.deepEqual(diff.added.map((e) => e.path), ['new']);
    assert.deepEqual(diff.removed.map((e) => e.path), ['gone']);
    assert.deepEqual(diff.changed.map((c) => [c.path, c.what]), [['ln', ['link']], ['mode', ['mode']], ['size', ['size']]]);
    const hashed = diffEntries(a, b, { a: new Map([['content', 'h1']]), b: new Map([['content', 'h2']]) });
    assert.deepEqual(hashed.changed.map((c) => c.path), ['content', 'ln', 'mode', 'size']);
    assert.deepEqual(diffChains([[f('k', 1)], [f('k', 2)]], [[f('k', 2)]]).paths, []);
  });

  it('summarizes like the miss explanation does', () => {
    assert.equal(summarizePaths(['src/app.ts', 'package.json']), 'src/app.ts, package.json');
    assert.equal(summarizePaths(['1', '2', '3', '4', '5', '6', '7', '8'], 2), '1, 2 (+6 more)');
  });
});
