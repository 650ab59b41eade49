/** The service's layer-contents requests on a real BuildKit cache: listings for the wire, waste, cancel, validation. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layerFiles } from '../../../electron/engine/contents/layer-files-wire';
import { createService } from '../../../electron/engine/service';
import type { Service } from '../../../electron/engine/service';
import { CacheError, validateParams } from '../../../shared/contract/index';
import { FIXTURES } from '../../helpers/fixtures';

const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

describe('openLayerFiles, resultWaste, cancelLayerFiles', () => {
  let cacheHome: string;
  const saved = process.env.XDG_CACHE_HOME;
  let service: Service;
  let cacheId: string;
  let deepest: number;
  before(async () => {
    cacheHome = await mkdtemp(join(tmpdir(), 'cachescope-layer-files-'));
    process.env.XDG_CACHE_HOME = cacheHome;
    service = createService({ startupSource: null, mode: 'browser', emit: () => {} });
    const opened = await service.openCache({ source: SOURCE });
    cacheId = opened.cacheId;
    const stacks = opened.view.records.map((r) => r.stack.length);
    deepest = stacks.indexOf(Math.max(...stacks));
  });
  after(async () => {
    await service.dispose();
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    await rm(cacheHome, { recursive: true, force: true });
  });

  it("lists a layer entry's tar entries, a directory's children right after it", async () => {
    const view = (await service.openCache({ source: SOURCE })).view;
    const entry = view.layers.findIndex((l) => l.diffID?.startsWith('sha256:8e6adcf'));
    assert.ok(entry >= 0);
    const r = await service.openLayerFiles({ cacheId, layer: entry, view: 'entries' });
    assert.deepEqual(r.rows.map((x) => x.path), ['fromother', 'fromother/c.txt', 'fromother/d.txt']);
    assert.equal(r.rows[1].size, 3092);
    assert.equal(r.truncated, false);
    assert.equal(r.total, 3);
    assert.equal(r.waste, null);
  });

  it("squashes a record's result, marks the top layer's changes, and measures its waste", async () => {
    const r = await service.openLayerFiles({ cacheId, record: deepest, view: 'squash' });
    assert.deepEqual(r.rows.map((x) => x.path), ['a.txt', 'again', 'again/a.txt', 'b.txt', 'e.txt', 'fromother', 'fromother/c.txt', 'fromother/d.txt']);
    assert.deepEqual(r.rows.filter((x) => x.change).map((x) => `${x.change} ${x.path}`), ['added again', 'added again/a.txt']);
    assert.ok(r.waste);
    assert.equal(r.waste.efficiency, 1);
    assert.equal(r.waste.totalBytes, 6 * 3092);
    const changes = await service.openLayerFiles({ cacheId, record: deepest, view: 'changes' });
    assert.deepEqual(changes.rows.map((x) => x.path), ['again', 'again/a.txt']);
    assert.equal(r.cachedLayers + changes.cachedLayers > 0, true, 'the second open reads the listings cached by the first');
    const waste = await service.resultWaste({ cacheId, record: deepest });
    assert.deepEqual(waste, r.waste);
  });

  it('sends at most the wire cap of rows, saying how many there are', async () => {
    const r = await layerFiles(service.opened(cacheId), { record: deepest }, 'squash', undefined, 3);
    assert.deepEqual(r.rows.map((x) => x.path), ['a.txt', 'again', 'again/a.txt']);
    assert.equal(r.total, 8);
    assert.equal(r.truncated, true);
  });

  it('stops a read when cancelLayerFiles names its request', async () => {
    const reading = service.openLayerFiles({ cacheId, record: deepest, view: 'squash', requestId: 'r-cancel' });
    assert.deepEqual(await service.cancelLayerFiles({ requestId: 'r-cancel' }), { cancelled: true });
    await assert.rejects(reading, (err: unknown) => err instanceof CacheError && err.code === 'cancelled');
    // Done with: the id is free again, and cancelling it finds nothing.
    assert.deepEqual(await service.cancelLayerFiles({ requestId: 'r-cancel' }), { cancelled: false });
  });

  it('says which record has no result and which divergence does not exist', async () => {
    const view = (await service.openCache({ source: SOURCE })).view;
    const none = view.records.findIndex((r) => r.stack.length === 0);
    await assert.rejects(service.openLayerFiles({ cacheId, record: none, view: 'squash' }), new RegExp(`record ${none} has no result`));
    await assert.rejects(service.divergenceFiles({ a: cacheId, b: cacheId, leaf: 0 }), /no divergence ends at B's record #0/);
  });

  it('validates the payloads', () => {
    assert.throws(() => validateParams('openLayerFiles', { cacheId: 'c', layer: 1, record: 2, view: 'squash' }), /exactly one of "layer" and "record"/);
    assert.throws(() => validateParams('openLayerFiles', { cacheId: 'c', layer: -1, view: 'squash' }), /"layer" must be a non-negative integer/);
    assert.throws(() => validateParams('openLayerFiles', { cacheId: 'c', layer: 1, view: 'tree' }), /"view" must be entries, squash or changes/);
    assert.throws(() => validateParams('divergenceFiles', { a: 'a', b: 'b', leaf: 1.5 }), /"leaf" must be a non-negative integer/);
    assert.deepEqual(validateParams('openLayerFiles', { cacheId: 'c', record: 0, view: 'changes' }), { cacheId: 'c', record: 0, view: 'changes' });
  });
});
