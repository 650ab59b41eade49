/**
 * A registry as the export target, against a real distribution 2.8 behind the counting proxy:
 * local → registry → local gives the same `cache.manifest` for both forms and both media-type
 * families; skopeo reads back exactly our manifest bytes; a re-export sends one HEAD per blob and
 * no blob bytes; an export from a registry source into another repository mounts every layer; a
 * strict-mode rejection (GCR refusing the index form) is explained with the registry's own words.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ExportOptions, ExportProgress, LayerState } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES } from '../../helpers/fixtures';
import { imitateRegistry, run, skopeoInspectRaw, startProxy, startRegistry } from '../../helpers/registry/index';
import { distributionSources, manifestWithoutSources } from '../../helpers/registry/distribution-source';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const FORMS: { form: string; options: ExportOptions }[] = [
  { form: 'image-manifest-gzip', options: { 'image-manifest': true, 'oci-mediatypes': true } },
  { form: 'index-gzip', options: { 'image-manifest': false, 'oci-mediatypes': true } },
  { form: 'docker-list-gzip', options: { 'image-manifest': false, 'oci-mediatypes': false } },
];

function finalStates(events: ExportProgress[]): LayerState[] {
  const last = events.at(-1);
  return (last?.layers ?? []).map((l) => l.state);
}

describe('export to a registry', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let client: RegistryClient;
  let access: RegistryAccess;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-rt-'));
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

  const target = (ref: string) => ({ ...parseRegistryDestination(ref)!, client, stateDir: join(tmp, 'uploads') });

  for (const { form, options } of FORMS) {
    it(`${form}: local → registry → local gives the same cache.manifest; skopeo reads our exact bytes`, async () => {
      const src = await openCacheSource(join(FIXTURES, `buildkit-v0.24-${form}`));
      const localOut = join(tmp, `local-${form}`);
      const local = await runExport({ opened: src, dest: localOut, options: { ...options, tag: 'rt' }, verifyMemo: null });
      const events: ExportProgress[] = [];
      const pushed = await runExport({ opened: src, dest: 'unused', options: { ...options, tag: 'rt' }, registry: target(`${proxy.host}/push/${form}:rt`), onProgress: (p) => events.push(p), verifyMemo: null });
      assert.deepEqual(pushed.descriptor, local.descriptor);
      assert.ok(finalStates(events).every((s) => s === 'done'), `final states: ${finalStates(events).join(',')}`);
      const lines = events.flatMap((e) => e.lines ?? []);
      assert.ok(lines.includes('preparing build cache for export'));
      assert.ok(lines.includes(`writing config ${pushed.config}`));
      const raw = await skopeoInspectRaw(registry, `push/${form}:rt`);
      const manifest = await client.getManifest(`${proxy.host}/push/${form}:rt`);
      assert.equal(manifest.digest, pushed.descriptor!.digest);
      assert.equal(manifest.mediaType, pushed.descriptor!.mediaType);
      assert.equal(raw.toString('utf8'), manifest.bytes.toString('utf8'));

      // Back to a local layout from the registry: the same descriptor again.
      const remote = await openCacheSource(`${proxy.host}/push/${form}:rt`, { registry: access });
      const back = await runExport({ opened: remote, dest: join(tmp, `back-${form}`), options: { ...options, tag: 'rt' }, verifyMemo: null });
      // The same manifest, plus the repository it came from on every layer (BuildKit's distribution-source annotation).
      assert.deepEqual(await manifestWithoutSources(join(tmp, `back-${form}`), back.descriptor!.digest), await manifestWithoutSources(localOut, local.descriptor!.digest));
      for (const a of await distributionSources(join(tmp, `back-${form}`), back.descriptor!.digest)) assert.deepEqual(Object.values(a), [`push/${form}`]);

      // Re-export: one HEAD per blob, no blob bytes.
      proxy.clear();
      const again: ExportProgress[] = [];
      await runExport({ opened: src, dest: 'unused', options: { ...options, tag: 'rt' }, registry: target(`${proxy.host}/push/${form}:rt`), onProgress: (p) => again.push(p), verifyMemo: null });
      assert.ok(finalStates(again).every((s) => s === 'exists'), `final states: ${finalStates(again).join(',')}`);
      const reqs = proxy.requests();
      const blobHeads = reqs.filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/') && r.status !== 401);
      const blobs = new Set(blobHeads.map((r) => r.path));
      assert.equal(blobHeads.length, blobs.size, 'one HEAD per blob');
      assert.equal(blobs.size, src.model.norm.layers.length === 0 ? 1 : new Set(src.model.norm.layers.map((l) => l.blob)).size + 1);
      const blobBytes = reqs.filter((r) => r.path.includes('/blobs/')).reduce((n, r) => n + r.bytesIn, 0);
      assert.equal(blobBytes, 0);
      assert.equal(reqs.filter((r) => r.method === 'POST' || r.method === 'PATCH').length, 0);
    });
  }

  it('image-manifest form: skopeo copy docker://… oci:… works', async () => {
    const out = join(tmp, 'skopeo-oci');
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/push/image-manifest-gzip:rt`, `oci:${out}:rt`]);
  });

  it('a registry source exported to another repository of the same registry: every layer mounted, no blob bytes', async () => {
    const remote = await openCacheSource(`${proxy.host}/push/image-manifest-gzip:rt`, { registry: access });
    proxy.clear();
    const events: ExportProgress[] = [];
    const r = await runExport({ opened: remote, dest: 'unused', options: { tag: 'copy' }, registry: target(`${proxy.host}/other/copy:copy`), onProgress: (p) => events.push(p), verifyMemo: null });
    assert.ok(finalStates(events).length > 0);
    assert.ok(finalStates(events).every((s) => s === 'mounted'), `final states: ${finalStates(events).join(',')}`);
    assert.equal(r.counts.mounted, finalStates(events).length);
    const layerBytes = proxy.requests().filter((r2) => r2.method === 'PATCH' || (r2.method === 'PUT' && r2.path.includes('/blobs/'))).reduce((n, q) => n + q.bytesIn, 0);
    // Only the small config goes up.
    assert.ok(layerBytes < 64 << 10, `sent ${layerBytes} blob bytes`);
    assert.ok(proxy.requests().some((q) => q.method === 'POST' && /mount=.*from=push%2Fimage-manifest-gzip|from=push\/image-manifest-gzip/.test(q.path) && q.status === 201));
  });

  for (const [kind, words] of [
    ['harbor', /404/],
    ['distribution3', /MANIFEST_BLOB_UNKNOWN: blob unknown to registry/],
    ['ecr', /UNSUPPORTED: Unsupported manifest type/],
  ] as const) {
    it(`${kind} strict mode refusing the index form is explained`, async () => {
      const strict = await startProxy(registry, { faults: imitateRegistry(kind) });
      try {
        const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-index-gzip'));
        await assert.rejects(
          runExport({ opened: src, dest: 'unused', options: { 'image-manifest': false, tag: 'x' }, registry: target(`${strict.host}/strict/${kind}:x`), verifyMemo: null }),
          (err: Error) => {
            assert.match(err.message, words);
            assert.match(err.message, /meaning: this registry does not accept the index form/);
            assert.match(err.message, /fix: export with image-manifest=true/);
            return true;
          },
        );
      } finally {
        await strict.stop();
      }
    });
  }

  it('ECR immutable tags: the second push of a tag is explained', async () => {
    const strict = await startProxy(registry, { faults: imitateRegistry('ecr', { immutableTags: true }) });
    try {
      const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
      const once = () => runExport({ opened: src, dest: 'unused', options: { tag: 'frozen' }, registry: target(`${strict.host}/strict/immutable:frozen`), verifyMemo: null });
      await once();
      await assert.rejects(once(), (err: Error) => {
        assert.match(err.message, /TAG_INVALID: The image tag 'frozen' already exists/);
        assert.match(err.message, /meaning: the tag frozen already exists .*immutable/);
        assert.match(err.message, /fix: export to a new tag/);
        return true;
      });
    } finally {
      await strict.stop();
    }
  });

  it('a registry that refuses the index form: its own words, what they mean, and image-manifest=true', async () => {
    const strict = await startProxy(registry, { faults: imitateRegistry('gcr') });
    try {
      const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-index-gzip'));
      await assert.rejects(
        runExport({ opened: src, dest: 'unused', options: { 'image-manifest': false, tag: 'x' }, registry: target(`${strict.host}/strict/index:x`), verifyMemo: null }),
        (err: Error) => {
          assert.match(err.message, /400/);
          assert.match(err.message, /MANIFEST_INVALID: Image index child manifest not supported/);
          assert.match(err.message, /does not accept the index form/);
          assert.match(err.message, /image-manifest=true/);
          return true;
        },
      );
    } finally {
      await strict.stop();
    }
  });
});
