/**
 * TLS as docker users expect it, against a real HTTPS registry with a self-signed CA: certs.d CAs
 * and client certificates, NODE_EXTRA_CA_CERTS (in a child process, as Node reads it at start),
 * no silent downgrade to plain HTTP on a certificate error, and `registry.insecure=true`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { makeTestCA, pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry, TestCA } from '../../helpers/registry/index';

const layout = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const run = promisify(execFile);

async function inChild(env: Record<string, string>, ...args: string[]): Promise<{ ok: boolean; digest?: string; code?: string; message?: string }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO, 'test/integration/registry/child-get-manifest.ts'), ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  return JSON.parse(stdout);
}

describe('TLS registries', () => {
  let reg: RunningRegistry;
  let other: TestCA;
  let digest: string;
  before(async () => {
    reg = await startRegistry({ tls: true });
    other = await makeTestCA();
    digest = (await pushFixture(reg, layout, 'cache:latest')).digest;
  });
  after(async () => {
    await reg?.stop();
    await other?.dispose();
  });

  it('trusts a CA from certs.d/<host:port>/ca.crt', async () => {
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: [reg.ca!.certsDir(reg.host)] });
    const m = await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal(m.digest, digest);
    assert.equal((await client.ping(reg.host)).base, `https://${reg.host}`);
    client.close();
  });

  it('refuses an unknown CA with a clear error and never falls back to plain HTTP', async () => {
    reg.clearRequests();
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: [], retry: { maxRetries: 0 } });
    await assert.rejects(client.getManifest(`${reg.host}/cache:latest`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'io');
      assert.match(err.message, /GET manifest 127\.0\.0\.1:\d+\/cache:latest \(https:\/\/127\.0\.0\.1:\d+\/v2\/cache\/manifests\/latest\): .*(self[- ]signed|unable to verify|SELF_SIGNED|UNABLE_TO)/i);
      return true;
    });
    assert.deepEqual(await reg.settledRequests(), []);
    client.close();
  });

  it('trusts NODE_EXTRA_CA_CERTS, also when certs.d adds another CA for the same host', async () => {
    const plain = await inChild({ NODE_EXTRA_CA_CERTS: reg.ca!.extraCaFile() }, `${reg.host}/cache:latest`);
    assert.deepEqual(plain, { ok: true, digest });
    // certs.d makes us pass `ca` explicitly: the NODE_EXTRA_CA_CERTS CA must still be in it.
    const mixed = await inChild({ NODE_EXTRA_CA_CERTS: reg.ca!.extraCaFile() }, `${reg.host}/cache:latest`, other.certsDir(reg.host));
    assert.deepEqual(mixed, { ok: true, digest });
    const without = await inChild({}, `${reg.host}/cache:latest`, other.certsDir(reg.host));
    assert.equal(without.ok, false);
  });

  it('skips verification only for a registry marked registry.insecure=true', async () => {
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: [], insecureRegistries: [reg.host] });
    assert.equal((await client.getManifest(`${reg.host}/cache:latest`)).digest, digest);
    client.close();
  });
});

describe('TLS client certificates from certs.d', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ tls: true, tlsClientAuth: true });
  });
  after(async () => {
    await reg?.stop();
  });

  it('presents client.cert/client.key to a registry that requires them', async () => {
    const withCert = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: [reg.ca!.certsDir(reg.host, { client: true })] });
    const ping = await withCert.ping(reg.host);
    assert.equal(ping.base, `https://${reg.host}`);
    withCert.close();
    const without = new RegistryClient({ credentials: new StaticCredentialStore(), certsDirs: [reg.ca!.certsDir(reg.host)], retry: { maxRetries: 0 } });
    // A TLS failure never downgrades to plain HTTP, not even on loopback.
    await assert.rejects(without.ping(reg.host), (err: unknown) => err instanceof CacheError && err.code === 'io' && !/HTTP request to an HTTPS server/.test(err.message));
    without.close();
  });
});
