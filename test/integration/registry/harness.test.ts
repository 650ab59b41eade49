/**
 * The real-registry harness (test/helpers/registry) proves each setup it offers really works: distribution 2.8
 * with no auth, htpasswd, Bearer tokens and TLS; the counting/fault proxy; the forward proxy; nginx's 413.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import {
  imitateRegistry, layoutManifest, makeTestCA, pushFixture, runAsync, skopeoInspectRaw, startForwardProxy, startNginx, startProxy, startRegistry, startTokenServer,
} from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry, TestCA, TokenServer } from '../../helpers/registry/index';


const IMAGE_MANIFEST = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const DOCKER_LIST = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP(S) exchange; rejects with the socket error (ECONNRESET, a TLS error, …). */
function call(url: string, opts: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer; ca?: string; agent?: false } = {}): Promise<Reply> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { method: opts.method ?? 'GET', headers: { ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) }, ca: opts.ca ? readFileSync(opts.ca) : undefined, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The largest layer of a layout's image manifest: something with a body worth cutting. */
function biggestLayer(dir: string): { digest: string; size: number } {
  const m = layoutManifest(dir);
  return [...(m.json.layers ?? [])].sort((a, b) => (b.size ?? 0) - (a.size ?? 0))[0] as { digest: string; size: number };
}

describe('no auth', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry({ deleteEnabled: true });
  });
  after(() => registry?.stop());

  it('pushes the image-manifest form with skopeo and reads back the exact manifest bytes', async () => {
    const pushed = await pushFixture(registry, IMAGE_MANIFEST, 'cache/im:latest');
    assert.equal(pushed.via, 'skopeo');
    const raw = await skopeoInspectRaw(registry, 'cache/im:latest');
    assert.equal(sha256(raw), pushed.digest);
    assert.deepEqual(raw, pushed.manifest);
    const manifestPuts = registry.requests().filter((r) => r.method === 'PUT' && r.path === '/v2/cache/im/manifests/latest');
    assert.equal(manifestPuts.length, 1, 'the access log shows the manifest PUT');
    assert.equal(manifestPuts[0].status, 201);
  });

  it('pushes the OCI index form and the Docker manifest list with the HTTP uploader', async () => {
    for (const [dir, repo] of [[INDEX, 'cache/index'], [DOCKER_LIST, 'cache/list']] as const) {
      const pushed = await pushFixture(registry, dir, `${repo}:v1`);
      assert.equal(pushed.via, 'http');
      const got = await call(`${registry.url}/v2/${repo}/manifests/v1`, { headers: { accept: pushed.mediaType } });
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], pushed.mediaType);
      assert.equal(got.headers['docker-content-digest'], pushed.digest);
      assert.deepEqual(got.body, pushed.manifest);
      for (const blob of pushed.blobs) assert.equal((await call(`${registry.url}/v2/${repo}/blobs/${blob}`, { method: 'HEAD' })).status, 200, blob);
    }
  });

  it('pushes every buildkit-v0.24 fixture and the registry holds its exact manifest bytes', async () => {
    const dirs = readdirSync(FIXTURES).filter((d) => d.startsWith('buildkit-v0.24-') && d !== 'buildkit-v0.24-context');
    assert.ok(dirs.length >= 7);
    for (const d of dirs) {
      const pushed = await pushFixture(registry, join(FIXTURES, d), `all/${d}:latest`);
      assert.deepEqual(await skopeoInspectRaw(registry, `all/${d}:latest`), pushed.manifest, d);
    }
  });

  it('deletes a manifest when deletes are enabled', async () => {
    const pushed = await pushFixture(registry, INDEX, 'cache/del:v1');
    const del = await call(`${registry.url}/v2/cache/del/manifests/${pushed.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await call(`${registry.url}/v2/cache/del/manifests/v1`)).status, 404);
  });
});

describe('deletes disabled', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry?.stop());

  it('answers 405 UNSUPPORTED to a manifest DELETE', async () => {
    const pushed = await pushFixture(registry, INDEX, 'cache/keep:v1');
    const del = await call(`${registry.url}/v2/cache/keep/manifests/${pushed.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.match(del.body.toString(), /UNSUPPORTED/);
  });
});

