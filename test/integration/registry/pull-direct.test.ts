/**
 * Layer downloads on download threads (registry/direct-download.ts), against a real distribution 2.8
 * with htpasswd auth behind the counting proxy: the pull lands verified bytes, every layer goes the
 * direct way with the registry's Authorization (and to no other host), and each thing the threads
 * do not handle (a 503, a body cut short, a redirect) falls back to the full client, which finishes
 * the blob: from the cut when some bytes arrived.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import type { DirectDownloadCounts } from '../../../electron/engine/registry/direct-download';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultRule, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;

function since(before: DirectDownloadCounts): DirectDownloadCounts {
  const now = directDownloadCounts();
  return { complete: now.complete - before.complete, fallback: now.fallback - before.fallback, partial: now.partial - before.partial };
}

describe('pulls on download threads (distribution 2.8, htpasswd)', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let src: string;
  let layers: { digest: string; size: number }[];
  const accesses: RegistryAccess[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-pull-direct-'));
    registry = await startRegistry({ auth: 'htpasswd' });
    proxy = await startProxy(registry);
    src = join(tmp, 'src');
    const gen = await generateCache(src, { seed: 'pull-direct', stages: 1, layersPerStage: 3, layers: 4, baseLayers: 1, layerBytes: 3 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    // The layers with content (the generator adds an empty one too).
    layers = gen.layerDescriptors.filter((d: { size: number }) => d.size > 256 * 1024).map((d: { digest: string; size: number }) => ({ digest: d.digest, size: d.size }));
    assert.ok(layers.length >= 3, `layers ${gen.layerDescriptors.map((d: { size: number }) => d.size).join(', ')}`);
    await pushFixture(registry, src, 'direct/cache:main');
  });
  after(async () => {
    for (const a of accesses) a.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Opens the cache through the proxy with alice's password and fetches every layer into a fresh blob cache. */
  async function pullAll(name: string): Promise<Map<string, Buffer>> {
    const [user, password] = Object.entries(registry.users)[0];
    const access = createRegistryAccess({ blobCache: { root: join(tmp, name) }, client: { credentials: new StaticCredentialStore({ [proxy.host]: { username: user, password } }) } });
    accesses.push(access);
    const opened = await openCacheSource(`${proxy.host}/direct/cache:main`, { registry: access });
    const out = new Map<string, Buffer>();
    for (const l of layers) {
      const file = await opened.blobs.get(l);
      out.set(l.digest, await readFile(file.path));
      await file.release();
    }
    return out;
  }

  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  /** Pulls every layer with `rules` at the proxy; checks every layer's bytes; returns how the thread downloads ended. */
  async function pullWithFaults(name: string, rules: FaultRule[] | undefined): Promise<DirectDownloadCounts> {
    proxy.setFaults(rules);
    proxy.clear();
    const before = directDownloadCounts();
    try {
      const got = await pullAll(name);
      for (const l of layers) assert.equal(sha(got.get(l.digest)!), l.digest);
    } finally {
      proxy.setFaults(undefined);
    }
    return since(before);
  }

  it('downloads every layer on the threads, with the registry credentials, one GET each, bytes verified', async () => {
    assert.deepEqual(await pullWithFaults('plain', undefined), { complete: layers.length, fallback: 0, partial: 0 });
    for (const l of layers) {
      const gets = proxy.requests().filter((q) => q.method === 'GET' && q.path.endsWith(l.digest));
      assert.equal(gets.length, 1, `one GET for ${l.digest}`);
      assert.equal(gets[0].status, 200);
      assert.equal(gets[0].authorization, true, 'the registry’s own Authorization went with it');
      assert.equal(gets[0].bytesOut, l.size);
    }
  });

  it('a 503 on a layer: the thread hands it back untouched and the client retries it to the end', async () => {
    const target = layers[1];
    const counts = await pullWithFaults('status', [{ method: 'GET', path: target.digest, fault: { kind: 'status', status: 503 } }]);
    assert.deepEqual(counts, { complete: layers.length - 1, fallback: 1, partial: 0 });
    const gets = proxy.requests().filter((q) => q.method === 'GET' && q.path.endsWith(target.digest));
    assert.deepEqual(gets.map((g) => g.status), [503, 200]);
  });

  it('a body cut short: the bytes that arrived stay, and the client asks only for the rest', async () => {
    const target = layers[0];
    const cut = 200_000;
    const counts = await pullWithFaults('cut', [{ method: 'GET', path: target.digest, fault: { kind: 'reset', afterBytes: cut } }]);
    assert.deepEqual(counts, { complete: layers.length - 1, fallback: 0, partial: 1 });
    const gets = proxy.requests().filter((q) => q.method === 'GET' && q.path.endsWith(target.digest));
    assert.equal(gets.length, 2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    // Whatever reached the thread before the reset is kept: the second GET starts there.
    assert.ok(resumedAt > 0 && resumedAt <= cut, `resumed at ${gets[1].range}`);
    assert.equal(gets[1].bytesOut, target.size - resumedAt);
  });

  it('a redirect to blob storage on another host: the threads follow it, without the credentials', async () => {
    const target = layers[2];
    const seen: { authorization?: string }[] = [];
    const bytes = await readFile(join(src, 'blobs', 'sha256', target.digest.slice(7)));
    const storage = createServer((req, res) => {
      seen.push({ authorization: req.headers.authorization });
      res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
      res.end(bytes);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const location = `http://localhost:${(storage.address() as AddressInfo).port}/storage/${target.digest}`;
    let counts: DirectDownloadCounts;
    try {
      counts = await pullWithFaults('redirect', [{ method: 'GET', path: target.digest, times: Infinity, fault: { kind: 'redirect', location } }]);
    } finally {
      await new Promise<void>((r) => storage.close(() => r()));
    }
    // The registry's 307 ends one thread GET (counted as handed back); the storage GET completes.
    assert.deepEqual(counts, { complete: layers.length, fallback: 1, partial: 0 });
    assert.equal(seen.length, 1, 'the storage host was asked once');
    assert.equal(seen[0].authorization, undefined, 'no credentials to another host');
    const gets = proxy.requests().filter((q) => q.method === 'GET' && q.path.endsWith(target.digest));
    assert.deepEqual(gets.map((g) => [g.status, g.authorization]), [[307, true]], 'one GET at the registry, with its credentials');
  });
});

describe('pulls on download threads over TLS (distribution 2.8, a test CA from certs.d)', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let access: RegistryAccess | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-pull-direct-tls-'));
    registry = await startRegistry({ tls: true });
  });
  after(async () => {
    access?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('takes the threads with the CA from certs.d, and lands verified bytes', async () => {
    const src = join(tmp, 'src');
    const gen = await generateCache(src, { seed: 'pull-direct-tls', stages: 1, layersPerStage: 2, layers: 3, baseLayers: 1, layerBytes: 2 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const layers = gen.layerDescriptors.filter((d: { size: number }) => d.size > 256 * 1024) as { digest: string; size: number }[];
    assert.ok(layers.length >= 2);
    await pushFixture(registry, src, 'direct/tls:main');
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'cache') }, client: { credentials: new StaticCredentialStore(), certsDirs: [registry.ca!.certsDir(registry.host)] } });
    const opened = await openCacheSource(`${registry.host}/direct/tls:main`, { registry: access });
    const before = directDownloadCounts();
    for (const l of layers) {
      const file = await opened.blobs.get(l);
      assert.equal(`sha256:${createHash('sha256').update(await readFile(file.path)).digest('hex')}`, l.digest);
      await file.release();
    }
    // Every layer over the threads' own TLS connections: none fell back to the transport.
    assert.deepEqual(since(before), { complete: layers.length, fallback: 0, partial: 0 });
  });
});
