/**
 * Credentials go only to the registry's own origin. A real registry (htpasswd Basic, and Bearer
 * tokens from a token server on another port) sits behind the counting proxy; a "trap" host on
 * another origin answers 401 Basic or 401 Bearer (with a realm it serves) and records every byte it
 * gets. The trap is reached three ways: an upload Location the proxy points at it, an upload Location
 * read back from a saved state file, and a blob read redirected to it. It must never see an
 * Authorization header, the password, its Basic encoding, the user name or a token.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { uploadStateFile } from '../../../electron/engine/registry/uploads';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../../helpers/registry/index';
import { TEST_DOMAIN, startCredentialTrap, testLookup } from './credential-trap';
import type { TrapMode } from './credential-trap';

const USER = 'alice';
const PASSWORD = 'cross-host-Secret-9f2c1';
const SECRETS = [PASSWORD, USER, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), 'eyJ'];
const AUTHS = ['htpasswd', 'token'] as const;
const TRAPS: TrapMode[] = ['basic', 'bearer'];

interface Blob {
  file: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

let dir: string;

async function makeBlob(size: number): Promise<Blob> {
  // Every byte has its high bit set: the secrets are ASCII, so a random body can never contain one
  // (with plain random bytes, 'eyJ' turned up in about one run in forty and failed the leak check).
  const bytes = randomBytes(size);
  for (let i = 0; i < bytes.length; i++) bytes[i] |= 0x80;
  const file = join(dir, `blob-${size}-${bytes.readUInt32BE(0)}`);
  await writeFile(file, bytes);
  return { file, bytes, size, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

function clientFor(registryHost: string): RegistryClient {
  // env {}: no proxies or docker config from the machine; retries off so each 401 is seen once.
  return new RegistryClient({
    credentials: new StaticCredentialStore({ [registryHost]: { username: USER, password: PASSWORD } }),
    env: {},
    certsDirs: [],
    lookup: testLookup,
    retry: { maxRetries: 0 },
  });
}

/**
 * The harness's cross-host redirect imitation for blob GETs, only once the request is authenticated:
 * a real registry checks auth before it redirects, so an anonymous GET still gets the registry's 401.
 */
function redirectBlobs(location: string): FaultFn {
  return (req) => (req.method === 'GET' && req.path.includes('/blobs/sha256:') && req.headers.authorization ? { kind: 'redirect', location } : undefined);
}

