/**
 * "Show files that changed" on a diff divergence reads the layers A and B hold at the rebuilt chain
 * positions: it reports the bytes of both sides' blobs read so far, in order, ending at their total,
 * and the service sends them as `layerFilesProgress` under the request's id, before the answer.
 * Two generated builds whose COPY layers each hold a large file of random text (base and RUN layers alike).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chainProgress } from '../../../electron/engine/contents/chain-progress';
import { divergenceFilesOf } from '../../../electron/engine/contents/layer-files-wire';
import type { ChainProgress } from '../../../electron/engine/contents/layer-files-wire';
import { createService } from '../../../electron/engine/service';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { Events } from '../../../shared/contract/index';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { writeBigLayerCache } from '../../helpers/big-layer-cache';

/** bytesDone never goes down nor passes bytesTotal; the last report is `done` with exactly `total`. */
function assertWellFormed(reports: ChainProgress[], total: number): void {
  assert.ok(reports.length > 0, 'at least one report');
  for (let i = 1; i < reports.length; i++) assert.ok(reports[i].bytesDone >= reports[i - 1].bytesDone, `report ${i} goes back: ${JSON.stringify(reports.slice(i - 1, i + 1))}`);
  for (const r of reports) assert.ok(r.bytesDone <= r.bytesTotal, JSON.stringify(r));
  const last = reports.at(-1)!;
  assert.deepEqual([last.phase, last.bytesDone, last.bytesTotal], ['done', total, total]);
}

describe('divergence files progress', () => {
  let tmp: string;
  let a: string;
  let b: string;
  const saved = process.env.XDG_CACHE_HOME;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-divergence-progress-'));
    process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
    a = join(tmp, 'build-a');
    b = join(tmp, 'build-b');
    // Build contexts of different sizes: the COPY's cache key differs, so B rebuilt the COPY and the RUN above it.
    await writeBigLayerCache(a, join(tmp, 'work-a'), 24);
    await writeBigLayerCache(b, join(tmp, 'work-b'), 20);
  });
  after(async () => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    await rm(tmp, { recursive: true, force: true });
  });

  /** The one divergence's leaf, and the sizes of the two COPY blobs it compares (the only layers that differ). */
  async function plan() {
    const [left, right] = [await openCacheSource(a), await openCacheSource(b)];
    const divergences = diffCaches(left.model, right.model).divergences;
    assert.equal(divergences.length, 1, 'the two builds diverge once, at the COPY');
    const copyA = left.model.norm.layers[1].blob;
    const copyB = right.model.norm.layers[1].blob;
    assert.notEqual(copyA, copyB);
    return { left, right, leaf: divergences[0].leaf, sizes: [left.model.descriptors.get(copyA)!.size, right.model.descriptors.get(copyB)!.size] };
  }

  it("reports the bytes of A's and B's rebuilt layers in order, ending at their total", async () => {
    await rm(join(tmp, 'xdg'), { recursive: true, force: true });
    const { left, right, leaf, sizes } = await plan();
    assert.ok(sizes[0] > 1e6 && sizes[1] > 1e6, `large blobs: ${sizes.join(', ')}`);
    const reports: ChainProgress[] = [];
    const result = await divergenceFilesOf(left, right, leaf, undefined, (p) => reports.push(p));
    assert.deepEqual(result.paths, ['app/big.txt']);
    const total = sizes[0] + sizes[1];
    assertWellFormed(reports, total);
    assert.ok(reports.every((r) => r.layers === 2 && r.bytesTotal === total), `the total is known from the first report: ${JSON.stringify(reports.slice(0, 3))}`);
    assert.deepEqual([...new Set(reports.map((r) => r.layer))], [1, 2], "A's layer, then B's");
    const inA = reports.filter((r) => r.layer === 1 && r.bytesDone > 0 && r.bytesDone < sizes[0]);
    const inB = reports.filter((r) => r.layer === 2 && r.bytesDone > sizes[0] && r.bytesDone < total);
    assert.ok(inA.length >= 3 && inB.length >= 3, `reports while reading each side: ${inA.length}, ${inB.length}`);
    assert.ok(reports.length <= 210, `thinned out for the wire: ${reports.length} reports`);
  });

  it('cached listings count as done at once: the second read is two reports and the end', async () => {
    const { left, right, leaf, sizes } = await plan();
    const reports: ChainProgress[] = [];
    await divergenceFilesOf(left, right, leaf, undefined, (p) => reports.push(p));
    assertWellFormed(reports, sizes[0] + sizes[1]);
    assert.deepEqual(
      reports.map((r) => [r.layer, r.bytesDone]),
      [
        [1, sizes[0]],
        [2, sizes[0] + sizes[1]],
        [2, sizes[0] + sizes[1]],
      ],
    );
  });

  it("a side whose blob is missing leaves the total: the bar still ends full at the bytes read", () => {
    const reports: ChainProgress[] = [];
    const p = chainProgress([1000, 500], (r) => reports.push(r));
    p.skip(0);
    p.layer(1)({ digest: 'b', phase: 'done', bytes: 500, total: 500, entries: 5 });
    p.finish();
    assertWellFormed(reports, 500);
    assert.deepEqual(reports[0], { bytesDone: 0, bytesTotal: 500, phase: 'reading', layer: 1, layers: 2 });
  });

  it("the service sends them as layerFilesProgress under the caller's requestId, before the answer", async () => {
    await rm(join(tmp, 'xdg'), { recursive: true, force: true });
    const { sizes } = await plan();
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
      const idA = (await service.openCache({ source: a })).cacheId;
      const idB = (await service.openCache({ source: b })).cacheId;
      const { divergences } = await service.diffCaches({ a: idA, b: idB });
      const answer = await service.divergenceFiles({ a: idA, b: idB, leaf: divergences[0].leaf, requestId: 'divergence-req-1' });
      log.push('answer');
      assert.deepEqual(answer.paths, ['app/big.txt']);
      assert.ok(events.length >= 6, `${events.length} events`);
      assert.ok(events.every((e) => e.requestId === 'divergence-req-1'));
      assertWellFormed(events, sizes[0] + sizes[1]);
      assert.equal(log.at(-1), 'answer', 'every report comes before the answer');
    } finally {
      await service.dispose();
    }
  });
});
