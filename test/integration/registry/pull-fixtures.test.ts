/**
 * Pull: every real BuildKit v0.24 cache, pushed to a real registry (distribution 2.8 on loopback),
 * exported from the registry into a folder. The folder equals a local export of the same fixture;
 * each layer is seen `downloading` then `done`, and on a second pull `cached` (no blob request);
 * every blob in the target and in the blob cache hashes to its name.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { previewExport, runExport } from '../../../electron/engine/export/exporter';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { ExportOptions, ExportProgress } from '../../../shared/export/types';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import { distributionSources, manifestWithoutSources } from '../../helpers/registry/distribution-source';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { assertAllBlobsVerified, everyEventClock, layerDiffIds, statesSeen, taggedManifest } from './pull-helpers';

const NAMES = ['image-manifest-gzip', 'index-gzip', 'docker-list-gzip', 'estargz', 'mixed-gzip-zstd', 'uncompressed', 'mode-min'];

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;

before(async () => {
  registry = await startRegistry();
  proxy = await startProxy(registry);
  work = await mkdtemp(join(tmpdir(), 'cachescope-pull-'));
  for (const name of NAMES) await pushFixture(registry, join(FIXTURES, `buildkit-v0.24-${name}`), `pull/${name}:cache`);
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function exportWithEvents(opened: OpenedSource, dest: string, options: ExportOptions = {}) {
  const events: ExportProgress[] = [];
  const result = await runExport({ opened, dest, options, verifyMemo: null, clock: everyEventClock(), onProgress: (p) => events.push(p) });
  return { result, events, seen: statesSeen(events), last: events.at(-1)! };
}

const blobGets = () => proxy.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));

describe('pull each BuildKit v0.24 cache from a registry', () => {
  for (const name of NAMES) {
    it(`${name}: the folder equals a local export; downloading → done, then cached on a second pull`, async () => {
      const dir = await mkdtemp(join(work, `${name}-`));
      const cacheRoot = join(dir, 'blob-cache');
      const access: RegistryAccess = createRegistryAccess({ blobCache: { root: cacheRoot } });
      try {
        const local = await openCacheSource(join(FIXTURES, `buildkit-v0.24-${name}`));
        const localExport = await runExport({ opened: local, dest: join(dir, 'local'), options: {}, verifyMemo: null });

        proxy.clear();
        const opened = await openCacheSource(`${proxy.host}/pull/${name}:cache`, { registry: access });
        assert.equal(opened.blobs.kind, 'registry');
        assert.equal(blobGets().length, opened.model.config.format === 'v0' ? 1 : 0, 'opening fetched only the manifest and the config');

        const first = await exportWithEvents(opened, join(dir, 'pulled'));
        // The same cache manifest as a local export, plus the source repository on every layer (as BuildKit writes it).
        const pulledManifest = first.result.descriptor!.digest;
        assert.deepEqual(await manifestWithoutSources(join(dir, 'pulled'), pulledManifest), await manifestWithoutSources(join(dir, 'local'), localExport.descriptor!.digest), 'same cache manifest as a local export');
        for (const a of await distributionSources(join(dir, 'pulled'), pulledManifest)) assert.deepEqual(a, { [`containerd.io/distribution.source.127.0.0.1`]: `pull/${name}` });
        assert.equal(first.result.config, localExport.config, 'same cache config as a local export');
        assert.equal((await taggedManifest(join(dir, 'pulled')))?.digest, pulledManifest);
        assert.equal((await taggedManifest(join(dir, 'pulled')))?.mediaType, (await taggedManifest(join(dir, 'local')))?.mediaType);
        const others = (blobs: string[], manifest: string) => blobs.filter((b) => b !== manifest);
        assert.deepEqual(others(await assertAllBlobsVerified(join(dir, 'pulled')), pulledManifest), others(await assertAllBlobsVerified(join(dir, 'local')), localExport.descriptor!.digest), 'the same blobs, each its digest');
        assert.ok(first.last.layers.length > 0);
        for (const l of first.last.layers) {
          const states = first.seen.get(l.blob)!;
          assert.equal(states[0], 'queued');
          assert.ok(states.includes('downloading'), `${l.blob}: ${states.join(' → ')} has no downloading`);
          assert.equal(states.at(-1), 'done', `${l.blob}: ${states.join(' → ')}`);
          assert.ok(!states.includes('cached'));
          assert.equal(l.origin, 'downloaded');
        }
        // Exactly the layer blobs were downloaded, once each.
        const layerDigests = new Set(first.last.layers.map((l) => l.blob));
        const downloaded = blobGets().filter((r) => [...layerDigests].some((d) => r.path.endsWith(d)));
        assert.equal(downloaded.length, layerDigests.size);

        proxy.clear();
        const second = await exportWithEvents(opened, join(dir, 'pulled-again'));
        assert.equal(second.result.descriptor!.digest, pulledManifest);
        for (const l of second.last.layers) {
          const states = second.seen.get(l.blob)!;
          assert.ok(states.includes('cached'), `${l.blob}: ${states.join(' → ')} has no cached`);
          assert.ok(!states.includes('downloading'));
          assert.equal(states.at(-1), 'done');
          assert.equal(l.origin, 'cached');
        }
        assert.equal(blobGets().length, 0, 'a second pull fetches no blob');
        await assertAllBlobsVerified(join(dir, 'pulled-again'));
        const cached = await assertAllBlobsVerified(cacheRoot);
        assert.deepEqual(new Set(cached), layerDigests, 'the blob cache holds the layers, each its digest');
        assert.deepEqual((await readdir(join(cacheRoot, 'ingest')).catch(() => [])).filter((n) => n.endsWith('.partial')), []);
      } finally {
        access.close();
      }
    });
  }

  it('a preview of a pull checks presence with HEAD and downloads nothing', async () => {
    const dir = await mkdtemp(join(work, 'preview-'));
    const access = createRegistryAccess({ blobCache: { root: join(dir, 'blob-cache') } });
    try {
      const opened = await openCacheSource(`${proxy.host}/pull/image-manifest-gzip:cache`, { registry: access });
      proxy.clear();
      const preview = await previewExport(opened, { compression: 'zstd', 'force-compression': true });
      assert.equal(preview.error, null);
      assert.ok(preview.layers.length > 0 && preview.layers.every((l) => l.present && l.convert));
      assert.equal(blobGets().length, 0);
      assert.ok(proxy.requests().every((r) => r.method === 'HEAD' || r.path === '/v2/'), proxy.requests().map((r) => `${r.method} ${r.path}`).join('\n'));
    } finally {
      access.close();
    }
  });

  it('compression=zstd: the pulled layers are converted and verified, with the local conversion diffIDs', async () => {
    const dir = await mkdtemp(join(work, 'zstd-'));
    const access = createRegistryAccess({ blobCache: { root: join(dir, 'blob-cache') } });
    const options: ExportOptions = { compression: 'zstd', 'force-compression': true };
    try {
      const local = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
      const localExport = await runExport({ opened: local, dest: join(dir, 'local'), options, verifyMemo: null });
      const opened = await openCacheSource(`${proxy.host}/pull/image-manifest-gzip:cache`, { registry: access });
      const pulled = await exportWithEvents(opened, join(dir, 'pulled'), options);
      assert.ok(pulled.result.counts.converted > 0);
      assert.equal(pulled.result.counts.converted, localExport.counts.converted);
      const diffIds = await layerDiffIds(join(dir, 'pulled'));
      assert.ok(diffIds.length > 0 && diffIds.every((d) => d.startsWith('sha256:')));
      assert.deepEqual(diffIds, await layerDiffIds(join(dir, 'local')));
      for (const l of pulled.last.layers) {
        assert.ok(pulled.seen.get(l.blob)!.includes('downloading'));
        assert.ok(pulled.seen.get(l.blob)!.includes('converting') || pulled.seen.get(l.blob)!.includes('writing'));
        assert.equal(l.state, 'done');
        assert.notEqual(l.target, l.blob);
      }
      await assertAllBlobsVerified(join(dir, 'pulled'));
      await assertAllBlobsVerified(join(dir, 'blob-cache'));
    } finally {
      access.close();
    }
  });
});
