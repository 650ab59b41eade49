/**
 * SourceBlobs of opened sources: a local layout hands out its own files; a registry source downloads
 * into the blob cache only when asked, once for any number of concurrent asks, and later asks are
 * served from the cache without a request. Real distribution 2.8 behind the counting proxy.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { SourceBlobProgress } from '../../../electron/engine/sources/source-blobs';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const LAYOUT = join(FIXTURES, 'buildkit-v0.24-index-gzip');

describe('blobs of an opened source', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let access: RegistryAccess;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-sources-blobs-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    await pushFixture(registry, LAYOUT, 'team/cache:main');
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a local layout hands out its own files', async () => {
    const opened = await openCacheSource(LAYOUT);
    const layer = opened.model.norm.layers[0].blob;
    const size = opened.model.descriptors.get(layer)!.size;
    assert.equal(opened.blobs.kind, 'local');
    assert.equal(await opened.blobs.has(layer), true);
    assert.equal(await opened.blobs.has(`sha256:${'0'.repeat(64)}`), false);
    const file = await opened.blobs.get({ digest: layer, size });
    assert.deepEqual([file.path, file.outcome, file.size], [join(LAYOUT, 'blobs', 'sha256', layer.slice(7)), 'local', size]);
    await file.release();
    await assert.rejects(opened.blobs.get({ digest: `sha256:${'0'.repeat(64)}`, size: 1 }), (e: unknown) => e instanceof CacheError && e.code === 'missing-blob');
  });

  it('a registry source downloads once for concurrent asks, then serves from the blob cache', async () => {
    const opened = await openCacheSource(`${proxy.host}/team/cache:main`, { registry: access });
    assert.equal(opened.blobs.kind, 'registry');
    assert.equal(opened.blobs.location, `${proxy.host}/team/cache`);
    const layer = opened.model.norm.layers[0].blob;
    const size = opened.model.descriptors.get(layer)!.size;
    proxy.clear();
    const states: SourceBlobProgress['state'][] = [];
    const files = await Promise.all([1, 2, 3].map(() => opened.blobs.get({ digest: layer, size }, { onProgress: (p) => states.push(p.state) })));
    const gets = proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(layer));
    assert.equal(gets.length, 1, 'one download for three asks');
    assert.deepEqual(new Set(files.map((f) => f.outcome)), new Set(['downloaded']));
    assert.ok(states.includes('done'));
    assert.deepEqual(await readFile(files[0].path), await readFile(join(LAYOUT, 'blobs', 'sha256', layer.slice(7))));
    for (const f of files) await f.release();

    proxy.clear();
    const again = await opened.blobs.get({ digest: layer, size });
    assert.equal(again.outcome, 'cached');
    await again.release();
    assert.deepEqual(proxy.requests().filter((r) => r.path.includes('/blobs/')), []);

    // has() asks the registry, with a HEAD and no body.
    assert.equal(await opened.blobs.has(layer), true);
    assert.equal(await opened.blobs.has(`sha256:${'0'.repeat(64)}`), false);
    assert.deepEqual(
      proxy.requests().filter((r) => r.path.includes('/blobs/')).map((r) => `${r.method} ${r.status}`),
      ['HEAD 200', 'HEAD 404'],
    );
    assert.equal(layoutManifest(LAYOUT).digest, opened.manifestDescriptor?.digest);
  });
});
