/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY through a real forward proxy. Loopback is never proxied (Go's
 * rule), so the registry is reached on this machine's own non-loopback address through a small TCP
 * relay; the proxy's log shows the CONNECT tunnel and the absolute-URI requests.
 */
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startForwardProxy, startRegistry } from '../../helpers/registry/index';
import type { ForwardProxy, RunningRegistry } from '../../helpers/registry/index';

const layout = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

/** Relays TCP from `address:random port` to the registry's loopback port. */
async function relay(address: string, targetPort: number): Promise<{ server: Server; host: string }> {
  const server = createServer((socket) => {
    const up = connect(targetPort, '127.0.0.1');
    socket.pipe(up).pipe(socket);
    socket.on('error', () => up.destroy());
    up.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return { server, host: `${address}:${(server.address() as AddressInfo).port}` };
}

describe('proxies', { skip: external ? false : 'no non-loopback IPv4 address on this machine' }, () => {
  let tlsReg: RunningRegistry;
  let plainReg: RunningRegistry;
  let proxy: ForwardProxy;
  let tlsHost: string;
  let plainHost: string;
  const servers: Server[] = [];
  before(async () => {
    tlsReg = await startRegistry({ tls: true });
    plainReg = await startRegistry();
    await pushFixture(tlsReg, layout, 'cache:latest');
    await pushFixture(plainReg, layout, 'cache:latest');
    proxy = await startForwardProxy();
    const a = await relay(external!, tlsReg.port);
    const b = await relay(external!, plainReg.port);
    servers.push(a.server, b.server);
    tlsHost = a.host;
    plainHost = b.host;
  });
  after(async () => {
    for (const s of servers) s.close();
    await proxy?.stop();
    await tlsReg?.stop();
    await plainReg?.stop();
  });

  it('tunnels HTTPS through HTTPS_PROXY with CONNECT', async () => {
    // The test CA's certificate names 127.0.0.1, not the relay address: this registry is marked insecure.
    const c = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url }, insecureRegistries: [tlsHost], certsDirs: [] });
    const m = await c.getManifest(`${tlsHost}/cache:latest`);
    c.close();
    assert.ok(m.bytes.length > 0);
    assert.deepEqual([...new Set(proxy.requests().map((r) => `${r.method} ${r.target}`))], [`CONNECT ${tlsHost}`]);
  });

  it('sends plain HTTP through HTTP_PROXY with absolute URIs (insecure registry), and NO_PROXY bypasses it', async () => {
    const before = proxy.requests().length;
    const c = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url }, insecureRegistries: [plainHost] });
    await c.getManifest(`${plainHost}/cache:latest`);
    c.close();
    const seen = proxy.requests().slice(before);
    assert.ok(seen.some((r) => r.method === 'GET' && r.target === `http://${plainHost}/v2/cache/manifests/latest`), JSON.stringify(seen));
    const after = proxy.requests().length;
    const bypass = new RegistryClient({ credentials: new StaticCredentialStore(), env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: external! }, insecureRegistries: [plainHost] });
    await bypass.getManifest(`${plainHost}/cache:latest`);
    bypass.close();
    assert.equal(proxy.requests().length, after);
  });
});
