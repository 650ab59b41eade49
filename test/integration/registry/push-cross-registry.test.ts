/**
 * Registry → registry across two registries (distribution 2.8 with Bearer tokens → distribution 2.8
 * on TLS with htpasswd, each behind a counting proxy), credentials for both in one temp docker config:
 * the copy is identical (records, graph, blob digests), skopeo reads our exact bytes on the target,
 * no mount is tried across registries, each registry only ever sees its own credentials, and neither
 * password appears in any output (in-process and CLI).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExportProgress } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES } from '../../helpers/fixtures';
import { skopeoInspectRaw } from '../../helpers/registry/index';
import { comparable, layoutBlobs, runCli, startSetup } from './push-proof-helpers';
import type { PushSetup } from './push-proof-helpers';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const noManifest = (v: unknown) => ({ ...(v as Record<string, unknown>), manifest: null });

/** `user:password` of every Basic header a proxy received. */
function basicCredentials(setup: PushSetup): string[] {
  return setup.proxy
    .requests()
    .map((q) => q.headers.authorization)
    .filter((h): h is string => typeof h === 'string' && h.startsWith('Basic '))
    .map((h) => Buffer.from(h.slice(6), 'base64').toString('utf8'));
}

describe('registry → registry across two registries', () => {
  let tmp: string;
  let a: PushSetup;
  let b: PushSetup;
  let env: NodeJS.ProcessEnv;
  let options: RegistryClientOptions;
  let client: RegistryClient;
  let access: RegistryAccess;
  const captured: string[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-cross-'));
    a = await startSetup('token', join(tmp, 'a'));
    b = await startSetup('tls', join(tmp, 'b'));
    // One docker config and one HOME (certs.d) holding both registries, as a user's machine would.
    const home = join(tmp, 'home');
    const certs = join(home, '.docker', 'certs.d', b.host);
    await mkdir(certs, { recursive: true });
    await copyFile(b.registry.ca!.caCert, join(certs, 'ca.crt'));
    const docker = join(tmp, 'docker');
    await mkdir(docker, { recursive: true });
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: { [a.host]: { auth: a.auth }, [b.host]: { auth: b.auth } } }));
    env = { ...a.env, HOME: home, DOCKER_CONFIG: docker, CACHESCOPE_CACHE_DIR: join(tmp, 'cli-cache'), XDG_CACHE_HOME: join(tmp, 'cli-xdg') };
    options = { env, certsDirs: [join(home, '.docker', 'certs.d')] };
    client = new RegistryClient(options);
    access = createRegistryAccess({ client: options, blobCache: { root: join(tmp, 'blob-cache') } });
    // The source cache lives in registry A.
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd'));
    await runExport({ opened: src, dest: 'unused', options: { tag: 'src' }, registry: { ...parseRegistryDestination(`${a.host}/team/cache:src`)!, client, stateDir: join(tmp, 'uploads') }, verifyMemo: null });
  });
  after(async () => {
    client?.close();
    access?.close();
    await a?.stop();
    await b?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('copies A → B identically, uploading every blob (no mount across registries), each registry seeing only its own credentials', async () => {
    const local = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd'));
    const remote = await openCacheSource(`${a.host}/team/cache:src`, { registry: access });
    a.proxy.clear();
    b.proxy.clear();
    const events: ExportProgress[] = [];
    const r = await runExport({ opened: remote, dest: 'unused', options: { tag: 'copy' }, registry: { ...parseRegistryDestination(`${b.host}/mirror/cache:copy`)!, client, stateDir: join(tmp, 'uploads') }, onProgress: (p) => events.push(p), verifyMemo: null });
    captured.push(JSON.stringify(events), JSON.stringify(r));
    const states = (events.at(-1)?.layers ?? []).map((l) => l.state);
    assert.ok(states.length > 0 && states.every((s) => s === 'done'), `states: ${states.join(',')}`);
    assert.equal(b.proxy.requests().filter((q) => q.method === 'POST' && q.path.includes('mount=')).length, 0, 'no mount across registries');
    const layerBytes = local.model.norm.layers.length ? [...new Set(local.model.norm.layers.map((l) => l.blob))].reduce((n, d) => n + (local.model.descriptors.get(d)?.size ?? 0), 0) : 0;
    const up = b.proxy.requests().filter((q) => q.method === 'PATCH' || (q.method === 'PUT' && q.path.includes('/blobs/'))).reduce((n, q) => n + q.bytesIn, 0);
    assert.ok(up >= layerBytes, `B received ${up} blob bytes for ${layerBytes} layer bytes`);

    // B holds exactly our manifest bytes, and opens as the original cache (records, graph, blobs).
    const raw = await skopeoInspectRaw(b.proxy, 'mirror/cache:copy');
    assert.equal(sha256(raw), r.descriptor!.digest);
    const onB = await openCacheSource(`${b.host}/mirror/cache:copy`, { registry: access });
    assert.deepEqual(noManifest(comparable(await viewOf(onB))), noManifest(comparable(await viewOf(local))));
    const back = join(tmp, 'back');
    await runExport({ opened: onB, dest: back, options: { tag: 'copy' }, verifyMemo: null });
    const localOut = join(tmp, 'local');
    await runExport({ opened: local, dest: localOut, options: { tag: 'copy' }, verifyMemo: null });
    const blobsOf = (dir: string, manifest: string) => layoutBlobs(dir).filter((d) => d !== manifest);
    const backOpened = await openCacheSource(`${back}:copy`);
    const localOpened = await openCacheSource(`${localOut}:copy`);
    assert.deepEqual(blobsOf(back, backOpened.manifestDescriptor!.digest), blobsOf(localOut, localOpened.manifestDescriptor!.digest));

    // Credentials stay with their registry: B's proxy saw only B's password, A's proxy never saw it.
    const toB = basicCredentials(b);
    assert.ok(toB.length > 0);
    assert.ok(toB.every((c) => c === `alice:${b.password}`), 'B saw only its own credentials');
    assert.ok(!JSON.stringify(a.proxy.requests().map((q) => q.headers)).includes(b.password!), "A never saw B's password");
    assert.ok(!basicCredentials(a).some((c) => c.includes(b.password!)));
  });

  it('the CLI copies A → B and prints neither password', async () => {
    const run = await runCli(['export', `${a.host}/team/cache:src`, `${b.host}/mirror/cli:copy`, '--json'], env);
    captured.push(run.out);
    assert.equal(run.code, 0, run.out.split('\n').filter((l) => !l.includes('exportProgress')).join('\n'));
    const last = JSON.parse(run.out.trim().split('\n').at(-1)!) as { ok: boolean; 'cache.manifest': { digest: string } };
    assert.equal(sha256(await skopeoInspectRaw(b.proxy, 'mirror/cli:copy')), last['cache.manifest'].digest);
    for (const text of captured) {
      for (const secret of [a.password!, b.password!, a.auth!, b.auth!]) assert.ok(!text.includes(secret), 'a credential in output');
    }
  });
});
