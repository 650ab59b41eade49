/**
 * A stale saved Location answered `416 RANGE_INVALID` (what the distribution spec and registries.md §4
 * describe for distribution's signed `_state`; Debian's 2.8 itself answers 404, tested in
 * push-resume-large.test.ts): the fault proxy turns the registry's 404 on the stale session into 416
 * with distribution's RANGE_INVALID body. That one blob starts over in a new session and is sent in
 * full, the other blob resumes from its newest Location, and the push succeeds with every blob intact.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { uploadStateFile } from '../../../electron/engine/registry/uploads';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { layoutManifest, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, ProxyRequest, RunningRegistry } from '../../helpers/registry/index';

const RANGE_INVALID = JSON.stringify({ errors: [{ code: 'RANGE_INVALID', message: 'invalid content range' }] });
const SESSION = /^\/v2\/.+\/blobs\/uploads\/[^/?]+/;
const show = (reqs: ProxyRequest[]) => reqs.map((q) => `${q.method} ${q.path.replace(/\?_state=[^&]*/, '?_state=…')} ${q.status} ${q.bytesIn}`).join('\n');
const sessionOf = (path: string) => path.replace(/\?.*/, '');

/** An upload session on the registry itself with `chunks` chunks of `chunk` bytes: every Location it was given, oldest first. */
async function openSession(registryUrl: string, repository: string, bytes: Buffer, chunk: number, chunks: number): Promise<string[]> {
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
  assert.equal(start.status, 202);
  const locations = [new URL(start.headers.get('location')!, registryUrl).href];
  for (let i = 0; i < chunks; i++) {
    const body = bytes.subarray(i * chunk, (i + 1) * chunk);
    const res = await fetch(locations.at(-1)!, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `${i * chunk}-${(i + 1) * chunk - 1}` }, body: new Uint8Array(body) });
    assert.equal(res.status, 202, await res.text());
    locations.push(new URL(res.headers.get('location')!, registryUrl).href);
  }
  return locations;
}

describe('a stale Location answered 416 RANGE_INVALID', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let layout: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-416-'));
    registry = await startRegistry();
    // Every 404 on an upload session becomes distribution's 416 RANGE_INVALID.
    const faults: FaultFn = (req) => (SESSION.test(req.path) ? { kind: 'rewrite-answer', whenStatus: 404, status: 416, body: RANGE_INVALID } : undefined);
    proxy = await startProxy(registry, { faults });
    layout = join(tmp, 'cache');
    await generateCache(layout, { seed: 'push-stale-416', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 2 << 20, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('restarts that one blob cleanly (sent in full in a new session), resumes the other, and the push succeeds', async () => {
    const layers = layoutManifest(layout).json.layers!.map((l) => ({ digest: l.digest, size: Number(l.size) }));
    assert.equal(layers.length, 2);
    const chunk = Math.floor(Math.min(...layers.map((l) => l.size)) / 4);
    assert.ok(chunk >= 64 << 10, `layers big enough for chunks: ${layers.map((l) => l.size).join(', ')}`);
    const bytesOf = (digest: string) => readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)));
    const [stale, fresh] = layers;
    const repo = { registry: proxy.host, repository: 'stale/cache' };
    const stateDir = join(tmp, 'uploads');
    // The stale blob's session took two chunks; its saved Location is the one after the first (a kill
    // before the save), which distribution refuses. The other blob's saved Location is its newest.
    const staleLocs = await openSession(registry.url, repo.repository, bytesOf(stale.digest), chunk, 2);
    const freshLocs = await openSession(registry.url, repo.repository, bytesOf(fresh.digest), chunk, 1);
    const onProxy = (loc: string) => `${proxy.url}${new URL(loc).pathname}${new URL(loc).search}`;
    for (const [layer, location] of [[stale, staleLocs[1]], [fresh, freshLocs[1]]] as const) {
      const file = uploadStateFile(stateDir, repo, layer.digest);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify({ location: onProxy(location), offset: chunk, size: layer.size }));
    }

    const client = new RegistryClient({ env: {}, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const src = await openCacheSource(layout);
      const result = await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: { ...parseRegistryDestination(`${proxy.host}/${repo.repository}:t`)!, client, stateDir, historyFile: null, chunkSize: chunk, concurrency: 1 }, verifyMemo: null });
      const reqs = proxy.requests();
      const staleSession = sessionOf(new URL(staleLocs[0]).pathname);
      const freshSession = sessionOf(new URL(freshLocs[0]).pathname);
      // The stale Location got 416 RANGE_INVALID; the newest one of the other blob 204.
      const staleAsked = reqs.filter((q) => sessionOf(q.path) === staleSession);
      assert.deepEqual(staleAsked.map((q) => `${q.method} ${q.status}`), ['GET 416'], show(reqs));
      assert.deepEqual(reqs.filter((q) => q.method === 'GET' && sessionOf(q.path) === freshSession).map((q) => q.status), [204], show(reqs));
      // That blob started over in a new session and was sent in full; the other sent only the rest.
      const finalPut = (digest: string) => reqs.find((q) => q.method === 'PUT' && q.path.includes(`digest=${encodeURIComponent(digest)}`) && q.status === 201);
      const staleNew = sessionOf(finalPut(stale.digest)!.path);
      assert.notEqual(staleNew, staleSession);
      const sent = (session: string) => reqs.filter((q) => sessionOf(q.path) === session).reduce((n, q) => n + q.bytesIn, 0);
      assert.equal(sent(staleNew), stale.size, show(reqs));
      assert.equal(sent(freshSession), fresh.size - chunk, show(reqs));
      assert.equal(result.counts.resumed, 1);
      // The push succeeded: the manifest is there and every blob hashes to its digest.
      assert.equal((await client.headManifest(`${proxy.host}/${repo.repository}:${result.tag}`))?.digest, result.descriptor!.digest);
      for (const l of layers) assert.equal((await client.readBlob(repo, l, { maxBytes: 64 << 20 })).length, l.size);
      // Nothing left behind for either blob.
      for (const l of layers) assert.throws(() => readFileSync(uploadStateFile(stateDir, repo, l.digest)), /ENOENT/);
    } finally {
      client.close();
    }
  });
});
