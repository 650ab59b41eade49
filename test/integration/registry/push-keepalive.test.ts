/**
 * A push keeps its connections: every answer is read to its end, so each of the 4 lanes reuses one
 * keep-alive connection for its HEAD, POST, PATCHes and PUTs, instead of the registry accepting a
 * new connection for nearly every request (which cost distribution ~0.3 s of CPU per GiB pushed on
 * loopback). Counted by a plain TCP forwarder in front of a real distribution 2.8.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;

/** Forwards TCP to `port` on loopback, counting the connections it accepts. */
async function connectionCounter(port: number): Promise<{ host: string; accepted: () => number; stop: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('push connections', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let layout: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-keepalive-'));
    registry = await startRegistry();
    layout = join(tmp, 'cache');
    // 12 layers: most fit one PUT, the big ones go as 2 MiB PATCHes.
    await generateCache(layout, { seed: 'push-keepalive', stages: 2, layersPerStage: 6, layers: 12, layerBytes: 3 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a push over 4 lanes uses a handful of connections, not one per request', async () => {
    const counter = await connectionCounter(registry.port);
    const client = new RegistryClient({ env: {} });
    try {
      const src = await openCacheSource(layout);
      const repo = 'keepalive/cache';
      const result = await runExport({ opened: src, dest: 'unused', options: { tag: 'c' }, registry: { ...parseRegistryDestination(`${counter.host}/${repo}:c`)!, client, stateDir: join(tmp, 'state'), historyFile: null, chunkSize: 2 * MiB }, verifyMemo: null });
      assert.ok(result.counts.written >= 10, JSON.stringify(result.counts));
      const requests = (await registry.settledRequests()).filter((q) => q.path.startsWith('/v2/keepalive/'));
      assert.ok(requests.length >= 3 * result.counts.written, `${requests.length} requests`);
      // 4 lanes, 4 connections (a few more if one is closed between requests); not one per request.
      assert.ok(counter.accepted() <= 8, `the registry accepted ${counter.accepted()} connections for ${requests.length} requests`);
    } finally {
      client.close();
      await counter.stop();
    }
  });
});