describe('htpasswd', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: 'alice-secret', bob: 'bob-secret' } });
  });
  after(() => registry?.stop());

  it('asks for Basic auth, refuses a wrong password and accepts the right one', async () => {
    const anon = await call(`${registry.url}/v2/`);
    assert.equal(anon.status, 401);
    assert.match(String(anon.headers['www-authenticate']), /^Basic realm="cachescope-registry"/);
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    assert.equal((await call(`${registry.url}/v2/`, { headers: basic('alice', 'wrong') })).status, 401);
    assert.equal((await call(`${registry.url}/v2/`, { headers: basic('bob', 'bob-secret') })).status, 200);
  });

  it('pushes and inspects with skopeo and credentials; without them skopeo fails', async () => {
    const pushed = await pushFixture(registry, IMAGE_MANIFEST, 'cache/im:latest');
    assert.deepEqual(await skopeoInspectRaw(registry, 'cache/im:latest'), pushed.manifest);
    await assert.rejects(skopeoInspectRaw(registry.url, 'cache/im:latest'), /unauthorized|authentication required/i);
  });
});

describe('token auth', () => {
  let registry: RunningRegistry;
  let tokens: TokenServer;
  before(async () => {
    tokens = await startTokenServer({
      users: { alice: 'alice-secret', reader: 'reader-secret' },
      grants: [
        { account: 'alice', repository: '*', actions: ['pull', 'push', 'delete'] },
        { account: 'reader', repository: 'cache/*', actions: ['pull'] },
        { account: 'anonymous', repository: 'public/*', actions: ['pull'] },
      ],
    });
    registry = await startRegistry({ auth: 'token', tokenServer: tokens });
  });
  after(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('challenges with Bearer realm, service and scope', async () => {
    const anon = await call(`${registry.url}/v2/cache/im/manifests/latest`);
    assert.equal(anon.status, 401);
    const challenge = String(anon.headers['www-authenticate']);
    assert.match(challenge, /^Bearer /);
    assert.ok(challenge.includes(`realm="${tokens.realm}"`), challenge);
    assert.ok(challenge.includes(`service="${tokens.service}"`), challenge);
    assert.ok(challenge.includes('scope="repository:cache/im:pull"'), challenge);
  });

  it('pushes with skopeo through the token flow, and records what was asked', async () => {
    tokens.clear();
    const pushed = await pushFixture(registry, IMAGE_MANIFEST, 'cache/im:latest');
    assert.deepEqual(await skopeoInspectRaw(registry, 'cache/im:latest'), pushed.manifest);
    const asked = tokens.requests();
    assert.ok(asked.length > 0);
    assert.ok(asked.every((r) => r.credentials === 'basic' && r.account === 'alice' && r.status === 200));
    assert.ok(asked.some((r) => r.scopes.includes('repository:cache/im:pull,push')), JSON.stringify(asked.map((r) => r.scopes)));
  });

  it('grants only what the user table allows, so the registry answers insufficient_scope', async () => {
    await pushFixture(registry, INDEX, 'cache/idx:v1');
    // The reader may pull cache/* but not push: the token server leaves push out, and the registry refuses.
    const basic = { authorization: `Basic ${Buffer.from('reader:reader-secret').toString('base64')}` };
    const t = await call(`${tokens.realm}?service=${tokens.service}&scope=repository:cache/idx:pull,push`, { headers: basic });
    assert.equal(t.status, 200);
    const token = (JSON.parse(t.body.toString()) as { token: string }).token;
    assert.deepEqual(tokens.requests().at(-1)!.granted, [{ type: 'repository', name: 'cache/idx', actions: ['pull'] }]);
    assert.equal((await call(`${registry.url}/v2/cache/idx/manifests/v1`, { headers: { ...bearer(token), accept: 'application/vnd.oci.image.index.v1+json' } })).status, 200);
    const post = await call(`${registry.url}/v2/cache/idx/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    assert.equal(post.status, 401);
    assert.match(String(post.headers['www-authenticate']), /error="insufficient_scope"/);

    // A token for one repository is refused for another.
    const other = tokens.issueToken('alice', [{ type: 'repository', name: 'cache/other', actions: ['pull'] }]);
    const wrong = await call(`${registry.url}/v2/cache/idx/manifests/v1`, { headers: bearer(other) });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /insufficient_scope/);
    assert.match(wrong.body.toString(), /UNAUTHORIZED/);

    // An expired token for the right scope is refused too.
    const expired = tokens.issueToken('alice', [{ type: 'repository', name: 'cache/idx', actions: ['pull'] }], -120);
    assert.equal((await call(`${registry.url}/v2/cache/idx/manifests/v1`, { headers: bearer(expired) })).status, 401);
  });

  it('gives anonymous callers only the anonymous grants, and refuses a wrong password', async () => {
    const anon = await call(`${tokens.realm}?service=${tokens.service}&scope=repository:cache/idx:pull&scope=repository:public/x:pull`);
    assert.equal(anon.status, 200);
    const last = tokens.requests().at(-1)!;
    assert.equal(last.credentials, 'none');
    assert.deepEqual(last.scopes, ['repository:cache/idx:pull', 'repository:public/x:pull']);
    assert.deepEqual(last.granted, [{ type: 'repository', name: 'public/x', actions: ['pull'] }]);
    const bad = await call(`${tokens.realm}?service=${tokens.service}&scope=repository:cache/idx:pull`, { headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
    assert.equal(bad.status, 401);
    // docker's GET with offline_token=true returns an identity token alongside.
    const offline = await call(`${tokens.realm}?service=${tokens.service}&scope=repository:cache/idx:pull&offline_token=true&client_id=docker`, { headers: { authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` } });
    assert.match((JSON.parse(offline.body.toString()) as { refresh_token: string }).refresh_token, /^refresh-/);
    assert.equal(tokens.requests().at(-1)!.clientId, 'docker');
  });

  it('issues refresh (identity) tokens through the OAuth POST and accepts them back', async () => {
    const form = (o: Record<string, string>) => Buffer.from(new URLSearchParams(o).toString());
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const first = await call(tokens.realm, { method: 'POST', headers, body: form({ grant_type: 'password', username: 'alice', password: 'alice-secret', service: tokens.service, client_id: 'cachescope', access_type: 'offline', scope: 'repository:cache/idx:pull' }) });
    assert.equal(first.status, 200);
    const { refresh_token: refresh, expires_in: expiresIn } = JSON.parse(first.body.toString()) as { refresh_token: string; expires_in: number };
    assert.match(refresh, /^refresh-/);
    assert.equal(expiresIn, 300);
    const again = await call(tokens.realm, { method: 'POST', headers, body: form({ grant_type: 'refresh_token', refresh_token: refresh, service: tokens.service, client_id: 'cachescope', scope: 'repository:cache/idx:pull' }) });
    assert.equal(again.status, 200);
    const token = (JSON.parse(again.body.toString()) as { access_token: string }).access_token;
    assert.equal((await call(`${registry.url}/v2/cache/idx/manifests/v1`, { headers: { ...bearer(token), accept: 'application/vnd.oci.image.index.v1+json' } })).status, 200);
    assert.equal(tokens.requests().at(-1)!.credentials, 'refresh_token');
    const unknown = await call(tokens.realm, { method: 'POST', headers, body: form({ grant_type: 'refresh_token', refresh_token: 'refresh-forged', service: tokens.service, scope: 'repository:cache/idx:pull' }) });
    assert.equal(unknown.status, 401);
  });

  it('can refuse the POST (404) and leave expires_in out', async () => {
    const plain = await startTokenServer({ allowPost: false, expiresIn: null });
    try {
      const post = await call(plain.realm, { method: 'POST', body: Buffer.from('grant_type=password') });
      assert.equal(post.status, 404);
      const get = await call(`${plain.realm}?service=${plain.service}&scope=repository:a:pull`);
      assert.equal(get.status, 200);
      assert.equal((JSON.parse(get.body.toString()) as { expires_in?: number }).expires_in, undefined);
    } finally {
      await plain.stop();
    }
  });
});

