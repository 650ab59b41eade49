/**
 * Registry caches as sources, against a real distribution 2.8: every BuildKit v0.24 fixture form,
 * pushed, opens from the registry into exactly the view its local layout gives (records, graph, blob
 * digests, raw texts), fetching only the manifest and the config (the counting proxy lists every
 * request); `inspect --json` works the same through the CLI process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { CacheView } from '../../../shared/cache/view-types';
import { createService } from '../../../electron/engine/service';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const exec = promisify(execFile);
const BIN = join(REPO, 'bin', 'cachescope.mjs');
const FORMS = ['image-manifest-gzip', 'index-gzip', 'docker-list-gzip', 'mixed-gzip-zstd', 'uncompressed'];

/** The view without what says where it came from (source string, layout folder, blob location, orphans of a folder). */
function comparable(view: CacheView): unknown {
  const { source: _s, layout: _l, blobLocation: _b, orphans: _o, ...rest } = view;
  // Warnings name the config by where it was read from (a file, or host/repo@digest): compare the rest.
  return { ...rest, warnings: rest.warnings.map((w) => ({ code: w.code, message: w.message })) };
}

describe('registry caches open exactly like their local layouts', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let access: RegistryAccess;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-sources-rt-'));
    // The service uses the process's own blob cache: keep it out of the user's cache folder.
    process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'process-cache');
    registry = await startRegistry();
    proxy = await startProxy(registry);
    for (const form of FORMS) await pushFixture(registry, join(FIXTURES, `buildkit-v0.24-${form}`), `rt/${form}:latest`);
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  for (const form of FORMS) {
    it(`${form}: same records, graph, blob digests and texts; only the manifest and the config are fetched`, async () => {
      const dir = join(FIXTURES, `buildkit-v0.24-${form}`);
      const local = await openCacheSource(dir);
      proxy.clear();
      const remote = await openCacheSource(`${proxy.host}/rt/${form}:latest`, { registry: access });
      const requests = proxy.requests().map((r) => `${r.method} ${r.path.replace(/\?.*$/, '')} ${r.status}`);

      const [lv, rv] = [await viewOf(local), await viewOf(remote)];
      assert.deepEqual(comparable(rv), comparable(lv));
      assert.equal(rv.blobLocation, 'registry');
      assert.equal(lv.blobLocation, 'local');
      assert.equal(rv.layout, null);
      assert.deepEqual([...remote.model.descriptors.keys()].sort(), [...local.model.descriptors.keys()].sort());
      assert.deepEqual(remote.texts.manifest, local.texts.manifest);
      assert.deepEqual(remote.texts.config, local.texts.config);
      assert.deepEqual(remote.manifestDescriptor, local.manifestDescriptor);
      assert.equal(remote.manifestDescriptor?.digest, layoutManifest(dir).digest);
      assert.deepEqual(remote.registry, { reference: `${proxy.host}/rt/${form}:latest`, insecure: false });
      assert.equal(remote.blobs.kind, 'registry');

      // Lazy: the manifest, then the config blob; never a layer.
      const config = local.model.config.digest!;
      const blobRequests = requests.filter((r) => r.includes('/blobs/'));
      assert.deepEqual(blobRequests, [`GET /v2/rt/${form}/blobs/${config} 200`], requests.join('\n'));
      assert.deepEqual(
        requests.filter((r) => !r.includes('/blobs/') && r !== 'GET /v2/ 200'),
        [`GET /v2/rt/${form}/manifests/latest 200`],
        requests.join('\n'),
      );
      // And nothing landed in the blob cache.
      assert.deepEqual(await readdir(join(tmp, 'blob-cache')).catch(() => []), []);
    });
  }

  it('the app opens a registry reference as it opens a folder (the contract\'s openCache, as the open box sends it)', async () => {
    const service = createService({ startupSource: null, mode: 'browser', emit: () => {} });
    try {
      const dir = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');
      const remote = await service.openCache({ source: `${proxy.host}/rt/docker-list-gzip:latest` });
      const local = await service.openCache({ source: dir });
      assert.deepEqual(comparable(remote.view), comparable(local.view));
      assert.equal(remote.view.blobLocation, 'registry');
      assert.deepEqual(await service.getRawJson({ cacheId: remote.cacheId, what: 'config' }), await service.getRawJson({ cacheId: local.cacheId, what: 'config' }));
      const verify = await service.verifyCache({ cacheId: remote.cacheId });
      assert.equal(verify.ok, true);
      assert.equal(verify.checked, new Set(local.view.layers.map((l) => l.blob)).size + 1);
      assert.equal(readdirSync(join(tmp, 'process-cache', 'blobs', 'blobs', 'sha256')).length, verify.checked);
    } finally {
      await service.dispose();
    }
  });

  it('by digest too, and the CLI prints the same inspect --json as for the local layout', async () => {
    const dir = join(FIXTURES, 'buildkit-v0.24-index-gzip');
    const digest = layoutManifest(dir).digest;
    const env = { ...process.env, XDG_CACHE_HOME: join(tmp, 'xdg'), DOCKER_CONFIG: join(tmp, 'no-docker-config') };
    const run = async (source: string) => JSON.parse((await exec(process.execPath, [BIN, 'inspect', source, '--json'], { cwd: REPO, env })).stdout) as CacheView;
    proxy.clear();
    const remote = await run(`${proxy.host}/rt/index-gzip@${digest}`);
    const requests = proxy.requests().map((r) => `${r.method} ${r.path}`);
    const local = await run(dir);
    assert.deepEqual(comparable(remote), comparable(local));
    assert.equal(remote.source, `${proxy.host}/rt/index-gzip@${digest}`);
    assert.equal(remote.blobLocation, 'registry');
    assert.ok(requests.every((r) => !r.includes('/blobs/') || r.endsWith(local.config.digest!)), requests.join('\n'));
    // A registry cache is a source like any other: diff it against its local original (exit 0: same).
    await exec(process.execPath, [BIN, 'diff', `${proxy.host}/rt/index-gzip:latest`, dir], { cwd: REPO, env });
    // The text form says where the blobs are.
    const text = (await exec(process.execPath, [BIN, 'inspect', `type=registry,ref=${proxy.host}/rt/index-gzip:latest`], { cwd: REPO, env })).stdout;
    assert.match(text, /in registry/);
    assert.doesNotMatch(text, / present/);
  });
});
