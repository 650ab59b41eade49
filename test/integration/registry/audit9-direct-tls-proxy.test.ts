/**
 * Audit of issue 9's pull path on download threads (registry/direct-download.ts) against the TLS and
 * proxy promises, with real distribution 2.8 registries: NODE_EXTRA_CA_CERTS (in a child, as Node
 * reads it at start) and `registry.insecure=true` reach the threads' own TLS connections; with
 * HTTP(S)_PROXY in force every layer goes through the proxy and no thread dials the registry itself.
 * Names *.cachescope.test are mapped to loopback by the forward proxy only: nothing leaves 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import type { DirectDownloadCounts } from '../../../electron/engine/registry/direct-download';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { REPO } from '../../helpers/fixtures';
import { pushFixture, startForwardProxy, startProxy, startRegistry } from '../../helpers/registry/index';
import type { ForwardProxy, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;
const run = promisify(execFile);
const TEST_DOMAIN = '.cachescope.test';
type Layer = { digest: string; size: number };

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function since(before: DirectDownloadCounts): DirectDownloadCounts {
  const now = directDownloadCounts();
  return { complete: now.complete - before.complete, fallback: now.fallback - before.fallback, partial: now.partial - before.partial };
}

let tmp: string;
let src: string;
let layers: Layer[];
const accesses: RegistryAccess[] = [];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-audit9-tls-proxy-'));
  src = join(tmp, 'src');
  const gen = await generateCache(src, { seed: 'audit9-tls-proxy', stages: 1, layersPerStage: 2, layers: 3, baseLayers: 1, layerBytes: 1 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  layers = (gen.layerDescriptors as Layer[]).filter((d) => d.size > 64 * 1024).map((d) => ({ digest: d.digest, size: d.size }));
  assert.ok(layers.length >= 2);
});
after(async () => {
  for (const a of accesses) a.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Every layer through a fresh blob cache; each file's bytes checked against its digest. */
async function pullAll(ref: string, client: RegistryClientOptions, name: string): Promise<void> {
  const access = createRegistryAccess({ blobCache: { root: join(tmp, name) }, client });
  accesses.push(access);
  const opened = await openCacheSource(ref, { registry: access });
  for (const l of layers) {
    const file = await opened.blobs.get(l);
    assert.equal(sha(await readFile(file.path)), l.digest);
    await file.release();
  }
}

describe('TLS on the download threads (distribution 2.8 over HTTPS, a test CA)', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ tls: true });
    await pushFixture(reg, src, 'audit/tls:main');
  });
  after(async () => {
    await reg?.stop();
  });

  it('NODE_EXTRA_CA_CERTS alone (no certs.d): every layer lands verified over the threads', async () => {
    const args = [`${reg.host}/audit/tls:main`, join(tmp, 'child-cache'), ...layers.map((l) => `${l.digest}:${l.size}`)];
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'test/integration/registry/audit9-child-pull.ts'), ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: tmp, NODE_EXTRA_CA_CERTS: reg.ca!.extraCaFile() },
    });
    const out = JSON.parse(stdout) as { ok: boolean; digests?: string[]; direct?: DirectDownloadCounts; message?: string };
    assert.equal(out.ok, true, out.message);
    assert.deepEqual(out.digests, layers.map((l) => l.digest));
    assert.deepEqual(out.direct, { complete: layers.length, fallback: 0, partial: 0 });
  });

  it('without any trust for the CA, the child refuses the registry with a clear TLS error', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'test/integration/registry/audit9-child-pull.ts'), `${reg.host}/audit/tls:main`, join(tmp, 'child-untrusted')], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? '', HOME: tmp },
    });
    const out = JSON.parse(stdout) as { ok: boolean; message?: string };
    assert.equal(out.ok, false);
    assert.match(out.message ?? '', /certificate|self.signed|issuer/i);
  });

  it('registry.insecure=true: the threads skip verification too, and the bytes are still verified by digest', async () => {
    const before = directDownloadCounts();
    await pullAll(`type=registry,ref=${reg.host}/audit/tls:main,registry.insecure=true`, { credentials: new StaticCredentialStore(), certsDirs: [] }, 'insecure');
    assert.deepEqual(since(before), { complete: layers.length, fallback: 0, partial: 0 });
  });
});

