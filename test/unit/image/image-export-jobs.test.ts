/**
 * The image export requests behind the contract (previewImageExport, startImageExport and its events)
 * on a real cache on disk, and their payload validation.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createImageExportHandlers } from '../../../electron/engine/export/image-export-jobs';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { validateParams } from '../../../shared/contract/validate';
import type { EventName, Events } from '../../../shared/contract/index';
import { writeBusyboxCache } from '../../integration/image/busybox-cache';
import type { BusyboxCache } from '../../integration/image/busybox-cache';

let tmp: string;
let bb: BusyboxCache;
let opened: OpenedSource;
const events: { name: EventName; payload: unknown }[] = [];
let handlers: ReturnType<typeof createImageExportHandlers>;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-jobs-'));
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg');
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  opened = await openCacheSource(bb.dir);
  handlers = createImageExportHandlers({ opened: (id) => (id === 'c1' ? opened : (() => { throw new Error(`no cache ${id}`); })()), emit: (name, payload) => events.push({ name, payload }), progressEveryMs: 0 });
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('previewImageExport', () => {
  it('shows the chain, the records whose result it is, names, config source, platform and destination', async () => {
    const p = await handlers.previewImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, names: 'app,registry.example/team/app:2', dest: `${join(tmp, 'img')}:v1`, options: { compression: 'zstd', 'force-compression': true } });
    assert.equal(p.error, null);
    assert.deepEqual(p.chain.map((l) => [l.index, l.entry, l.diffID, l.convertTo]), bb.diffIDs.map((d, i) => [i, i, d, 'zstd']));
    assert.deepEqual(p.targets, [bb.resultRecord]);
    assert.deepEqual(p.names, ['docker.io/library/app:latest', 'registry.example/team/app:2']);
    assert.match(p.configOrigin, /^empty \(/);
    assert.deepEqual(p.destination, { kind: 'folder', label: `${join(tmp, 'img')}:v1` });
    assert.equal(p.layerNote, 'layers not already zstd are converted to zstd (level 3)');
  });

  it('says why an export cannot be made: a bad name, a platform given twice, a config that is not an image', async () => {
    const bad = await handlers.previewImageExport({ cacheId: 'c1', selection: { layer: 1 }, names: 'Bad' });
    assert.match(bad.error!, /repository name \(library\/Bad\) must be lowercase/);
    assert.equal(bad.chain.length, 2, 'the chain is still shown');
    // Given twice: the request's platform and the config's, and they differ.
    const amd64Config = join(tmp, 'amd64-config.json');
    await writeFile(amd64Config, JSON.stringify({ os: 'linux', architecture: 'amd64', config: { Cmd: ['/app/run.sh'] } }));
    const twice = await handlers.previewImageExport({ cacheId: 'c1', selection: { layer: 1 }, platform: 'linux/arm64', config: { kind: 'file', value: amd64Config } });
    assert.match(twice.error!, /platform given twice: --platform linux\/arm64 but the file .*amd64-config\.json config says linux\/amd64/);
    assert.equal(twice.chain.length, 2, 'the chain is still shown');
    // The same platform said twice is no conflict.
    const agreeing = await handlers.previewImageExport({ cacheId: 'c1', selection: { layer: 1 }, platform: 'linux/x86_64', config: { kind: 'file', value: amd64Config } });
    assert.equal(agreeing.error, null);
    assert.equal(agreeing.platform, 'linux/amd64');
    const notImage = await handlers.previewImageExport({ cacheId: 'c1', selection: { layer: 1 }, config: { kind: 'image', value: `${bb.dir}:latest` } });
    assert.match(notImage.error!, /not an image config/);
    const none = await handlers.previewImageExport({ cacheId: 'c1', selection: { record: 0 } });
    assert.match(none.error!, /record 0 has no result/);
  });
});

describe('startImageExport', () => {
  it('answers with a job id, sends per-layer progress and the exporter\'s lines, then the response keys', async () => {
    events.length = 0;
    const dest = join(tmp, 'img');
    const { jobId } = await handlers.startImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, dest: `${dest}:v1`, names: 'app', inlineCache: true });
    await handlers.settled(jobId);
    const progress = events.filter((e) => e.name === 'imageExportProgress').map((e) => e.payload as Events['imageExportProgress']);
    const last = progress.at(-1)!;
    assert.deepEqual(last.layers.map((l) => l.state), ['done', 'done', 'done']);
    const finished = events.at(-1)!;
    assert.equal(finished.name, 'imageExportFinished');
    const f = finished.payload as Events['imageExportFinished'];
    assert.ok(f.ok, JSON.stringify(f));
    assert.deepEqual(last.lines, ['exporting layers', `writing image ${f.result['containerimage.config.digest']}`, 'naming to docker.io/library/app:latest']);
    assert.equal(f.result['image.name'], 'docker.io/library/app:latest');
    assert.equal(f.result.openSource, `${dest}:v1`);
    assert.equal(f.result.inlineRecords, 5);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, f.result['containerimage.digest']);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].seq > progress[i - 1].seq);
  });

  it('refuses a bad request at once, and reports a failure as a finished event', async () => {
    await assert.rejects(handlers.startImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, dest: 'docker-archive:' }), /docker-archive: needs a file name/);
    await assert.rejects(handlers.startImageExport({ cacheId: 'c1', selection: { record: 0 }, dest: join(tmp, 'x') }), /has no result/);
    events.length = 0;
    const { jobId } = await handlers.startImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, dest: join(tmp, 'y'), config: { kind: 'file', value: join(tmp, 'no-such.json') } });
    await handlers.settled(jobId);
    const f = events.at(-1)!.payload as Events['imageExportFinished'];
    assert.equal(f.ok, false);
    assert.match(!f.ok ? f.error.message : '', /--config .*no-such\.json: ENOENT/);
    // A platform given twice (the request's and a config's that differs) fails the job, writing no image.
    await writeFile(join(tmp, 'amd64.json'), JSON.stringify({ os: 'linux', architecture: 'amd64' }));
    events.length = 0;
    const twice = await handlers.startImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, dest: `${join(tmp, 'twice')}:t`, platform: 'linux/arm64', config: { kind: 'file', value: join(tmp, 'amd64.json') } });
    await handlers.settled(twice.jobId);
    const g = events.at(-1)!.payload as Events['imageExportFinished'];
    assert.equal(g.ok, false);
    assert.match(!g.ok ? g.error.message : '', /platform given twice: --platform linux\/arm64 but the file .*amd64\.json config says linux\/amd64/);
    await assert.rejects(readFile(join(tmp, 'twice', 'index.json')), { code: 'ENOENT' });
  });

  it('getImageExportJob gives a page that lost its event stream the latest progress and the outcome', async () => {
    events.length = 0;
    const { jobId } = await handlers.startImageExport({ cacheId: 'c1', selection: { record: bb.resultRecord }, dest: `${join(tmp, 'caught-up')}:v1` });
    const early = await handlers.getImageExportJob({ jobId });
    assert.equal(early.finished, null);
    await handlers.settled(jobId);
    const state = await handlers.getImageExportJob({ jobId });
    const sent = events.filter((e) => e.name === 'imageExportProgress').map((e) => e.payload as Events['imageExportProgress']);
    assert.deepEqual(state.progress, sent.at(-1));
    assert.deepEqual(state.finished, events.find((e) => e.name === 'imageExportFinished')!.payload);
    assert.ok(state.finished?.ok);
    await assert.rejects(handlers.getImageExportJob({ jobId: 'no-such-job' }), /no image export job with id no-such-job/);
  });
});

describe('validation of the image export requests', () => {
  it('takes exactly one of record, layer and chain; a dest to start; only the image layer options', () => {
    assert.deepEqual(validateParams('previewImageExport', { cacheId: 'c', selection: { chain: `sha256:${'a'.repeat(64)}` } }), { cacheId: 'c', selection: { chain: `sha256:${'a'.repeat(64)}` } });
    assert.throws(() => validateParams('previewImageExport', { cacheId: 'c', selection: { record: 1, layer: 2 } }), /exactly one of "record", "layer" and "chain"/);
    assert.throws(() => validateParams('previewImageExport', { cacheId: 'c', selection: { chain: 'abc' } }), /must be a sha256 digest/);
    assert.throws(() => validateParams('startImageExport', { cacheId: 'c', selection: { record: 1 } }), /"dest" must be a non-empty string/);
    assert.throws(() => validateParams('startImageExport', { cacheId: 'c', selection: { record: 1 }, dest: '/x', options: { tag: 'v' } }), /tag does not apply to an image export/);
    assert.throws(() => validateParams('startImageExport', { cacheId: 'c', selection: { record: 1 }, dest: '/x', config: { kind: 'url', value: 'x' } }), /"config.kind" must be file or image/);
    assert.throws(() => validateParams('startImageExport', { cacheId: 'c', selection: { record: 1 }, dest: '/x', extra: 1 }), /unknown field "extra"/);
  });
});
