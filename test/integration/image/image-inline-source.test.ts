/**
 * Image export from an inline-cache source (an image whose config carries `moby.buildkit.cache.v0`):
 * without --config the new image starts from that image's own config (Env, Cmd, WorkingDir, User,
 * Labels, history kept), its old inline cache is dropped unless --inline-cache writes a new one, and
 * a --platform that the source's config contradicts is a platform given twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportImage } from '../../../electron/engine/export/image-export';
import type { ImageExportResult } from '../../../electron/engine/export/image-export';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

const INLINE_KEY = 'moby.buildkit.cache.v0';
const SOURCE_CONFIG = {
  os: 'linux',
  architecture: 'arm64',
  config: { Env: ['PATH=/bin', 'GREETING=hello'], Cmd: ['/app/run.sh'], Entrypoint: ['/bin/busybox', 'sh'], WorkingDir: '/app', User: '1000:1000', Labels: { 'org.example.stage': 'build' } },
  history: [{ created: '2025-12-31T00:00:00Z', created_by: 'ADD busybox /bin/busybox' }],
};

let tmp: string;
let bb: BusyboxCache;
/** The busybox result exported once with --inline-cache and SOURCE_CONFIG: an inline-cache source. */
let source: OpenedSource;
let sourceImage: ImageExportResult;
let sourceConfig: Record<string, unknown>;

async function configOf(dir: string, result: ImageExportResult): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, 'blobs', 'sha256', result['containerimage.config.digest'].slice(7)), 'utf8')) as Record<string, unknown>;
}

/** The record of `opened` whose digest is the busybox result's. */
function resultRecord(opened: OpenedSource, digest: string): number {
  const i = opened.model.norm.records.findIndex((r) => r.digest === digest);
  assert.ok(i >= 0, `record ${digest} is in ${opened.source}`);
  return i;
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-inline-src-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
  const cfg = join(tmp, 'config.json');
  await writeFile(cfg, JSON.stringify(SOURCE_CONFIG));
  const first = await openCacheSource(bb.dir);
  sourceImage = await exportImage(first, {
    selection: { kind: 'record', index: bb.resultRecord },
    destination: { kind: 'folder', dir: join(tmp, 'src-img'), tag: 'v1' },
    configFile: cfg,
    inlineCache: true,
    diffIDMemo: null,
  });
  sourceConfig = await configOf(join(tmp, 'src-img'), sourceImage);
  assert.equal(typeof sourceConfig[INLINE_KEY], 'string');
  source = await openCacheSource(`${join(tmp, 'src-img')}:v1`);
  assert.equal(source.model.variant, 'inline');
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('image export from an inline-cache source', () => {
  it('starts from the source image\'s config: Env, Cmd, Entrypoint, WorkingDir, User, Labels, platform and history carried', async () => {
    const digest = (await openCacheSource(bb.dir)).model.norm.records[bb.resultRecord].digest;
    const dest = join(tmp, 'from-inline');
    const r = await exportImage(source, { selection: { kind: 'record', index: resultRecord(source, digest) }, destination: { kind: 'folder', dir: dest, tag: 't' }, diffIDMemo: null });
    assert.equal(r.configOrigin, 'inline-cache source');
    assert.deepEqual(r.diffIDs, bb.diffIDs);
    const cfg = await configOf(dest, r);
    assert.deepEqual(cfg.config, SOURCE_CONFIG.config);
    assert.equal(cfg.os, 'linux');
    assert.equal(cfg.architecture, 'arm64');
    assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: bb.diffIDs });
    assert.deepEqual(cfg.history, sourceConfig.history);
    assert.equal(cfg.created, sourceConfig.created);
    // The source's inline cache described the source image: without --inline-cache none is written.
    assert.equal(cfg[INLINE_KEY], undefined);
    assert.equal(r.inlineRecords, 0);
    // Nothing else changed: the source's config, its inline cache taken out.
    const { [INLINE_KEY]: dropped, ...rest } = sourceConfig;
    assert.equal(typeof dropped, 'string');
    assert.deepEqual(cfg, rest);
  });

  it('with --inline-cache writes a new inline cache of the same subgraph, keeping the source\'s config', async () => {
    const digest = (await openCacheSource(bb.dir)).model.norm.records[bb.resultRecord].digest;
    const dest = join(tmp, 'from-inline-ic');
    const r = await exportImage(source, { selection: { kind: 'record', index: resultRecord(source, digest) }, destination: { kind: 'folder', dir: dest, tag: 't' }, inlineCache: true, diffIDMemo: null });
    assert.equal(r.configOrigin, 'inline-cache source');
    assert.equal(r.inlineRecords, 5);
    const cfg = await configOf(dest, r);
    assert.deepEqual(cfg.config, SOURCE_CONFIG.config);
    // Same records, same layers: the inline cache reads back as the source's.
    assert.equal(r['containerimage.config.digest'], sourceImage['containerimage.config.digest']);
  });

  it('a --platform that the source image\'s config contradicts is a platform given twice', async () => {
    await assert.rejects(
      exportImage(source, { selection: { kind: 'layer', index: 0 }, destination: { kind: 'folder', dir: join(tmp, 'never'), tag: 't' }, platform: { os: 'linux', architecture: 'amd64' }, diffIDMemo: null }),
      /platform given twice: --platform linux\/amd64 but the inline-cache source config says linux\/arm64/,
    );
    const same = await exportImage(source, { selection: { kind: 'layer', index: 0 }, destination: { kind: 'folder', dir: join(tmp, 'same-platform'), tag: 't' }, platform: { os: 'linux', architecture: 'arm64' }, diffIDMemo: null });
    assert.equal(same.configOrigin, 'inline-cache source');
  });
});