describe('TLS', () => {
  let ca: TestCA;
  let registry: RunningRegistry;
  before(async () => {
    ca = await makeTestCA();
    registry = await startRegistry({ tls: ca });
  });
  after(async () => {
    await registry?.stop();
    ca?.dispose();
  });

  it('is trusted with the CA and refused without it', async () => {
    assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await call(`${registry.url}/v2/`, { ca: ca.caCert })).status, 200);
    const requests = await registry.settledRequests();
    assert.deepEqual(requests.map((r) => [r.method, r.path, r.status]), [['GET', '/v2/', 200]]);
    await assert.rejects(call(`${registry.url}/v2/`), (err: NodeJS.ErrnoException) => /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i.test(`${err.code} ${err.message}`));
  });

  it('is trusted by a Node process given NODE_EXTRA_CA_CERTS, and not by one without it', () => {
    const script = `require('node:https').get(${JSON.stringify(`${registry.url}/v2/`)}, (r) => { console.log(r.statusCode); r.resume(); }).on('error', (e) => { console.log(e.code); });`;
    const withCa = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.extraCaFile() } });
    assert.equal(withCa.stdout.trim(), '200');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const without = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
    assert.equal(without.stdout.trim(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('lays out a docker certs.d dir that skopeo trusts', async () => {
    const certsD = ca.certsDir(registry.host, { client: true });
    assert.deepEqual(readFileSync(join(certsD, registry.host, 'ca.crt')), readFileSync(ca.caCert));
    assert.ok(readFileSync(join(certsD, registry.host, 'client.cert'), 'utf8').includes('BEGIN CERTIFICATE'));
    const pushed = await pushFixture(registry, IMAGE_MANIFEST, 'cache/tls:latest');
    const args = ['--insecure-policy', 'inspect', '--raw', '--tls-verify=true', '--cert-dir', join(certsD, registry.host), `docker://${registry.host}/cache/tls:latest`];
    const ok = spawnSync('skopeo', args, { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(sha256(Buffer.from(ok.stdout)), pushed.digest);
    const refused = spawnSync('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=true', `docker://${registry.host}/cache/tls:latest`], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /certificate/);
  });

  it('can sit behind the counting proxy, itself on HTTPS', async () => {
    const proxy = await startProxy(registry, { tls: ca });
    try {
      assert.match(proxy.url, /^https:/);
      assert.equal((await call(`${proxy.url}/v2/`, { ca: ca.caCert })).status, 200);
      assert.deepEqual(proxy.requests().map((r) => r.status), [200]);
    } finally {
      await proxy.stop();
    }
  });

  it('can require a client certificate', async () => {
    const mtls = await startRegistry({ tls: ca, tlsClientAuth: true });
    try {
      await assert.rejects(call(`${mtls.url}/v2/`, { ca: ca.caCert }));
      const reply = await new Promise<number>((resolve, reject) => {
        httpsRequest(`${mtls.url}/v2/`, { ca: readFileSync(ca.caCert), cert: readFileSync(ca.clientCert), key: readFileSync(ca.clientKey), agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.equal(reply, 200);
    } finally {
      await mtls.stop();
    }
  });
});

describe('counting fault proxy', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let layer: { digest: string; size: number };
  const blobUrl = () => `${proxy.url}/v2/cache/im/blobs/${layer.digest}`;
  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url);
    await pushFixture(proxy, IMAGE_MANIFEST, 'cache/im:latest');
    layer = biggestLayer(IMAGE_MANIFEST);
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('forwards a skopeo push, keeps uploads on the proxy and counts every request', () => {
    const seen = proxy.requests();
    const posts = seen.filter((r) => r.method === 'POST' && r.path === '/v2/cache/im/blobs/uploads/');
    assert.ok(posts.length > 0);
    // Location was rewritten to the proxy, so every upload request came back through it.
    const uploads = seen.filter((r) => r.path.startsWith('/v2/cache/im/blobs/uploads/') && r.method !== 'POST');
    assert.ok(uploads.length >= posts.length, JSON.stringify(seen.map((r) => `${r.method} ${r.path} ${r.status}`)));
    const manifestPut = seen.find((r) => r.method === 'PUT' && r.path === '/v2/cache/im/manifests/latest');
    assert.equal(manifestPut?.status, 201);
    assert.equal(manifestPut?.bytesIn, layoutManifest(IMAGE_MANIFEST).bytes.length);
  });

  it('passes a blob through whole, with byte counts and the Range header recorded', async () => {
    proxy.clear();
    const whole = await call(blobUrl());
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), layer.digest);
    const part = await call(blobUrl(), { headers: { range: 'bytes=100-' } });
    assert.equal(part.status, 206);
    const [a, b] = proxy.requests();
    assert.deepEqual([a.method, a.status, a.bytesOut], ['GET', 200, layer.size]);
    assert.deepEqual([b.range, b.status, b.bytesOut], ['bytes=100-', 206, layer.size - 100]);
  });

  it('resets the connection mid-body after N bytes', async () => {
    proxy.clear();
    proxy.setFaults([{ method: 'GET', path: '/blobs/', fault: { kind: 'reset', afterBytes: 100 } }]);
    await assert.rejects(call(blobUrl()), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || /aborted|hang up/.test(err.message));
    assert.deepEqual([proxy.requests()[0].fault, proxy.requests()[0].bytesOut], ['reset', 100]);
    // The queue is used up: the next request passes.
    assert.equal(sha256((await call(blobUrl())).body), layer.digest);
  });

  it('truncates a body short of its Content-Length', async () => {
    proxy.setFaults([{ path: '/blobs/', fault: { kind: 'truncate', afterBytes: 50 } }]);
    await assert.rejects(call(blobUrl()));
    proxy.setFaults(undefined);
  });

  it('answers 503 and 429 with Retry-After, per a fault function', async () => {
    proxy.clear();
    proxy.setFaults(({ index }) => (index === 0 ? { kind: 'status', status: 503 } : index === 1 ? { kind: 'rate-limit', retryAfter: 2 } : undefined));
    const first = await call(blobUrl());
    assert.equal(first.status, 503);
    assert.match(first.body.toString(), /"code":"UNAVAILABLE"/);
    const second = await call(blobUrl());
    assert.equal(second.status, 429);
    assert.equal(second.headers['retry-after'], '2');
    assert.match(second.body.toString(), /TOOMANYREQUESTS/);
    assert.equal((await call(blobUrl())).status, 200);
    proxy.setFaults(undefined);
  });

  it('ignores Range when told to, and stalls before forwarding', async () => {
    proxy.clear();
    proxy.setFaults([
      { path: '/blobs/', fault: { kind: 'ignore-range' } },
      { path: '/blobs/', fault: { kind: 'stall', ms: 200 } },
      { path: '/blobs/', fault: { kind: 'stall', ms: 200, afterBytes: 10 } },
    ]);
    const ignored = await call(blobUrl(), { headers: { range: 'bytes=100-' } });
    assert.equal(ignored.status, 200);
    assert.equal(ignored.body.length, layer.size);
    const stalled = await call(blobUrl());
    assert.equal(stalled.status, 200);
    const stalledMidBody = await call(blobUrl());
    assert.equal(sha256(stalledMidBody.body), layer.digest, 'a stall mid-body still delivers every byte');
    assert.deepEqual(proxy.requests().map((r) => r.fault), ['ignore-range', 'stall', 'stall']);
  });

  it('answers 413 for bodies over a size, and can silently drop a PATCH body', async () => {
    proxy.clear();
    proxy.setFaults([{ method: 'PATCH', fault: { kind: 'too-large', maxBytes: 10 } }, { method: 'PATCH', fault: { kind: 'drop-body' } }]);
    const start = await call(`${proxy.url}/v2/cache/up/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = String(start.headers.location);
    assert.ok(location.startsWith(proxy.url), location);
    const body = Buffer.alloc(64, 1);
    const big = await call(location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } }).catch((e: Error) => e);
    assert.ok(!(big instanceof Error) && big.status === 413, String(big instanceof Error ? big.message : big.status));
    const dropped = await call(location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(dropped.status, 202);
    assert.equal(dropped.headers.range, '0-0', 'the registry saw no bytes');
    const kept = await call(String(dropped.headers.location), { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(kept.headers.range, '0-63');
    const byFault = proxy.requests().filter((r) => r.method === 'PATCH').map((r) => [r.fault, r.bytesForwarded]);
    assert.deepEqual(byFault, [['too-large', 0], ['drop-body', 0], [undefined, 64]]);
  });

  it('cuts an upload after N request bytes, and the registry keeps what arrived', async () => {
    proxy.setFaults([{ method: 'PATCH', fault: { kind: 'reset', afterBytes: 1000 } }]);
    const start = await call(`${proxy.url}/v2/cache/cut/blobs/uploads/`, { method: 'POST' });
    const body = Buffer.alloc(1 << 20, 7);
    await assert.rejects(call(String(start.headers.location), { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } }));
    const cut = proxy.requests().at(-1)!;
    assert.equal(cut.fault, 'reset');
    assert.equal(cut.bytesForwarded, 1000);
    assert.equal(cut.status, 0, 'the client got no status line');
    assert.ok(cut.bytesIn < body.length);
  });
});

describe('proxy imitations and redirects', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
  });
  after(() => registry?.stop());

  it("answers an index-form manifest PUT with ECR's own words, and lets the image-manifest form through", async () => {
    // Given the registry itself, the proxy remembers its users, so pushFixture through it needs no credentials.
    const proxy = await startProxy(registry, { faults: imitateRegistry('ecr', { immutableTags: true }) });
    try {
      await assert.rejects(pushFixture(proxy, DOCKER_LIST, 'cache/list:v1'),
        /answered 400: .*"code":"UNSUPPORTED","message":"Unsupported manifest type: \\"application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json\\""/);
      const pushed = await pushFixture(proxy, IMAGE_MANIFEST, 'cache/im:v1', { via: 'http' });
      assert.deepEqual(await skopeoInspectRaw(registry, 'cache/im:v1'), pushed.manifest);
      await assert.rejects(pushFixture(proxy, IMAGE_MANIFEST, 'cache/im:v1', { username: 'alice', password: 'alice-secret', via: 'http' }), /TAG_INVALID.*immutable/);
    } finally {
      await proxy.stop();
    }
  });

  it('rewrites a PATCH status (ECR 201) and redirects a blob to another host, recording whether credentials came along', async () => {
    const basic = { authorization: `Basic ${Buffer.from('alice:alice-secret').toString('base64')}` };
    const elsewhere = await startProxy(registry.url);
    // localhost and 127.0.0.1 are different hosts to a client: a redirect between them must drop credentials.
    const front = await startProxy(registry.url, {
      faults: [
        { method: 'PATCH', fault: { kind: 'rewrite-status', status: 201 } },
        { method: 'GET', path: '/blobs/sha256:', fault: { kind: 'redirect', location: `http://localhost:${elsewhere.port}/v2/cache/im/blobs/DIGEST` } },
      ],
    });
    try {
      const start = await call(`${front.url}/v2/cache/p/blobs/uploads/`, { method: 'POST', headers: basic });
      const patch = await call(String(start.headers.location), { method: 'PATCH', body: Buffer.alloc(10), headers: { ...basic, 'content-type': 'application/octet-stream' } });
      assert.equal(patch.status, 201);
      assert.equal(patch.headers.range, '0-9');
      const layer = biggestLayer(IMAGE_MANIFEST);
      const redirected = await call(`${front.url}/v2/cache/im/blobs/${layer.digest}`, { headers: basic });
      assert.equal(redirected.status, 307);
      assert.equal(redirected.headers.location, `http://localhost:${elsewhere.port}/v2/cache/im/blobs/DIGEST`);
      await call(String(redirected.headers.location).replace('DIGEST', layer.digest));
      assert.deepEqual(elsewhere.requests().map((r) => [r.method, r.authorization]), [['GET', false]]);
      assert.equal(front.requests().at(-1)!.authorization, true);
    } finally {
      await front.stop();
      await elsewhere.stop();
    }
  });
});

