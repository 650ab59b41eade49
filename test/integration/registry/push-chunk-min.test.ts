/**
 * `OCI-Chunk-Min-Length`: a registry (the strict proxy in front of a real distribution 2.8) announces
 * 12 MiB on every upload start and refuses smaller PATCH bodies. An export with the default 8 MiB
 * chunks goes through: every PATCH the proxy sees carries exactly 12 MiB, the last bytes go with the
 * final PUT, and every blob lands intact. The refusal itself is shown first, so a client that ignored
 * the header would fail here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { DEFAULT_CHUNK_SIZE } from '../../../electron/engine/registry/uploads';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { imitateRegistry, layoutManifest, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, ProxyRequest, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;
const MIN = 12 * MiB;
const show = (reqs: ProxyRequest[]) => reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn} ${q.contentRange ?? ''}`).join('\n');
const sessionOf = (path: string) => path.replace(/\?.*/, '');

describe('OCI-Chunk-Min-Length', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let layout: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-chunk-min-'));
    registry = await startRegistry();
    proxy = await startProxy(registry, { faults: imitateRegistry('ghcr', { chunkMinLength: MIN }) });
    layout = join(tmp, 'cache');
    // A fixed seed: the generator is deterministic, so both layers are always over the 12 MiB minimum.
    await generateCache(layout, { seed: 'chunk-min-1', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 48 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('the imitation announces the minimum and refuses a smaller chunk', async () => {
    const start = await fetch(`${proxy.url}/v2/probe/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    assert.equal(start.status, 202);
    assert.equal(start.headers.get('oci-chunk-min-length'), String(MIN));
    const small = await fetch(new URL(start.headers.get('location')!, proxy.url), { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${DEFAULT_CHUNK_SIZE - 1}` }, body: Buffer.alloc(DEFAULT_CHUNK_SIZE) });
    assert.equal(small.status, 400);
    assert.match(await small.text(), /SIZE_INVALID/);
  });

  it('an export with the default 8 MiB chunks sends 12 MiB PATCHes and succeeds', async () => {
    const layers = layoutManifest(layout).json.layers!.map((l) => ({ digest: l.digest, size: Number(l.size) }));
    assert.ok(layers.every((l) => l.size > MIN), `every layer needs a PATCH: ${layers.map((l) => l.size).join(', ')}`);
    assert.ok(DEFAULT_CHUNK_SIZE < MIN, 'the client would send smaller chunks on its own');
    proxy.clear();
    const client = new RegistryClient({ env: {} });
    try {
      const src = await openCacheSource(layout);
      const repo = { registry: proxy.host, repository: 'chunk/min' };
      const result = await runExport({ opened: src, dest: 'unused', options: { tag: 'c' }, registry: { ...parseRegistryDestination(`${proxy.host}/${repo.repository}:c`)!, client, stateDir: null, historyFile: null }, verifyMemo: null });
      const reqs = proxy.requests();
      const patches = reqs.filter((q) => q.method === 'PATCH');
      assert.ok(patches.length >= layers.length, show(reqs));
      // Every chunk is exactly the registry's minimum (none refused).
      assert.deepEqual([...new Set(patches.map((q) => `${q.bytesIn} ${q.status}`))], [`${MIN} 202`], show(reqs));
      for (const l of layers) {
        const put = reqs.find((q) => q.method === 'PUT' && q.path.includes(`digest=${encodeURIComponent(l.digest)}`) && q.status === 201)!;
        const session = reqs.filter((q) => sessionOf(q.path) === sessionOf(put.path));
        // PATCHes of 12 MiB while more than one chunk is left, the rest with the final PUT.
        assert.equal(session.filter((q) => q.method === 'PATCH').length, Math.ceil(l.size / MIN) - 1, show(session));
        assert.ok(put.bytesIn > 0 && put.bytesIn <= MIN, show(session));
        assert.equal(session.reduce((n, q) => n + q.bytesIn, 0), l.size);
        assert.equal((await client.readBlob(repo, l, { maxBytes: 256 * MiB })).length, l.size);
      }
      assert.equal((await client.headManifest(`${proxy.host}/${repo.repository}:c`))?.digest, result.descriptor!.digest);
    } finally {
      client.close();
    }
  });
});