const registries = new Map<string, RunningRegistry>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cachescope-cross-host-'));
  for (const auth of AUTHS) registries.set(auth, await startRegistry({ auth, users: { [USER]: PASSWORD } }));
});
after(async () => {
  for (const r of registries.values()) await r.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('an upload Location on another host gets no credentials', () => {
  for (const auth of AUTHS) {
    for (const mode of TRAPS) {
      for (const form of ['monolithic', 'chunked'] as const) {
        it(`${auth} registry, trap answers 401 ${mode}, ${form} upload: followed without Authorization, and the 401 is an error naming the host`, async () => {
          const trap = await startCredentialTrap('storage', mode);
          // Every upload start (POST) is answered by the real registry, but its Location points at the trap.
          const proxy = await startProxy(registries.get(auth)!, { faults: [{ method: 'POST', path: '/blobs/uploads/', times: Infinity, fault: { kind: 'relocate', origin: trap.origin } }] });
          const client = clientFor(proxy.host);
          try {
            const blob = await makeBlob(form === 'chunked' ? 200_000 : 50_000);
            const repo = { registry: proxy.host, repository: `cache/${auth}-${mode}-${form}` };
            const err = await client.pushBlob(repo, blob, blob.file, form === 'chunked' ? { chunkSize: 64 << 10, monolithicMax: 0 } : {}).then(
              () => assert.fail('the push went through a host that refuses anonymous uploads'),
              (e: Error) => e,
            );
            // First what matters most: nothing secret reached the other host.
            assert.deepEqual(trap.leaks(SECRETS), []);
            assert.match(err.message, new RegExp(`${trap.host.replace(/\./g, '\\.')}.*credentials for ${proxy.host.replace(/\./g, '\\.')} are not sent to ${trap.host.replace(/\./g, '\\.')}`));
            for (const s of SECRETS.slice(0, 3)) assert.ok(!err.message.includes(s), 'the error carries no credential');
            // The Location was followed (the trap saw the blob request) but never with credentials.
            const seen = trap.requests();
            assert.ok(seen.some((r) => r.method === (form === 'chunked' ? 'PATCH' : 'PUT')), `trap saw ${JSON.stringify(seen.map((r) => r.method))}`);
            assert.deepEqual(trap.leaks(SECRETS), []);
            assert.ok(!seen.some((r) => r.url.startsWith('/token')), 'no token was asked of the trap');
            // The registry itself did get credentials for the upload start.
            assert.ok(proxy.requests().some((r) => r.method === 'POST' && r.authorization));
          } finally {
            client.close();
            await proxy.stop();
            await trap.stop();
          }
        });
      }
    }
  }
});

describe('a saved upload state whose Location points at another host', () => {
  for (const auth of AUTHS) {
    for (const mode of TRAPS) {
      it(`${auth} registry, trap answers 401 ${mode}: the resume asks it anonymously, then the blob starts over on the registry`, async () => {
        const trap = await startCredentialTrap('elsewhere', mode);
        const registry = registries.get(auth)!;
        const client = clientFor(registry.host);
        const stateDir = join(dir, `state-${auth}-${mode}`);
        try {
          const blob = await makeBlob(300_000);
          const repo = { registry: registry.host, repository: `cache/resume-${auth}-${mode}` };
          const file = uploadStateFile(stateDir, repo, blob.digest);
          await mkdir(dirname(file), { recursive: true });
          await writeFile(file, JSON.stringify({ location: `${trap.origin}/v2/${repo.repository}/blobs/uploads/5e1f?_state=abc`, offset: 65_536, size: blob.size }));
          const pushed = await client.pushBlob(repo, blob, blob.file, { stateDir, chunkSize: 64 << 10 });
          assert.equal(pushed.outcome, 'uploaded');
          assert.equal(pushed.resumedFrom, null);
          assert.deepEqual(await client.headBlob(repo, blob.digest), { digest: blob.digest, size: blob.size });
          assert.deepEqual(trap.leaks(SECRETS), []);
          assert.deepEqual(trap.requests().map((r) => r.method), ['GET'], 'the trap was asked once where the upload stands');
        } finally {
          client.close();
          await trap.stop();
        }
      });
    }
  }
});

describe('blob reads redirected to another host', () => {
  let storage: RunningRegistry;
  let storageProxy: CountingProxy;
  before(async () => {
    storage = await startRegistry();
    storageProxy = await startProxy(storage.url);
  });
  after(async () => {
    await storageProxy?.stop();
    await storage?.stop();
  });

  for (const auth of AUTHS) {
    it(`${auth} registry redirects a blob to storage on another host: read and verified, the storage host sees no credentials`, async () => {
      const registry = registries.get(auth)!;
      const blob = await makeBlob(120_000);
      const repo = { registry: registry.host, repository: `cache/read-${auth}` };
      const uploader = clientFor(registry.host);
      const plain = clientFor(storage.host);
      try {
        await uploader.pushBlob(repo, blob, blob.file);
        await plain.pushBlob({ registry: storage.host, repository: repo.repository }, blob, blob.file);
      } finally {
        uploader.close();
        plain.close();
      }
      const storageHost = `storage${TEST_DOMAIN}:${storageProxy.port}`;
      const front = await startProxy(registry, { faults: redirectBlobs(`http://${storageHost}/v2/${repo.repository}/blobs/${blob.digest}`) });
      const client = clientFor(front.host);
      storageProxy.clear();
      try {
        const got = await client.readBlob({ registry: front.host, repository: repo.repository }, blob, { maxBytes: 1 << 20 });
        assert.ok(got.equals(blob.bytes));
        assert.ok(front.requests().some((r) => r.method === 'GET' && r.path.includes('/blobs/') && r.authorization), 'the registry got credentials');
        assert.deepEqual(storageProxy.requests().map((r) => [r.method, r.authorization]), [['GET', false]]);
        for (const r of storageProxy.requests()) for (const s of SECRETS) assert.ok(!JSON.stringify(r.headers).includes(s) && !r.path.includes(s));
      } finally {
        client.close();
        await front.stop();
      }
    });

    for (const mode of TRAPS) {
      it(`${auth} registry redirects a blob to a host that answers 401 ${mode}: an error naming that host, and no credentials or token exchange for it`, async () => {
        const registry = registries.get(auth)!;
        const trap = await startCredentialTrap('cdn', mode);
        const repo = { registry: registry.host, repository: `cache/trap-read-${auth}-${mode}` };
        const blob = await makeBlob(10_000);
        const front = await startProxy(registry, { faults: redirectBlobs(`${trap.origin}/v2/${repo.repository}/blobs/${blob.digest}`) });
        const client = clientFor(front.host);
        try {
          // As opening a cache does: the registry's own challenge is known before any blob is read.
          assert.equal((await client.ping(front.host)).authenticated, true);
          const err = await client.readBlob({ registry: front.host, repository: repo.repository }, blob, { maxBytes: 1 << 20 }).then(
            () => assert.fail('read through a host that refuses anonymous reads'),
            (e: Error) => e,
          );
          assert.deepEqual(trap.leaks(SECRETS), []);
          assert.ok(err.message.includes(trap.host) && /credentials for .* are not sent/.test(err.message), err.message);
          assert.ok(trap.requests().length > 0, 'the redirect was followed');
          assert.ok(!trap.requests().some((r) => r.url.startsWith('/token')), 'no token was asked of the trap');
        } finally {
          client.close();
          await front.stop();
          await trap.stop();
        }
      });
    }
  }
});
