/**
 * Progress of opening a registry cache's layer files: the blob is downloaded into the blob cache, then
 * read, and the reports count both (bytesTotal twice the blob's size), never going back; once the
 * blob is in the blob cache, a read of it counts its bytes once. Real distribution 2.8, a generated
 * cache with one large layer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layerFiles } from '../../../electron/engine/contents/layer-files-wire';
import type { ChainProgress } from '../../../electron/engine/contents/layer-files-wire';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { writeBigLayerCache } from '../../helpers/big-layer-cache';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

describe('layer files progress from a registry', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let access: RegistryAccess;
  let blobSize: number;
  const saved = process.env.XDG_CACHE_HOME;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-files-progress-registry-'));
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
    const cache = join(tmp, 'cache');
    const { bigLayer } = await writeBigLayerCache(cache, join(tmp, 'work'), 16);
    const local = await openCacheSource(cache);
    blobSize = (await stat(join(cache, 'blobs', 'sha256', local.model.norm.layers[bigLayer].blob.slice(7)))).size;
    registry = await startRegistry();
    await pushFixture(registry, cache, 'team/big:main');
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
  });
  after(async () => {
    access?.close();
    await registry?.stop();
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    await rm(tmp, { recursive: true, force: true });
  });

  it('a download and then a read: both counted, in order, ending at twice the blob size', async () => {
    const opened = await openCacheSource(`${registry.host}/team/big:main`, { registry: access });
    const reports: ChainProgress[] = [];
    const r = await layerFiles(opened, { layer: 1 }, 'entries', undefined, undefined, (p) => reports.push(p));
    assert.deepEqual(r.rows.map((x) => x.path), ['app', 'app/big.txt', 'app/small.txt']);
    for (let i = 1; i < reports.length; i++) assert.ok(reports[i].bytesDone >= reports[i - 1].bytesDone, JSON.stringify(reports.slice(i - 1, i + 1)));
    const fetching = reports.filter((p) => p.phase === 'fetching');
    const reading = reports.filter((p) => p.phase === 'reading');
    assert.ok(fetching.length >= 2, `download reports: ${JSON.stringify(reports.slice(0, 6))}`);
    assert.ok(reading.length >= 2);
    assert.ok(reports.indexOf(fetching.at(-1)!) < reports.indexOf(reading[0]), 'the download comes before the read');
    assert.ok(fetching.every((p) => p.bytesDone <= blobSize && p.bytesTotal === 2 * blobSize));
    assert.deepEqual(reports.at(-1), { bytesDone: 2 * blobSize, bytesTotal: 2 * blobSize, phase: 'done', layer: 1, layers: 1 });
  });

  it('the blob already in the blob cache (the listing not cached) is read only: its bytes count once', async () => {
    await rm(join(tmp, 'xdg'), { recursive: true, force: true });
    const opened = await openCacheSource(`${registry.host}/team/big:main`, { registry: access });
    const reports: ChainProgress[] = [];
    await layerFiles(opened, { layer: 1 }, 'entries', undefined, undefined, (p) => reports.push(p));
    assert.equal(reports.filter((p) => p.phase === 'fetching').length, 0);
    assert.deepEqual(reports.at(-1), { bytesDone: blobSize, bytesTotal: blobSize, phase: 'done', layer: 1, layers: 1 });
  });
});
