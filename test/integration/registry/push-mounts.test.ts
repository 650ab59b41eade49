/**
 * Mount sources of a push, against a real distribution 2.8 behind the counting proxy:
 * - a cache pulled from a registry into a folder, or pushed from it to another repository, carries
 *   `containerd.io/distribution.source.<host>` on its layers (both manifest forms, as BuildKit writes
 *   them); pushed from that folder to another repository, every layer is mounted from the annotated
 *   one and no layer byte goes up;
 * - what this machine pushed before (the push history next to the upload state) is a mount source;
 * - a mount the registry answers 202 (it does not have the blob there) has its session DELETEd and the
 *   blob is uploaded; a local cache exported to a folder keeps BuildKit's exact manifest bytes.
 * The token setup proves a cross-repository mount asks only `pull` on the source, and that a source the
 * account may not read (401) falls back to an upload; so does a mount refused with 403 (strict proxy).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExportOptions, ExportProgress, LayerState } from '../../../shared/export/types';
import type { ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import type { RegistryTarget } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openPushHistory } from '../../../electron/engine/registry/push-history';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES } from '../../helpers/fixtures';
import { imitateRegistry, layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const KEY = 'containerd.io/distribution.source.127.0.0.1';

function finalStates(events: ExportProgress[]): LayerState[] {
  return (events.at(-1)?.layers ?? []).map((l) => l.state);
}

async function manifestLayers(dir: string, digest: string): Promise<{ digest: string; annotations?: Record<string, string> }[]> {
  const m = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as ImageManifest & ImageIndex;
  return m.layers ?? m.manifests.filter((d) => d.mediaType !== 'application/vnd.buildkit.cacheconfig.v0');
}

function layerBytesSent(proxy: CountingProxy): number {
  return proxy
    .requests()
    .filter((r) => r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/uploads/')))
    .reduce((n, r) => n + r.bytesIn, 0);
}

describe('push mount sources (no auth)', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let client: RegistryClient;
  let access: RegistryAccess;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-mounts-'));
    process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'process-cache');
    registry = await startRegistry();
    proxy = await startProxy(registry);
    client = new RegistryClient({ env: {} });
    access = createRegistryAccess({ client: { env: {} }, blobCache: { root: join(tmp, 'blob-cache') } });
  });
  after(async () => {
    client?.close();
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const target = (ref: string, extra: Partial<RegistryTarget> = {}): RegistryTarget => ({ ...parseRegistryDestination(ref)!, client, stateDir: join(tmp, 'uploads'), historyFile: null, ...extra });

  it('a local cache exported to a folder keeps the exact manifest bytes (no annotation added)', async () => {
    const dir = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
    const src = await openCacheSource(dir);
    const out = join(tmp, 'local-copy');
    const r = await runExport({ opened: src, dest: out, options: { tag: 'x' }, verifyMemo: null });
    assert.equal(r.descriptor!.digest, layoutManifest(dir).digest);
    for (const l of await manifestLayers(out, r.descriptor!.digest)) assert.equal(l.annotations?.[KEY], undefined);
  });

  for (const [form, options] of [
    ['image-manifest-gzip', { 'image-manifest': true }],
    ['index-gzip', { 'image-manifest': false }],
  ] as [string, ExportOptions][]) {
    it(`${form}: pulled into a folder, the layers carry the source repository; pushed from there to another repository, every layer is mounted`, async () => {
      await pushFixture(proxy, join(FIXTURES, `buildkit-v0.24-${form}`), `team/src-${form}:v1`);
      const remote = await openCacheSource(`${proxy.host}/team/src-${form}:v1`, { registry: access });
      const folder = join(tmp, `pulled-${form}`);
      const pulled = await runExport({ opened: remote, dest: folder, options: { ...options, tag: 'v1' }, verifyMemo: null });
      const layers = await manifestLayers(folder, pulled.descriptor!.digest);
      assert.ok(layers.length > 0);
      for (const l of layers) assert.equal(l.annotations?.[KEY], `team/src-${form}`, `annotation on ${l.digest}`);

      // The folder is a local source now: only its annotations say where the blobs live.
      const local = await openCacheSource(`${folder}:v1`);
      proxy.clear();
      const events: ExportProgress[] = [];
      const pushed = await runExport({ opened: local, dest: 'unused', options: { ...options, tag: 'v1' }, registry: target(`${proxy.host}/other/dst-${form}:v1`), onProgress: (p) => events.push(p), verifyMemo: null });
      assert.ok(finalStates(events).every((s) => s === 'mounted'), `final states: ${finalStates(events).join(',')}`);
      assert.equal(pushed.counts.mounted, finalStates(events).length);
      assert.ok(layerBytesSent(proxy) < 64 << 10, `only the config goes up, sent ${layerBytesSent(proxy)}`);
      const mounts = proxy.requests().filter((q) => q.method === 'POST' && q.path.includes('mount='));
      assert.ok(mounts.every((q) => q.path.includes(`from=${encodeURIComponent(`team/src-${form}`)}`) && q.status === 201), mounts.map((q) => `${q.path} ${q.status}`).join('\n'));
      // The pushed manifest keeps the annotations (the same bytes as the folder's).
      const back = await client.getManifest(`${proxy.host}/other/dst-${form}:v1`);
      assert.equal(back.digest, pulled.descriptor!.digest);

      // Straight from the registry source to another repository: mounted, and the pushed manifest
      // carries the source repository too (the same manifest as the folder's).
      const direct = await runExport({ opened: remote, dest: 'unused', options: { ...options, tag: 'v1' }, registry: target(`${proxy.host}/other/direct-${form}:v1`), verifyMemo: null });
      assert.equal(direct.descriptor!.digest, pulled.descriptor!.digest);
      const json = JSON.parse((await client.getManifest(`${proxy.host}/other/direct-${form}:v1`)).bytes.toString('utf8')) as ImageManifest & ImageIndex;
      const pushedLayers = json.layers ?? json.manifests.filter((d) => d.mediaType !== 'application/vnd.buildkit.cacheconfig.v0');
      for (const l of pushedLayers) assert.equal(l.annotations?.[KEY], `team/src-${form}`);
    });
  }

  it('what this machine pushed before is a mount source; the history is a bounded file next to the upload state', async () => {
    const dir = join(FIXTURES, 'buildkit-v0.24-uncompressed');
    const src = await openCacheSource(dir);
    const historyFile = join(tmp, 'history', 'push-history.json');
    const first = await runExport({ opened: src, dest: 'unused', options: { tag: 'h' }, registry: target(`${proxy.host}/hist/one:h`, { historyFile }), verifyMemo: null });
    const history = await openPushHistory(historyFile);
    const blobs = [...new Set(src.model.norm.layers.map((l) => l.blob))];
    for (const b of blobs) assert.deepEqual(history.repositories(proxy.host, b), ['hist/one']);
    assert.deepEqual(history.repositories(proxy.host, first.config!), ['hist/one']);

    proxy.clear();
    const events: ExportProgress[] = [];
    const second = await runExport({ opened: src, dest: 'unused', options: { tag: 'h' }, registry: target(`${proxy.host}/hist/two:h`, { historyFile }), onProgress: (p) => events.push(p), verifyMemo: null });
    assert.ok(finalStates(events).every((s) => s === 'mounted'), `final states: ${finalStates(events).join(',')}`);
    assert.equal(second.counts.mounted, blobs.length);
    assert.ok(proxy.requests().some((q) => q.method === 'POST' && q.path.includes('from=hist%2Fone') && q.status === 201));
    assert.deepEqual((await openPushHistory(historyFile)).repositories(proxy.host, blobs[0]), ['hist/two', 'hist/one']);

    // Without the history (a fresh machine) the same push uploads every layer.
    proxy.clear();
    const fresh: ExportProgress[] = [];
    await runExport({ opened: src, dest: 'unused', options: { tag: 'h' }, registry: target(`${proxy.host}/hist/three:h`, { historyFile: join(tmp, 'history-fresh.json') }), onProgress: (p) => fresh.push(p), verifyMemo: null });
    assert.ok(finalStates(fresh).every((s) => s === 'done'), `final states: ${finalStates(fresh).join(',')}`);
  });

  it('a mount answered 202 (the named repository lacks the blob) has its session DELETEd, then the blob is uploaded', async () => {
    const dir = join(FIXTURES, 'buildkit-v0.24-mode-min');
    const src = await openCacheSource(dir);
    const historyFile = join(tmp, 'history-wrong.json');
    const blobs = [...new Set(src.model.norm.layers.map((l) => l.blob))];
    // A stale history: it names a repository that never had these blobs.
    const wrong = await openPushHistory(historyFile);
    await wrong.record(proxy.host, 'nowhere/empty', blobs);
    proxy.clear();
    registry.clearRequests();
    const events: ExportProgress[] = [];
    await runExport({ opened: src, dest: 'unused', options: { tag: 'w' }, registry: target(`${proxy.host}/wrong/dst:w`, { historyFile }), onProgress: (p) => events.push(p), verifyMemo: null });
    assert.ok(finalStates(events).every((s) => s === 'done'), `final states: ${finalStates(events).join(',')}`);
    const reqs = proxy.requests();
    const refused = reqs.filter((q) => q.method === 'POST' && q.path.includes('from=nowhere%2Fempty'));
    assert.equal(refused.length, blobs.length);
    assert.ok(refused.every((q) => q.status === 202));
    const deletes = reqs.filter((q) => q.method === 'DELETE' && q.path.includes('/blobs/uploads/'));
    assert.equal(deletes.length, blobs.length, 'one DELETE per refused mount');
    assert.ok(deletes.every((q) => q.status === 204), deletes.map((q) => `${q.path} ${q.status}`).join('\n'));
    const log = await registry.settledRequests();
    assert.equal(log.filter((q) => q.method === 'DELETE' && q.status === 204).length, blobs.length, 'the registry itself logged the DELETEs');
  });
});

describe('a mount refused with 403', () => {
  it('falls back to an upload', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-mounts-403-'));
    const registry = await startRegistry();
    const strict = await startProxy(registry, { faults: imitateRegistry('hub', { refuseMounts: true }) });
    const client = new RegistryClient({ env: {} });
    try {
      const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
      const historyFile = join(tmp, 'history.json');
      // One blob at a time, so "asked once" is exact.
      const dest = (repo: string): RegistryTarget => ({ ...parseRegistryDestination(`${strict.host}/${repo}:t`)!, client, stateDir: null, historyFile, concurrency: 1 });
      await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: dest('first/repo'), verifyMemo: null });
      strict.clear();
      const events: ExportProgress[] = [];
      const r = await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: dest('second/repo'), onProgress: (p) => events.push(p), verifyMemo: null });
      assert.ok(finalStates(events).every((s) => s === 'done'), `final states: ${finalStates(events).join(',')}`);
      assert.equal(r.counts.mounted, 0);
      const mounts = strict.requests().filter((q) => q.method === 'POST' && q.path.includes('from=first%2Frepo'));
      assert.ok(mounts.every((q) => q.status === 403));
      // One refusal is enough: the other blobs are uploaded without asking that source again.
      assert.equal(new Set(mounts.map((q) => q.path.replace(/.*mount=([^&]+).*/, '$1'))).size, 1);
      assert.ok((await client.getManifest(`${strict.host}/second/repo:t`)).digest === r.descriptor!.digest);
    } finally {
      client.close();
      await strict.stop();
      await registry.stop();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('push mount sources (token auth)', () => {
  let registry: RunningRegistry;
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-mounts-tok-'));
    registry = await startRegistry({
      auth: 'token',
      users: { alice: 'alice-secret', bob: 'bob-secret' },
      tokenOptions: {
        grants: [
          { account: 'alice', repository: 'team/*', actions: ['pull', 'push'] },
          { account: 'bob', repository: '*', actions: ['pull', 'push'] },
        ],
      },
    });
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const clientFor = (user: string) => new RegistryClient({ env: {}, credentials: new StaticCredentialStore({ [registry.host]: { username: user, password: registry.users[user] } }) });

  it('a cross-repository mount asks only pull on the source repository', async () => {
    const client = clientFor('alice');
    try {
      const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
      const historyFile = join(tmp, 'alice-history.json');
      await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: { ...parseRegistryDestination(`${registry.host}/team/a:t`)!, client, stateDir: null, historyFile }, verifyMemo: null });
      registry.tokenServer!.clear();
      const events: ExportProgress[] = [];
      await runExport({ opened: src, dest: 'unused', options: { tag: 't' }, registry: { ...parseRegistryDestination(`${registry.host}/team/b:t`)!, client, stateDir: null, historyFile }, onProgress: (p) => events.push(p), verifyMemo: null });
      assert.ok(finalStates(events).every((s) => s === 'mounted'), `final states: ${finalStates(events).join(',')}`);
      const asked = registry.tokenServer!.requests();
      const mountTokens = asked.filter((r) => r.scopes.some((s) => s.startsWith('repository:team/a:')));
      assert.ok(mountTokens.length > 0, `token requests: ${JSON.stringify(asked.map((r) => r.scopes))}`);
      for (const r of mountTokens) {
        assert.deepEqual(r.scopes.filter((s) => s.startsWith('repository:team/a:')), ['repository:team/a:pull']);
        // The push scope comes first, for registries that read only the first one.
        assert.equal(r.scopes[0], 'repository:team/b:pull,push');
      }
    } finally {
      client.close();
    }
  });

  it('a source the account may not read (401 on the mount) falls back to an upload', async () => {
    const bob = clientFor('bob');
    const alice = clientFor('alice');
    try {
      const dir = join(FIXTURES, 'buildkit-v0.24-index-gzip');
      const src = await openCacheSource(dir);
      const historyFile = join(tmp, 'shared-history.json');
      // bob pushes to a repository alice cannot read; the (shared) history remembers it.
      await runExport({ opened: src, dest: 'unused', options: { 'image-manifest': false, tag: 't' }, registry: { ...parseRegistryDestination(`${registry.host}/private/src:t`)!, client: bob, stateDir: null, historyFile }, verifyMemo: null });
      registry.clearRequests();
      const events: ExportProgress[] = [];
      const r = await runExport({ opened: src, dest: 'unused', options: { 'image-manifest': false, tag: 't' }, registry: { ...parseRegistryDestination(`${registry.host}/team/c:t`)!, client: alice, stateDir: null, historyFile, concurrency: 1 }, onProgress: (p) => events.push(p), verifyMemo: null });
      assert.ok(finalStates(events).every((s) => s === 'done'), `final states: ${finalStates(events).join(',')}`);
      assert.equal(r.counts.mounted, 0);
      const log = await registry.settledRequests();
      const mounts = log.filter((q) => q.method === 'POST' && q.path.includes('from=private%2Fsrc'));
      assert.ok(mounts.length > 0 && mounts.every((q) => q.status === 401), mounts.map((q) => `${q.path} ${q.status}`).join('\n'));
      // Refused once, that source is not asked again for the other blobs (each ask costs a token and two 401s).
      assert.equal(new Set(mounts.map((q) => q.path.replace(/.*mount=([^&]+).*/, '$1'))).size, 1);
    } finally {
      bob.close();
      alice.close();
    }
  });
});
