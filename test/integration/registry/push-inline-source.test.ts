/**
 * Pushing from an inline-cache source (an image whose config carries `moby.buildkit.cache.v0`) to a
 * real distribution 2.8: by `docker-image://HOST/repo:tag` (registry → registry) and from the image's
 * local OCI layout. Opening the pushed cache gives the same records (digests, links, result times and
 * the blobs of each result) as the inline source, now as a cache of its own (not inline), and the
 * pushed layer is the image's layer, byte for byte.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheView } from '../../../shared/cache/view-types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { writeImageLayout } from '../../helpers/image-layout';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const T1 = '2025-03-04T05:06:07.123456789Z';
const T2 = '2025-03-04T05:06:08Z';
/** Three records: a source record, one that uses it, and one built on that; all ending at the image's one layer. */
const RECORDS = [
  { digest: `sha256:${'1'.repeat(64)}`, layers: [{ layer: 0, createdAt: T1 }] },
  { digest: `sha256:${'2'.repeat(64)}`, inputs: [[{ link: 0, selector: '' }]], layers: [{ layer: 0, createdAt: T1 }] },
  { digest: `sha256:${'3'.repeat(64)}`, inputs: [[{ link: 1, selector: 'sha256:' + 'a'.repeat(64) }]], layers: [{ layer: 0, createdAt: T2 }] },
];

/** What a user sees of the records, independent of their order: digest, links by digest, result times and blobs. */
function recordsOf(view: CacheView): unknown[] {
  return view.records
    .map((r) => ({
      digest: r.digest,
      inputs: r.inputs.map((slot) => slot.map((l) => `${view.records[l.link].digest} ${l.selector ?? ''}`).sort()),
      results: r.results.map((x) => x.createdAt).sort(),
      blobs: r.stack.map((i) => view.layers[i].blob),
      ignored: r.ignored,
    }))
    .sort((a, b) => a.digest.localeCompare(b.digest));
}

describe('push from an inline-cache source', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let access: RegistryAccess;
  let client: RegistryClient;
  let layerDigest: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-inline-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
    client = new RegistryClient({ env: {} });
    await writeImageLayout(join(tmp, 'inline'), { content: 'inline push', inlineRecords: RECORDS });
    await pushFixture(registry, join(tmp, 'inline'), 'app:inline');
    const local = await viewOf(await openCacheSource(join(tmp, 'inline')));
    layerDigest = local.layers[0].blob;
  });
  after(async () => {
    client?.close();
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  async function pushAndReopen(src: OpenedSource, repo: string): Promise<{ pushed: CacheView; before: CacheView }> {
    const before = await viewOf(src);
    assert.equal(before.variant, 'inline');
    assert.equal(before.records.length, RECORDS.length);
    const result = await runExport({ opened: src, dest: 'unused', options: { tag: 'pushed' }, registry: { ...parseRegistryDestination(`${proxy.host}/${repo}:pushed`)!, client, stateDir: null, historyFile: null }, verifyMemo: null });
    assert.equal(result.tag, 'pushed');
    const pushed = await viewOf(await openCacheSource(`${proxy.host}/${repo}:pushed`, { registry: access }));
    assert.equal(pushed.manifest?.digest, result.descriptor!.digest);
    return { pushed, before };
  }

  it('docker-image://HOST/app:inline → HOST/copies/inline: the pushed cache has the same records', async () => {
    const src = await openCacheSource(`docker-image://${proxy.host}/app:inline`, { registry: access });
    const { pushed, before } = await pushAndReopen(src, 'copies/inline');
    assert.notEqual(pushed.variant, 'inline', 'a cache of its own now');
    assert.deepEqual(recordsOf(pushed), recordsOf(before));
    assert.deepEqual(pushed.layers.map((l) => l.blob), [layerDigest]);
    // The registry holds the image's own layer under the new repository, intact (the read verifies its digest).
    const bytes = await client.readBlob({ registry: proxy.host, repository: 'copies/inline' }, { digest: layerDigest, size: pushed.layers[0].size }, { maxBytes: 1 << 20 });
    assert.equal(bytes.length, pushed.layers[0].size);
  });

  it('the inline image\'s local layout → HOST/local/inline: the pushed cache has the same records', async () => {
    const src = await openCacheSource(join(tmp, 'inline'));
    const { pushed, before } = await pushAndReopen(src, 'local/inline');
    assert.notEqual(pushed.variant, 'inline');
    assert.deepEqual(recordsOf(pushed), recordsOf(before));
    assert.deepEqual(pushed.layers.map((l) => l.blob), [layerDigest]);
  });
});
