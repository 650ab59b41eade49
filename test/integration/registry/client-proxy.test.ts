/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY through a real forward proxy. Loopback is never proxied (Go's
 * rule), so the registries are named `*.cachescope.test`: the proxy maps those names to 127.0.0.1
 * when it dials, and the direct (NO_PROXY) client is given the same mapping as its lookup. No
 * traffic leaves loopback; the proxy's log shows the CONNECT tunnel and the absolute-URI requests.
 */
import assert from 'node:assert/strict';
import type { LookupFunction } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startForwardProxy, startRegistry } from '../../helpers/registry/index';
import type { ForwardProxy, RunningRegistry } from '../../helpers/registry/index';

const layout = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const TEST_DOMAIN = '.cachescope.test';
const toLoopback = (host: string) => (host.endsWith(TEST_DOMAIN) ? '127.0.0.1' : host);
/** Resolves only the test names (to loopback); anything else fails instead of reaching a resolver. */
const testLookup = ((hostname: string, options: unknown, callback: (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void) => {
  const cb = typeof options === 'function' ? (options as typeof callback) : callback;
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (!hostname.endsWith(TEST_DOMAIN)) return cb(Object.assign(new Error(`test lookup: ${hostname} is not a test name`), { code: 'ENOTFOUND' }), '');
  if (all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

describe('proxies', () => {
  let tlsReg: RunningRegistry;
  let plainReg: RunningRegistry;
  let proxy: ForwardProxy;
  let tlsHost: string;
  let plainHost: string;
  before(async () => {
    tlsReg = await startRegistry({ tls: true });
    plainReg = await startRegistry();
    await pushFixture(tlsReg, layout, 'cache:latest');
    await pushFixture(plainReg, layout, 'cache:latest');
    proxy = await startForwardProxy({ resolve: toLoopback });
    tlsHost = `tls-registry${TEST_DOMAIN}:${tlsReg.port}`;
    plainHost = `plain-registry${TEST_DOMAIN}:${plainReg.port}`;
  });
  after(async () => {
    await proxy?.stop();
    await tlsReg?.stop();
    await plainReg?.stop();
  });

  it('tunnels HTTPS through HTTPS_PROXY with CONNECT', async () => {
    // The test CA's certificate names 127.0.0.1, not the test name: this registry is marked insecure.
    const c = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url }, insecureRegistries: [tlsHost], certsDirs: [], lookup: testLookup });
    const m = await c.getManifest(`${tlsHost}/cache:latest`);
    c.close();
    assert.ok(m.bytes.length > 0);
    assert.deepEqual([...new Set(proxy.requests().map((r) => `${r.method} ${r.target}`))], [`CONNECT ${tlsHost}`]);
  });

  it('sends plain HTTP through HTTP_PROXY with absolute URIs (insecure registry), and NO_PROXY bypasses it', async () => {
    const before = proxy.requests().length;
    const c = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url }, insecureRegistries: [plainHost], lookup: testLookup });
    await c.getManifest(`${plainHost}/cache:latest`);
    c.close();
    const seen = proxy.requests().slice(before);
    assert.ok(seen.some((r) => r.method === 'GET' && r.target === `http://${plainHost}/v2/cache/manifests/latest`), JSON.stringify(seen));
    const after = proxy.requests().length;
    const bypass = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: TEST_DOMAIN }, insecureRegistries: [plainHost], lookup: testLookup });
    const direct = await bypass.getManifest(`${plainHost}/cache:latest`);
    bypass.close();
    assert.ok(direct.bytes.length > 0, 'reached directly');
    assert.equal(proxy.requests().length, after, 'NO_PROXY kept the request away from the proxy');
  });
});
