/**
 * Progress of opening a layer's files: the engine sums the bytes of a chain's blobs as it reads (and
 * downloads) them, and the service sends them as `layerFilesProgress` events under the request's id,
 * the last one before the answer and equal to the total. A generated cache with one large layer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chainProgress, layerFiles } from '../../../electron/engine/contents/layer-files-wire';
import type { ChainProgress } from '../../../electron/engine/contents/layer-files-wire';
import { createService } from '../../../electron/engine/service';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { EVENT_NAMES } from '../../../shared/contract/index';
import type { Events } from '../../../shared/contract/index';
import { writeBigLayerCache } from '../../helpers/big-layer-cache';

/** bytesDone never goes down, never passes bytesTotal, and the last report is `done` with all bytes. */
function assertWellFormed(reports: ChainProgress[], total: number): void {
  assert.ok(reports.length > 0, 'at least one report');
  for (let i = 1; i < reports.length; i++) assert.ok(reports[i].bytesDone >= reports[i - 1].bytesDone, `report ${i} goes back: ${JSON.stringify(reports.slice(i - 1, i + 1))}`);
  for (const r of reports) assert.ok(r.bytesDone <= r.bytesTotal, JSON.stringify(r));
  const last = reports.at(-1)!;
  assert.deepEqual([last.phase, last.bytesDone, last.bytesTotal], ['done', total, total]);
}

describe('layer files progress', () => {
  let tmp: string;
  let cache: string;
  const saved = process.env.XDG_CACHE_HOME;
  let blobSizes: number[];
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-files-progress-'));
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
    cache = join(tmp, 'cache');
    await writeBigLayerCache(cache, join(tmp, 'work'), 24);
    const opened = await openCacheSource(cache);
    blobSizes = await Promise.all(opened.model.norm.layers.map(async (l) => (await stat(join(cache, 'blobs', 'sha256', l.blob.slice(7)))).size));
  });
  after(async () => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    await rm(tmp, { recursive: true, force: true });
  });

  it('reading a large layer reports bytes in between, in order, ending at the blob size', async () => {
    const source = await openCacheSource(cache);
    const reports: ChainProgress[] = [];
    await layerFiles(source, { layer: 1 }, 'entries', undefined, undefined, (p) => reports.push(p));
    assertWellFormed(reports, blobSizes[1]);
    const between = reports.filter((r) => r.bytesDone > 0 && r.bytesDone < r.bytesTotal);
    assert.ok(between.length >= 3, `reports while reading: ${JSON.stringify(reports)}`);
    assert.ok(reports.every((r) => r.layers === 1 && r.layer === 1));
    assert.ok(reports.length <= 210, `thinned out for the wire: ${reports.length} reports`);
  });

  it("a chain's reports count every layer; a cached listing counts as done at once", async () => {
    const source = await openCacheSource(cache);
    const reports: ChainProgress[] = [];
    // The squash of the run step's result reads base, COPY (cached by the test above) and run layers.
    await layerFiles(source, { layer: 2 }, 'squash', undefined, undefined, (p) => reports.push(p));
    const total = blobSizes[0] + blobSizes[1] + blobSizes[2];
    assertWellFormed(reports, total);
    assert.deepEqual([...new Set(reports.map((r) => r.layer))], [1, 2, 3]);
    const copy = reports.filter((r) => r.layer === 2);
    assert.equal(copy.length, 1, 'the cached COPY layer is one report');
    assert.equal(copy[0].bytesDone, blobSizes[0] + blobSizes[1]);
  });

  it('a blob downloaded first counts twice: bytesTotal grows at the download, bytesDone never goes back', () => {
    const reports: ChainProgress[] = [];
    const p = chainProgress([1000, 500], (r) => reports.push(r));
    const first = p.layer(0);
    first({ digest: 'a', phase: 'fetching', bytes: 400, total: 1000, entries: 0 });
    first({ digest: 'a', phase: 'fetching', bytes: 1000, total: 1000, entries: 0 });
    first({ digest: 'a', phase: 'reading', bytes: 300, total: 1000, entries: 10 });
    first({ digest: 'a', phase: 'done', bytes: 1000, total: 1000, entries: 20 });
    p.layer(1)({ digest: 'b', phase: 'cached', bytes: 500, total: 500, entries: 5 });
    p.finish();
    assert.deepEqual(
      reports.map((r) => [r.phase, r.layer, r.bytesDone, r.bytesTotal]),
      [
        ['fetching', 1, 400, 2500],
        ['fetching', 1, 1000, 2500],
        ['reading', 1, 1300, 2500],
        ['reading', 1, 2000, 2500],
        ['reading', 2, 2500, 2500],
        ['done', 2, 2500, 2500],
      ],
    );
  });

  it("the service sends them as layerFilesProgress under the caller's requestId, before the answer", async () => {
    assert.ok((EVENT_NAMES as readonly string[]).includes('layerFilesProgress'), 'an event main, preload and the server pass on');
    const log: string[] = [];
    const events: Events['layerFilesProgress'][] = [];
    const service = createService({
      startupSource: null,
      mode: 'browser',
      emit: (name, payload) => {
        if (name !== 'layerFilesProgress') return;
        events.push(payload as Events['layerFilesProgress']);
        log.push('progress');
      },
    });
    try {
      await rm(join(tmp, 'xdg'), { recursive: true, force: true });
      const { cacheId } = await service.openCache({ source: cache });
      await service.openLayerFiles({ cacheId, layer: 1, view: 'entries', requestId: 'files-req-1' }).then(() => log.push('answer'));
      assert.ok(events.length >= 3);
      assert.ok(events.every((e) => e.requestId === 'files-req-1'));
      assertWellFormed(events, blobSizes[1]);
      assert.equal(log.at(-1), 'answer', 'every report comes before the answer');
      // Without a requestId nobody could tell the reports apart: none are sent.
      events.length = 0;
      await service.openLayerFiles({ cacheId, layer: 0, view: 'entries' });
      assert.equal(events.length, 0);
    } finally {
      await service.dispose();
    }
  });
});
