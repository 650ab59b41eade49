/**
 * The service's registry wiring against a real distribution 2.8 (htpasswd): startExport to a
 * registry reference pushes with the service's own env (its docker config holds the only
 * credentials), refuses a bad reference with the CLI's words, previewExport reads the destination
 * the same way, and every registry connection closes when its job ends, when its cache is closed
 * and when the service is disposed (a TCP relay in front of the registry counts open connections).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseExportArgs } from '../../../electron/cli/export-command';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { createService } from '../../../electron/engine/service';
import type { Service } from '../../../electron/engine/service';
import type { ExportFinished } from '../../../shared/contract/index';
import type { ImageExportFinished } from '../../../shared/image/image-export-wire';
import type { ExportProgress, LayerState } from '../../../shared/export/types';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const PASSWORD = 'svc-Registry-s3cret';
const SOURCE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

/** A plain TCP relay to the registry that knows how many client connections are open. */
interface Relay {
  host: string;
  open(): number;
  /** Resolves once no connection is open (the test's timeout fails a wait that never ends). */
  drained(): Promise<void>;
  stop(): Promise<void>;
}

async function startRelay(port: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const waiters: (() => void)[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const upstream = createConnection({ host: '127.0.0.1', port });
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      upstream.destroy();
      socket.destroy();
      if (sockets.delete(socket) && sockets.size === 0) for (const w of waiters.splice(0)) w();
    };
    socket.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    host: `127.0.0.1:${address.port}`,
    open: () => sockets.size,
    drained: () => new Promise<void>((resolve) => (sockets.size === 0 ? resolve() : waiters.push(resolve))),
    async stop() {
      for (const s of sockets) s.destroy();
      waiters.splice(0);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the service and registry destinations', () => {
  let registry: RunningRegistry;
  let relay: Relay;
  let tmp: string;
  let service: Service;
  const events: { name: string; payload: unknown }[] = [];
  const waiters: (() => void)[] = [];
  const savedXdg = process.env.XDG_CACHE_HOME;

  const finished = (jobId: string): Promise<ExportFinished> =>
    new Promise((resolve) => {
      const look = () => {
        const hit = events.find((e) => e.name === 'exportFinished' && (e.payload as ExportFinished).jobId === jobId);
        if (hit) resolve(hit.payload as ExportFinished);
        else waiters.push(look);
      };
      look();
    });
  const statesSeen = (jobId: string): Set<LayerState> =>
    new Set(events.filter((e) => e.name === 'exportProgress' && (e.payload as ExportProgress).jobId === jobId).flatMap((e) => (e.payload as ExportProgress).layers.map((l) => l.state)));
  const reader = () => new RegistryClient({ credentials: new StaticCredentialStore({ [registry.host]: { username: 'alice', password: PASSWORD } }) });

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-svc-push-'));
    process.env.XDG_CACHE_HOME = join(tmp, 'process-cache');
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
    relay = await startRelay(registry.port);
    await pushFixture(registry, join(FIXTURES, 'buildkit-v0.24-index-gzip'), 'team/src:main', { username: 'alice', password: PASSWORD });
    // The credentials live only in the service's env: the process's own docker config has none.
    const dockerConfig = join(tmp, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [relay.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
    service = createService({
      startupSource: null,
      mode: 'browser',
      emit: (name, payload) => {
        events.push({ name, payload });
        for (const w of waiters.splice(0)) w();
      },
      env: { ...process.env, DOCKER_CONFIG: dockerConfig, XDG_CACHE_HOME: join(tmp, 'service-cache') },
    });
  });
  after(async () => {
    await service?.dispose();
    await relay?.stop();
    await registry?.stop();
    if (savedXdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = savedXdg;
    await rm(tmp, { recursive: true, force: true });
  });

  it('startExport to host:port/repo:tag pushes with the service env credentials and closes its client at the end', { timeout: 60_000 }, async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    const { jobId } = await service.startExport({ cacheId, dest: `${relay.host}/team/cache:t1`, options: {} });
    const outcome = await finished(jobId);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.equal(outcome.result.dest, `${relay.host}/team/cache`);
    assert.equal(outcome.result.tag, 't1');
    const seen = statesSeen(jobId);
    assert.ok(seen.has('done'), `states seen: ${[...seen].join(', ')}`);
    const client = reader();
    try {
      const m = await client.getManifest({ registry: registry.host, repository: 'team/cache', tag: 't1' });
      assert.equal(m.digest, outcome.result.descriptor!.digest);
    } finally {
      client.close();
    }
    // The push's own connections end with its job.
    await relay.drained();
    await service.closeCache({ cacheId });
  });

  it("takes BuildKit's type=registry,ref=…,registry.insecure=true, and a second push finds every layer there", { timeout: 60_000 }, async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    const { jobId } = await service.startExport({ cacheId, dest: `type=registry,ref=${relay.host}/team/cache:t1,registry.insecure=true`, options: {} });
    const outcome = await finished(jobId);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const last = events.filter((e) => e.name === 'exportProgress' && (e.payload as ExportProgress).jobId === jobId).at(-1)!.payload as ExportProgress;
    assert.deepEqual([...new Set(last.layers.map((l) => l.state))], ['exists']);
    await service.closeCache({ cacheId });
  });

  it("refuses a bad reference at once with the CLI's words, in startExport and previewExport", async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    for (const dest of [`${relay.host}/Team/cache:t1`, `${relay.host}/team/cache@sha256:${'a'.repeat(64)}`, `type=registry,ref=${relay.host}/team/cache,registry.insecure=maybe`]) {
      const cli = parseExportArgs([SOURCE, dest]);
      assert.equal(typeof cli, 'string', `the CLI refuses ${dest}`);
      await assert.rejects(service.startExport({ cacheId, dest, options: {} }), (err: Error & { details?: { field?: string } }) => {
        assert.equal(err.message, cli);
        assert.equal(err.details?.field, 'dest');
        return true;
      });
      await assert.rejects(service.previewExport({ cacheId, options: {}, dest }), (err: Error) => err.message === cli);
    }
    assert.equal(events.filter((e) => e.name === 'exportFinished').length, 2, 'no job was started for a bad reference');
    await service.closeCache({ cacheId });
  });

  it('previewExport with a registry dest takes the tag the reference names', async () => {
    const { cacheId } = await service.openCache({ source: SOURCE });
    assert.equal((await service.previewExport({ cacheId, options: {}, dest: `${relay.host}/team/cache:nightly` })).tag, 'nightly');
    assert.equal((await service.previewExport({ cacheId, options: {}, dest: `${relay.host}/team/cache` })).tag, 'latest');
    assert.equal((await service.previewExport({ cacheId, options: { tag: 'v2' }, dest: join(tmp, 'folder') })).tag, 'v2');
    await assert.rejects(service.previewExport({ cacheId, options: { tag: 'v2' }, dest: `${relay.host}/team/cache:v1` }), /two tags: "v1" after the destination and "v2"/);
    await service.closeCache({ cacheId });
  });

  it("closeCache closes a registry cache's connections", { timeout: 30_000 }, async () => {
    await relay.drained();
    const { cacheId } = await service.openCache({ source: `${relay.host}/team/src:main` });
    assert.ok(relay.open() > 0, 'opening kept a pooled connection to the registry');
    assert.deepEqual(await service.closeCache({ cacheId }), { closed: true });
    await relay.drained();
  });

  it('closeCache waits for an image export still reading from the registry cache', { timeout: 60_000 }, async () => {
    const { cacheId, view } = await service.openCache({ source: `${relay.host}/team/src:main` });
    const { jobId } = await service.startImageExport({ cacheId, selection: { layer: view.layers.length - 1 }, dest: join(tmp, 'image-out') });
    await service.closeCache({ cacheId });
    const outcome = await new Promise<ImageExportFinished>((resolve) => {
      const look = () => {
        const hit = events.find((e) => e.name === 'imageExportFinished' && (e.payload as ImageExportFinished).jobId === jobId);
        if (hit) resolve(hit.payload as ImageExportFinished);
        else waiters.push(look);
      };
      look();
    });
    assert.ok(outcome.ok, `the image export finished although its cache was closed meanwhile: ${JSON.stringify(outcome)}`);
    await relay.drained();
  });

  it("closeCache waits for an export still reading from the cache; dispose closes every registry cache's connections", { timeout: 60_000 }, async () => {
    const { cacheId } = await service.openCache({ source: `${relay.host}/team/src:main` });
    const { jobId } = await service.startExport({ cacheId, dest: join(tmp, 'pulled'), options: {} });
    await service.closeCache({ cacheId });
    const outcome = await finished(jobId);
    assert.ok(outcome.ok, `the pull finished although its cache was closed meanwhile: ${JSON.stringify(outcome)}`);
    await relay.drained();

    await service.openCache({ source: `${relay.host}/team/src:main` });
    assert.ok(relay.open() > 0);
    await service.dispose();
    await relay.drained();
  });
});
