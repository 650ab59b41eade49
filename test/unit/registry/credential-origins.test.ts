/**
 * Where credentials may go: a registry's own origins (Docker Hub's aliases answer on one API host),
 * a token realm named by the registry's own challenge (even on another host), and nowhere a token
 * server's redirect points elsewhere. Also: an upload state file can never be named outside its folder.
 */
import assert from 'node:assert/strict';
import { join, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { registryOrigins } from '../../../electron/engine/registry/registry-origins';
import { uploadStateFile } from '../../../electron/engine/registry/uploads';
import { serve } from './local-server';

const REFRESH = 'identity-refresh-7d1e0b';
const HEX = 'a'.repeat(64);

describe('registry origins', () => {
  it('names the API host of the registry, over plain HTTP only where allowed', () => {
    assert.deepEqual(registryOrigins('docker.io', false), ['https://registry-1.docker.io:443']);
    assert.deepEqual(registryOrigins('index.docker.io', false), ['https://registry-1.docker.io:443']);
    assert.deepEqual(registryOrigins('registry.example', false), ['https://registry.example:443']);
    assert.deepEqual(registryOrigins('127.0.0.1:5000', true), ['https://127.0.0.1:5000', 'http://127.0.0.1:5000']);
    assert.deepEqual(registryOrigins('[::1]:5000', true), ['https://[::1]:5000', 'http://[::1]:5000']);
  });
});

describe('token realm', () => {
  it('sends the identity token to the realm the registry named, on another port (as Docker Hub uses auth.docker.io)', async () => {
    const realm = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'good', expires_in: 300 }));
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization === 'Bearer good') return void res.writeHead(200).end('{}');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="reg"` }).end();
    });
    const client = new RegistryClient({ credentials: new StaticCredentialStore({ [registry.host]: { identityToken: REFRESH } }), env: {}, certsDirs: [], retry: { maxRetries: 0 } });
    try {
      assert.equal((await client.ping(registry.host)).authenticated, true);
      assert.deepEqual(realm.seen.map((r) => r.method), ['POST']);
    } finally {
      client.close();
      await registry.close();
      await realm.close();
    }
  });

  it("does not carry the OAuth POST's form (the refresh token) along a redirect to another host", async () => {
    const bodies: string[] = [];
    const other = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'stolen' }));
      });
    });
    const realm = await serve((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${other.url}/token` }).end();
    });
    const registry = await serve((req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url}/token",service="reg"` }).end();
    });
    const client = new RegistryClient({ credentials: new StaticCredentialStore({ [registry.host]: { identityToken: REFRESH } }), env: {}, certsDirs: [], retry: { maxRetries: 0 } });
    try {
      const err = await client.ping(registry.host).then(() => assert.fail('ping passed with a token from elsewhere'), (e: Error) => e);
      assert.deepEqual(other.seen, [], `the other host got ${JSON.stringify(bodies)}`);
      assert.ok(err.message.includes(other.host) && /credentials are not sent to another host/.test(err.message) && !err.message.includes(REFRESH), err.message);
    } finally {
      client.close();
      await registry.close();
      await realm.close();
      await other.close();
    }
  });
});

describe('upload state files', () => {
  const dir = join('/tmp', 'state-root');
  const repo = { registry: '127.0.0.1:5000', repository: 'team/cache' };

  it('lives under the folder, named by the parsed digest', () => {
    assert.equal(uploadStateFile(dir, repo, `sha256:${HEX}`), join(dir, '127.0.0.1_5000', 'team', 'cache', `sha256-${HEX}.json`));
  });

  it('refuses digests that are not digests, so no path can be built from them', () => {
    for (const bad of [`sha256:../../../../etc/${HEX.slice(16)}`, '../../x', `sha256:${HEX.toUpperCase()}`, `sha256/..:${HEX}`, 'sha256:abc', `md5:${HEX}`, '']) {
      assert.throws(() => uploadStateFile(dir, repo, bad), (e: unknown) => e instanceof CacheError && e.code === 'invalid-options' && /digest/.test(e.message), bad);
    }
  });

  it('refuses a registry or repository that would climb out of the folder', () => {
    for (const r of [{ registry: '..', repository: 'x' }, { registry: 'r', repository: '../../../etc' }, { registry: 'r', repository: 'a/./b' }, { registry: 'r', repository: '/abs' }]) {
      assert.throws(() => uploadStateFile(dir, r, `sha256:${HEX}`), (e: unknown) => e instanceof CacheError && e.code === 'invalid-options', JSON.stringify(r));
    }
    // Whatever is accepted stays inside.
    const ok = resolve(uploadStateFile(dir, { registry: 'a..b', repository: 'x..y/z' }, `sha256:${HEX}`));
    assert.ok(ok.startsWith(resolve(dir) + sep));
  });
});
