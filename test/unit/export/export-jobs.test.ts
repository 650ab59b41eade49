import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createExportHandlers } from '../../../electron/engine/export/export-jobs';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import type { EventName, Events } from '../../../shared/contract/events';
import { CacheError } from '../../../shared/contract/errors';
import { assertBlobsComplete, exists, generate } from './export-helpers';

let tmp: string;
let source: OpenedSource;
let big: OpenedSource;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-jobs-'));
  await generate(join(tmp, 'src'));
  source = await openCacheSource(join(tmp, 'src'));
  await generate(join(tmp, 'big'), { seed: 21, layerBytes: 2_000_000, stages: 1, layersPerStage: 4 });
  big = await openCacheSource(join(tmp, 'big'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function harness() {
  const events: { name: EventName; payload: Events[EventName] }[] = [];
  // Waits driven by the events themselves, not by a clock.
  const waiters: { until: () => boolean; resolve: () => void }[] = [];
  const waitFor = (until: () => boolean) => new Promise<void>((resolve) => (until() ? resolve() : waiters.push({ until, resolve })));
  const caches = new Map([
    ['small', source],
    ['big', big],
  ]);
  const handlers = createExportHandlers({
    opened: (id) => {
      const o = caches.get(id);
      if (!o) throw new CacheError('not-found', `no opened cache with id ${id}`);
      return o;
    },
    emit: (name, payload) => {
      events.push({ name, payload });
      for (const w of waiters.splice(0)) if (w.until()) w.resolve();
      else waiters.push(w);
    },
  });
  return { handlers, events, waitFor };
}

describe('export jobs (contract handlers)', () => {
  it('startExport answers with a job id at once; progress and the finish arrive as events', async () => {
    const { handlers, events } = harness();
    const dest = join(tmp, 'job-1');
    const { jobId } = await handlers.startExport({ cacheId: 'small', dest, options: { compression: 'zstd', 'force-compression': true } });
    assert.equal(events.filter((e) => e.name === 'exportFinished').length, 0, 'startExport answers before the export ends');
    assert.match(jobId, /^[0-9a-f-]{36}$/);
    await handlers.settled(jobId);
    const finished = events.filter((e) => e.name === 'exportFinished');
    assert.equal(finished.length, 1);
    const f = finished[0].payload as Events['exportFinished'];
    assert.equal(f.jobId, jobId);
    assert.ok(f.ok);
    const progress = events.filter((e) => e.name === 'exportProgress').map((e) => e.payload as Events['exportProgress']);
    assert.ok(progress.length > 0);
    assert.ok(progress.every((p) => p.jobId === jobId));
    assert.equal(events.at(-1)!.name, 'exportFinished', 'the finish is the last event');
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, f.result.descriptor!.digest);
  });

  it('getExportJob gives a page that lost its event stream the latest progress and the outcome', async () => {
    const { handlers, events } = harness();
    const { jobId } = await handlers.startExport({ cacheId: 'small', dest: join(tmp, 'job-state'), options: {} });
    const early = await handlers.getExportJob({ jobId });
    assert.equal(early.finished, null, 'still running right after the start');
    await handlers.settled(jobId);
    const state = await handlers.getExportJob({ jobId });
    const progress = events.filter((e) => e.name === 'exportProgress');
    assert.deepEqual(state.progress, progress.at(-1)!.payload);
    assert.deepEqual(state.finished, events.at(-1)!.payload);
    assert.equal(state.finished?.ok, true);
    await assert.rejects(handlers.getExportJob({ jobId: 'no-such-job' }), (err: CacheError) => err.code === 'not-found' && /no export job with id no-such-job/.test(err.message));
  });

  it('cancelExport aborts the job: exportFinished says cancelled and no index.json appears', async () => {
    const { handlers, events, waitFor } = harness();
    const dest = join(tmp, 'job-2');
    const { jobId } = await handlers.startExport({ cacheId: 'big', dest, options: { compression: 'zstd', 'force-compression': true, 'compression-level': 15 } });
    // Wait for real work to be under way before cancelling.
    await waitFor(() => events.some((e) => e.name === 'exportProgress' && (e.payload as Events['exportProgress']).bytesDone > 0));
    assert.deepEqual(await handlers.cancelExport({ jobId }), { cancelled: true });
    await handlers.settled(jobId);
    const f = events.find((e) => e.name === 'exportFinished')!.payload as Events['exportFinished'];
    assert.equal(f.ok, false);
    assert.equal(!f.ok && f.error.code, 'cancelled');
    assert.equal(await exists(join(dest, 'index.json')), false);
    await assertBlobsComplete(dest);
    assert.deepEqual(await handlers.cancelExport({ jobId }), { cancelled: false }, 'a finished job cannot be cancelled');
  });

  it('cancelAll aborts every running job and waits for them: each ends cancelled, index.json unchanged', async () => {
    const { handlers, events, waitFor } = harness();
    const dests = [join(tmp, 'job-3a'), join(tmp, 'job-3b')];
    // Each destination already holds a tagged cache, whose index.json must survive the cancel.
    const before: string[] = [];
    for (const dest of dests) {
      const { jobId } = await handlers.startExport({ cacheId: 'small', dest, options: { tag: 'old' } });
      await handlers.settled(jobId);
      before.push(await readFile(join(dest, 'index.json'), 'utf8'));
    }
    const slow = { compression: 'zstd', 'force-compression': true, 'compression-level': 15 } as const;
    const jobs = [await handlers.startExport({ cacheId: 'big', dest: dests[0], options: slow }), await handlers.startExport({ cacheId: 'big', dest: dests[1], options: slow })];
    // Wait until both are converting (bytes done), so the cancel stops real work.
    const busy = (id: string) => events.some((e) => e.name === 'exportProgress' && (e.payload as Events['exportProgress']).jobId === id && (e.payload as Events['exportProgress']).bytesDone > 0);
    await waitFor(() => jobs.every((j) => busy(j.jobId)));
    await handlers.cancelAll();
    // cancelAll resolved only after every job had finished, and each finished as cancelled.
    const finished = new Map(events.filter((e) => e.name === 'exportFinished').map((e) => [(e.payload as Events['exportFinished']).jobId, e.payload as Events['exportFinished']]));
    for (const [i, { jobId }] of jobs.entries()) {
      const f = finished.get(jobId);
      assert.ok(f, `job ${i} had not finished when cancelAll resolved`);
      assert.equal(f.ok, false, `job ${i} was not aborted`);
      assert.equal(!f.ok && f.error.code, 'cancelled');
      assert.equal(await readFile(join(dests[i], 'index.json'), 'utf8'), before[i], `job ${i} changed index.json`);
      await assertBlobsComplete(dests[i]);
      assert.deepEqual(await handlers.cancelExport({ jobId }), { cancelled: false }, 'no job is left running');
    }
  });

  it('bad options are refused by startExport itself; previewExport reports them as its error', async () => {
    const { handlers } = harness();
    await assert.rejects(handlers.startExport({ cacheId: 'small', dest: join(tmp, 'job-4'), options: { 'oci-mediatypes': false, 'image-manifest': true } }), /OCI mediatypes are required/);
    await assert.rejects(handlers.startExport({ cacheId: 'small', dest: join(tmp, 'job-4'), options: { tag: 'a/b' } }), /invalid tag/);
    assert.equal(await stat(join(tmp, 'job-4')).catch(() => null), null);
    const p = await handlers.previewExport({ cacheId: 'small', options: { 'oci-mediatypes': false, 'image-manifest': true } });
    assert.equal(p.error, 'invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format');
  });

  it('previewExport says what would be converted, and that compression alone converts nothing', async () => {
    const { handlers } = harness();
    const p = await handlers.previewExport({ cacheId: 'small', options: { compression: 'zstd', 'force-compression': true, 'image-manifest': false } });
    assert.equal(p.error, null);
    assert.equal(p.convertCount, new Set(source.model.norm.layers.map((l) => l.blob)).size);
    assert.equal(p.layers.length, source.model.norm.layers.length);
    assert.ok(p.layers.every((l) => l.convert && l.present && l.targetMediaType === 'application/vnd.oci.image.layer.v1.tar+zstd'));
    assert.equal(p.manifestMediaType, 'application/vnd.oci.image.index.v1+json');
    const kept = await handlers.previewExport({ cacheId: 'small', options: { compression: 'zstd' } });
    assert.equal(kept.convertCount, 0, 'compression without force-compression converts nothing');
  });
});