describe('proxies and the download threads (distribution 2.8 behind a real forward proxy)', () => {
  let reg: RunningRegistry;
  let proxy: ForwardProxy;
  let host: string;
  before(async () => {
    reg = await startRegistry();
    await pushFixture(reg, src, 'audit/proxy:main');
    proxy = await startForwardProxy({ resolve: (h) => (h.endsWith(TEST_DOMAIN) ? '127.0.0.1' : h) });
    host = `plain-registry${TEST_DOMAIN}:${reg.port}`;
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
  });

  it('HTTP_PROXY applies: every layer GET goes through the proxy, none on a thread', async () => {
    proxy.clear();
    const before = directDownloadCounts();
    // No lookup is injected: only the proxy knows the test name, so a direct dial could not reach the registry.
    const env = { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url };
    await pullAll(`type=registry,ref=${host}/audit/proxy:main,registry.insecure=true`, { credentials: new StaticCredentialStore(), certsDirs: [], env }, 'proxied');
    assert.deepEqual(since(before), { complete: 0, fallback: 0, partial: 0 }, 'no download thread was used');
    for (const l of layers) {
      const gets = proxy.requests().filter((r) => r.method === 'GET' && r.target === `http://${host}/v2/audit/proxy/blobs/${l.digest}`);
      assert.equal(gets.length, 1, `the proxy carried ${l.digest}`);
      assert.equal(gets[0].status, 200);
    }
  });

  it('a redirect to blob storage behind HTTP_PROXY: no thread dials the storage host, the proxy carries it', async () => {
    const target = layers[0];
    const bytes = await readFile(join(src, 'blobs', 'sha256', target.digest.slice(7)));
    const seen: { url?: string; authorization?: string }[] = [];
    const storage = createServer((req, res) => {
      seen.push({ url: req.url, authorization: req.headers.authorization });
      res.writeHead(200, { 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
      res.end(bytes);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    // The registry (loopback, never proxied) is fronted by the fault proxy that answers the layer with a 307.
    const front = await startProxy(reg);
    const storageHost = `storage${TEST_DOMAIN}:${(storage.address() as AddressInfo).port}`;
    front.setFaults([{ method: 'GET', path: target.digest, times: Infinity, fault: { kind: 'redirect', location: `http://${storageHost}/storage/${target.digest}` } }]);
    proxy.clear();
    const before = directDownloadCounts();
    try {
      await pullAll(`${front.host}/audit/proxy:main`, { credentials: new StaticCredentialStore(), certsDirs: [], env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } }, 'storage-proxied');
    } finally {
      await front.stop();
      await new Promise<void>((r) => storage.close(() => r()));
    }
    // Only the proxy knows the test name: the storage GET could have gone nowhere else.
    assert.deepEqual(proxy.requests().map((r) => `${r.method} ${r.target} ${r.status}`), [`GET http://${storageHost}/storage/${target.digest} 200`]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].authorization, undefined);
    // The other layers and the registry's 307 went on the threads; the storage hop did not.
    assert.deepEqual(since(before), { complete: layers.length - 1, fallback: 1, partial: 0 });
  });

  it('a loopback registry is never proxied (NO_PROXY or not): the threads take it, the proxy sees nothing', async () => {
    proxy.clear();
    const before = directDownloadCounts();
    await pullAll(`${reg.host}/audit/proxy:main`, { credentials: new StaticCredentialStore(), certsDirs: [], env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url } }, 'loopback');
    assert.deepEqual(since(before), { complete: layers.length, fallback: 0, partial: 0 });
    assert.deepEqual(proxy.requests(), []);
  });
});
