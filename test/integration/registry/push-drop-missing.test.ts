/**
 * drop-missing to a registry, through the CLI against a real distribution 2.8: a local cache with one
 * layer blob gone is refused with BuildKit's `missing blob <digest>` and nothing reaches the registry
 * (no upload, no manifest); with `--opt drop-missing=true` the push succeeds, and the pushed cache lacks
 * exactly the layer entries the preview drops (the incomplete chains), never the missing blob.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheView } from '../../../shared/cache/view-types';
import { previewExport } from '../../../electron/engine/export/exporter';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Layer entries (those `keep` allows) as chains of blobs, each its parents' blobs then its own, sorted. */
function entriesOf(layers: CacheView['layers'], keep: (l: CacheView['layers'][number]) => boolean = () => true): string[] {
  const chain = (i: number): string => (layers[i].parent === -1 ? layers[i].blob : `${chain(layers[i].parent)} > ${layers[i].blob}`);
  return layers.filter(keep).map((l) => chain(l.index)).sort();
}

describe('drop-missing to a registry', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let holey: string;
  let gone: string;
  let env: NodeJS.ProcessEnv;
  let access: RegistryAccess;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-drop-missing-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
    holey = join(tmp, 'holey');
    await generateCache(holey, { seed: 'push-drop-missing', stages: 2, layersPerStage: 3, layerBytes: 64 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const view = await viewOf(await openCacheSource(holey));
    // A blob in the middle of a chain: the entries on it and above it are incomplete, the rest is not.
    const middle = view.layers.find((l) => l.parent !== -1 && view.layers.some((c) => c.parent === l.index) && view.layers.filter((x) => x.blob === l.blob).length === 1);
    assert.ok(middle, 'a layer in the middle of a chain');
    gone = middle.blob;
    await unlink(join(holey, 'blobs', 'sha256', gone.slice(7)));
    const dockerConfig = join(tmp, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), '{"auths":{}}');
    env = { PATH: process.env.PATH, HOME: join(tmp, 'home'), DOCKER_CONFIG: dockerConfig, CACHESCOPE_CACHE_DIR: join(tmp, 'cli-cache'), XDG_CACHE_HOME: join(tmp, 'xdg'), CACHESCOPE_CLI: 'source' };
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('without drop-missing: refused with BuildKit\'s "missing blob <digest>", nothing pushed', async () => {
    proxy.clear();
    const r = await runCli(['export', holey, `${proxy.host}/holes/cache:t`], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`missing blob ${gone}`), r.stderr);
    const writes = proxy.requests().filter((q) => q.method !== 'GET' && q.method !== 'HEAD');
    assert.deepEqual(writes.map((q) => `${q.method} ${q.path}`), [], 'no upload and no manifest');
    const client = new RegistryClient({ env: {} });
    try {
      assert.equal(await client.headManifest(`${proxy.host}/holes/cache:t`), null);
    } finally {
      client.close();
    }
  });

  it('with --opt drop-missing=true: pushed, lacking exactly the dropped entries', async () => {
    const src = await openCacheSource(holey);
    const all = (await viewOf(src)).layers;
    const preview = await previewExport(src, { 'drop-missing': true });
    assert.deepEqual(preview.missingBlobs, [gone]);
    const dropped = new Set(preview.layers.filter((l) => l.dropped !== null).map((l) => l.index));
    assert.ok(dropped.size > 0 && dropped.size < all.length, `some but not all entries dropped: ${dropped.size} of ${all.length}`);
    proxy.clear();
    const r = await runCli(['export', holey, `${proxy.host}/holes/cache:t`, '--opt', 'drop-missing=true'], env);
    assert.equal(r.code, 0, r.stderr);
    const pushed = await viewOf(await openCacheSource(`${proxy.host}/holes/cache:t`, { registry: access }));
    assert.deepEqual(entriesOf(pushed.layers), entriesOf(all, (l) => !dropped.has(l.index)));
    assert.ok(!pushed.layers.some((l) => l.blob === gone));
    assert.ok(!proxy.requests().some((q) => q.path.includes(gone.slice(7))), 'the missing blob is never asked about');
  });
});
