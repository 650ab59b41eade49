/**
 * Push proof in the four setups of issue 9 (no auth, htpasswd, Bearer tokens, TLS through certs.d),
 * against a real distribution 2.8 behind the counting proxy, credentials only in a temp DOCKER_CONFIG:
 * local → registry → local is identical (records, graph, blob digests, cache.manifest) for both forms
 * and both media-type families; skopeo reads exactly our manifest bytes and copies the image-manifest
 * form into an OCI layout; a copy into another repository of the same registry mounts every blob and
 * uploads zero blob bytes; no output ever carries the password. Every BuildKit v0.24 fixture and a
 * generated cache go through every form on the no-auth setup; the other setups take one fixture.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExportOptions, ExportProgress } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { DISTRIBUTION_SOURCE_PREFIX, distributionSourceKey } from '../../../shared/oci/distribution-source';
import { FIXTURES } from '../../helpers/fixtures';
import { runAsync, skopeoInspectRaw } from '../../helpers/registry/index';
import { blobBytesUp, comparable, layoutBlobs, runCli, startSetup } from './push-proof-helpers';
import type { PushSetup, SetupKind } from './push-proof-helpers';

const FIXTURE_FORMS = ['image-manifest-gzip', 'index-gzip', 'docker-list-gzip', 'estargz', 'mixed-gzip-zstd', 'uncompressed', 'mode-min'];
const COMBOS: { name: string; options: ExportOptions }[] = [
  { name: 'image-manifest', options: { 'image-manifest': true, 'oci-mediatypes': true } },
  { name: 'index-oci', options: { 'image-manifest': false, 'oci-mediatypes': true } },
  { name: 'list-docker', options: { 'image-manifest': false, 'oci-mediatypes': false } },
];

interface ManifestJson {
  layers?: { digest: string; annotations?: Record<string, string> }[];
  manifests?: { digest: string; annotations?: Record<string, string> }[];
}

function manifestOf(layout: string, digest: string): ManifestJson {
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as ManifestJson;
}

function layerDescriptorsOf(m: ManifestJson): { digest: string; annotations?: Record<string, string> }[] {
  // The index form lists the config among its children: only layers carry a distribution source.
  return m.layers ?? (m.manifests ?? []).filter((d) => !/cacheconfig/.test((d as { mediaType?: string }).mediaType ?? ''));
}

/** The manifest without `containerd.io/distribution.source.*` annotations (an emptied map dropped). */
function withoutDistributionSource(m: ManifestJson): ManifestJson {
  const strip = (list: { digest: string; annotations?: Record<string, string> }[] | undefined) =>
    list?.map((d) => {
      const kept = Object.fromEntries(Object.entries(d.annotations ?? {}).filter(([k]) => !k.startsWith(DISTRIBUTION_SOURCE_PREFIX)));
      const { annotations: _a, ...rest } = d;
      return Object.keys(kept).length > 0 || (d.annotations && Object.keys(d.annotations).length === 0) ? { ...rest, annotations: kept } : rest;
    });
  return { ...m, ...(m.layers ? { layers: strip(m.layers) } : {}), ...(m.manifests ? { manifests: strip(m.manifests) } : {}) };
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every string a run produced, for the password grep. */
const captured: string[] = [];

/** local → registry → local for one source and one form; returns the pushed repository. */
async function roundTrip(setup: PushSetup, tmp: string, srcDir: string, combo: (typeof COMBOS)[number], repo: string): Promise<void> {
  const src = await openCacheSource(srcDir);
  const options = { ...combo.options, tag: 'rt' };
  const localOut = join(tmp, `local-${repo.replace(/\//g, '_')}`);
  const local = await runExport({ opened: src, dest: localOut, options, verifyMemo: null });
  const events: ExportProgress[] = [];
  const target = { ...parseRegistryDestination(`${setup.host}/${repo}:rt`)!, client: setup.client, stateDir: join(tmp, 'uploads') };
  const pushed = await runExport({ opened: src, dest: 'unused', options, registry: target, onProgress: (p) => events.push(p), verifyMemo: null });
  captured.push(JSON.stringify(events), JSON.stringify(pushed));
  assert.deepEqual(pushed.descriptor, local.descriptor, `${repo}: the pushed cache.manifest is the local export's`);
  // Uploaded, or mounted from a repository this machine pushed the same blob to before (push history).
  const states = (events.at(-1)?.layers ?? []).map((l) => l.state);
  assert.ok(states.every((st) => st === 'done' || st === 'mounted'), `${repo}: layer states ${states.join(',')}`);

  // skopeo reads back exactly our manifest bytes.
  const raw = await skopeoInspectRaw(setup.proxy, `${repo}:rt`);
  assert.equal(sha256(raw), pushed.descriptor!.digest, `${repo}: skopeo inspect --raw gives our bytes`);
  assert.equal(raw.length, pushed.descriptor!.size);

  // Opened from the registry: the records, graph and blob digests of the local export.
  const remote = await openCacheSource(`${setup.host}/${repo}:rt`, { registry: setup.access });
  const localView = await viewOf(await openCacheSource(`${localOut}:rt`));
  assert.deepEqual(comparable(await viewOf(remote)), comparable(localView), `${repo}: the registry cache opens as the local export`);
  assert.deepEqual([...remote.model.descriptors.keys()].sort(), [...(await openCacheSource(`${localOut}:rt`)).model.descriptors.keys()].sort());

  // And back into a folder: the same descriptor and the same blob files.
  const backDir = join(tmp, `back-${repo.replace(/\//g, '_')}`);
  const back = await runExport({ opened: remote, dest: backDir, options, verifyMemo: null });
  captured.push(JSON.stringify(back));
  // Pulled back, the manifest is the local one plus what BuildKit adds to blobs read from a registry:
  // a containerd.io/distribution.source.<host> annotation naming the repository on each layer.
  const backManifest = manifestOf(backDir, back.descriptor!.digest);
  assert.deepEqual(withoutDistributionSource(backManifest), manifestOf(localOut, local.descriptor!.digest), `${repo}: pulled back, the same cache.manifest but for distribution sources`);
  for (const d of layerDescriptorsOf(backManifest)) assert.equal(d.annotations?.[distributionSourceKey(setup.host)], repo, `${repo}: distribution source of ${d.digest}`);
  const backBlobs = layoutBlobs(backDir).filter((b) => b !== back.descriptor!.digest);
  assert.deepEqual(backBlobs, layoutBlobs(localOut).filter((b) => b !== local.descriptor!.digest), `${repo}: pulled back, the same blobs`);
  const withoutManifest = (v: unknown) => ({ ...(v as Record<string, unknown>), manifest: null });
  assert.deepEqual(withoutManifest(comparable(await viewOf(await openCacheSource(`${backDir}:rt`)))), withoutManifest(comparable(localView)), `${repo}: pulled back, the same records and graph`);
}

/** A copy from a registry source into another repository of the same registry: all mounted, zero blob bytes. */
async function copyWithinRegistry(setup: PushSetup, tmp: string, from: string, to: string): Promise<void> {
  const remote = await openCacheSource(`${setup.host}/${from}`, { registry: setup.access });
  setup.proxy.clear();
  setup.registry.clearRequests();
  setup.registry.tokenServer?.clear();
  const events: ExportProgress[] = [];
  const target = { ...parseRegistryDestination(`${setup.host}/${to}`)!, client: setup.client, stateDir: join(tmp, 'uploads') };
  const r = await runExport({ opened: remote, dest: 'unused', options: { tag: to.split(':')[1] }, registry: target, onProgress: (p) => events.push(p), verifyMemo: null });
  captured.push(JSON.stringify(events), JSON.stringify(r));
  const states = (events.at(-1)?.layers ?? []).map((l) => l.state);
  assert.ok(states.length > 0 && states.every((s) => s === 'mounted'), `states: ${states.join(',')}`);
  assert.equal(r.counts.mounted, states.length);
  const up = blobBytesUp(setup.proxy);
  const reqs = setup.proxy.requests().map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn}`).join('\n');
  assert.equal(up, 0, `blob bytes uploaded in a copy within one registry:\n${reqs}`);
  // The registry's own access log agrees: mounts answered 201, no PATCH, no blob PUT.
  const log = await setup.registry.settledRequests();
  assert.equal(log.filter((q) => q.method === 'PATCH' || (q.method === 'PUT' && q.path.includes('/blobs/'))).length, 0);
  assert.ok(log.filter((q) => q.method === 'POST' && q.path.includes('mount=') && q.status === 201).length >= states.length);
  // With tokens, a mount asks only `pull` on the source repository.
  const tokens = setup.registry.tokenServer;
  if (tokens) {
    const fromRepo = from.split(':')[0];
    const asked = tokens.requests().flatMap((t) => t.scopes).filter((sc) => sc.startsWith(`repository:${fromRepo}:`));
    assert.ok(asked.length > 0, 'the mount asked for the source repository');
    assert.deepEqual([...new Set(asked)], [`repository:${fromRepo}:pull`]);
  }
  const raw = await skopeoInspectRaw(setup.proxy, to);
  assert.equal(sha256(raw), r.descriptor!.digest);
}

for (const kind of ['none', 'htpasswd', 'token', 'tls'] as SetupKind[]) {
  describe(`push round trips, ${kind}`, () => {
    let setup: PushSetup;
    let tmp: string;

    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), `cachescope-push-setups-${kind}-`));
      setup = await startSetup(kind, tmp);
    });
    after(async () => {
      await setup?.stop();
      await rm(tmp, { recursive: true, force: true });
    });

    const fixtures = kind === 'none' ? FIXTURE_FORMS : ['image-manifest-gzip'];
    for (const combo of COMBOS) {
      it(`${combo.name}: ${fixtures.length} fixture(s) local → registry → local identical; skopeo reads our bytes`, async () => {
        for (const form of fixtures) await roundTrip(setup, tmp, join(FIXTURES, `buildkit-v0.24-${form}`), combo, `rt/${form}-${combo.name}`);
      });
    }

    if (kind === 'none') {
      it('a generated cache round-trips in every form', async () => {
        const dir = join(tmp, 'generated');
        await generateCache(dir, { seed: 'push-setups', stages: 3, layersPerStage: 3, layerBytes: 96 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest', records: 40 });
        for (const combo of COMBOS) await roundTrip(setup, tmp, dir, combo, `gen/${combo.name}`);
      });

      it("image-manifest=true with oci-mediatypes=false is refused with BuildKit's words before anything is sent", async () => {
        const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
        setup.proxy.clear();
        const target = { ...parseRegistryDestination(`${setup.host}/rt/refused:x`)!, client: setup.client, stateDir: join(tmp, 'uploads') };
        await assert.rejects(runExport({ opened: src, dest: 'unused', options: { 'image-manifest': true, 'oci-mediatypes': false, tag: 'x' }, registry: target, verifyMemo: null }), /OCI mediatypes are required for image-manifest cache format/);
        assert.equal(setup.proxy.requests().length, 0);
      });
    }

    it('skopeo copy docker://… oci:… reads the image-manifest form', async () => {
      const out = join(tmp, 'skopeo-oci');
      const tls = kind === 'tls' ? [`--src-cert-dir=${join(setup.env.HOME!, '.docker', 'certs.d', setup.host)}`] : ['--src-tls-verify=false'];
      const creds = setup.password ? [`--src-creds=alice:${setup.password}`] : [];
      // Async: the proxy runs in this process, so a blocking spawn would starve it.
      const r = await runAsync('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', ...tls, ...creds, `docker://${setup.host}/rt/image-manifest-gzip-image-manifest:rt`, `oci:${out}:rt`]);
      assert.equal(r.status, 0, r.stderr.split(setup.password ?? '\u0000').join('***'));
      const back = await openCacheSource(`${out}:rt`);
      const orig = await openCacheSource(`${join(tmp, 'local-rt_image-manifest-gzip-image-manifest')}:rt`);
      assert.deepEqual(comparable(await viewOf(back)), comparable(await viewOf(orig)));
    });

    it('a copy into another repository of the same registry mounts every blob and uploads zero blob bytes', async () => {
      await copyWithinRegistry(setup, tmp, 'rt/image-manifest-gzip-image-manifest:rt', 'copied/cache:copy');
    });

    it('the CLI pushes with the docker config and prints no credential', async () => {
      const r = await runCli(['export', join(FIXTURES, 'buildkit-v0.24-index-gzip'), `${setup.host}/cli/cache:main`, '--json'], setup.env);
      captured.push(r.out);
      assert.equal(r.code, 0, r.out.split('\n').filter((l) => !l.includes('exportProgress')).join('\n'));
      const last = JSON.parse(r.out.trim().split('\n').at(-1)!) as { ok: boolean; 'cache.manifest': { digest: string } };
      assert.equal(last.ok, true);
      assert.equal(sha256(await skopeoInspectRaw(setup.proxy, 'cli/cache:main')), last['cache.manifest'].digest);
      // A refusal (a tag the registry cannot take) is explained without credentials either.
      const bad = await runCli(['export', join(FIXTURES, 'buildkit-v0.24-index-gzip'), `${setup.host}/cli/cache:main`, '--opt', 'image-manifest=true', '--opt', 'oci-mediatypes=false', '--json'], setup.env);
      captured.push(bad.out);
      assert.notEqual(bad.code, 0);
    });

    it('no captured output carries the password or the auth string', () => {
      assert.ok(captured.length > 0);
      if (!setup.password) return;
      for (const text of captured) {
        assert.ok(!text.includes(setup.password), 'password in output');
        assert.ok(!text.includes(setup.auth!), 'auth string in output');
      }
      assert.ok(!setup.registry.log().includes(setup.password), 'password in the registry log');
    });
  });
}