describe('forward proxy (HTTPS_PROXY)', () => {
  let ca: TestCA;
  let registry: RunningRegistry;
  before(async () => {
    ca = await makeTestCA();
    registry = await startRegistry({ tls: ca });
  });
  after(async () => {
    await registry?.stop();
    ca?.dispose();
  });

  it('tunnels CONNECT and forwards absolute-URI requests, counting both', async () => {
    const fwd = await startForwardProxy();
    const plain = await startRegistry();
    try {
      const script = [
        "const http = require('node:http'); const tls = require('node:tls'); const fs = require('node:fs');",
        `const proxy = new URL(${JSON.stringify(fwd.url)}); const target = ${JSON.stringify(registry.host)};`,
        "http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target }).on('connect', (res, socket) => {",
        `  const s = tls.connect({ socket, servername: 'localhost', ca: fs.readFileSync(${JSON.stringify(ca.caCert)}) }, () => {`,
        "    s.write('GET /v2/ HTTP/1.1\\r\\nHost: ' + target + '\\r\\nConnection: close\\r\\n\\r\\n'); });",
        "  let out = ''; s.on('data', (d) => (out += d)); s.on('end', () => console.log(out.split('\\r\\n')[0]));",
        '}).end();',
      ].join('\n');
      // Asynchronously: the forward proxy runs in this process and must keep answering.
      const tunnel = await runAsync(process.execPath, ['-e', script]);
      assert.equal(tunnel.stdout.trim(), 'HTTP/1.1 200 OK', tunnel.stderr);
      const viaProxy = await call(`${fwd.url}/`, { headers: {} }).catch(() => undefined);
      assert.equal(viaProxy?.status, 400, 'a non-absolute request is refused');
      const absolute = await new Promise<number>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port: fwd.port, path: `${plain.url}/v2/`, agent: false }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.equal(absolute, 200);
      const seen = fwd.requests();
      assert.equal(seen[0].method, 'CONNECT');
      assert.equal(seen[0].target, registry.host);
      assert.ok(seen[0].bytesIn > 0 && seen[0].bytesOut > 0);
      assert.deepEqual([seen[2].method, seen[2].target, seen[2].status], ['GET', `${plain.url}/v2/`, 200]);
    } finally {
      await fwd.stop();
      await plain.stop();
    }
  });
});

describe('nginx front', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry?.stop());

  it("answers nginx's own 413 for a body over client_max_body_size and passes smaller ones", async () => {
    const nginx = await startNginx({ upstream: registry.url, clientMaxBodySize: '1k' });
    try {
      const start = await call(`${nginx.url}/v2/cache/n/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202);
      const location = new URL(String(start.headers.location), nginx.url).toString();
      assert.ok(location.startsWith(nginx.url), `nginx forwards the Host header, so Location stays on nginx: ${location}`);
      const big = await call(location, { method: 'PATCH', body: Buffer.alloc(4096, 1), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(big.status, 413);
      assert.match(big.body.toString(), /413 Request Entity Too Large/);
      const small = await call(location, { method: 'PATCH', body: Buffer.alloc(512, 1), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(small.status, 202);
      assert.equal(small.headers.range, '0-511');
    } finally {
      await nginx.stop();
    }
  });
});
