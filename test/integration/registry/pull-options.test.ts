/**
 * Pull (registry → folder) with the export options a local export has, against a real distribution
 * 2.8: `image-manifest=false` (the index form) and `oci-mediatypes=false` (Docker media types) give
 * the folder a local export of the same cache with the same options gives; `drop-missing` on a
 * registry cache whose repository lost a layer blob (its link removed from the registry's storage)
 * fails without the option with BuildKit's `missing blob` and the registry's words (BLOB_UNKNOWN,
 * naming the blob; blobs are lazy, so no HEAD per blob runs first) and pulls exactly the complete chains with it (BuildKit's `missing blob`
 * appears in the preview, which HEADs every blob).
 * Pulled layers are hard links of the blob-cache files (the same inode) when both are on one file
 * system, as the blob cache's module comment says ("a layout that hard-linked the blob").
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheView } from '../../../shared/cache/view-types';
import type { ExportOptions } from '../../../shared/export/types';
import { CacheError } from '../../../shared/contract/errors';
import { previewExport, runExport } from '../../../electron/engine/export/exporter';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import { manifestWithoutSources } from '../../helpers/registry/distribution-source';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

/** Layer entries (those `keep` allows) as chains of blobs, each its parents' blobs then its own, sorted. */
function entriesOf(layers: CacheView['layers'], keep: (l: CacheView['layers'][number]) => boolean = () => true): string[] {
  const chain = (i: number): string => (layers[i].parent === -1 ? layers[i].blob : `${chain(layers[i].parent)} > ${layers[i].blob}`);
  return layers.filter(keep).map((l) => chain(l.index)).sort();
}

describe('pull with export options', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let work: string;
  let cacheRoot: string;
  let access: RegistryAccess;
  let gone: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cachescope-pull-options-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    cacheRoot = join(work, 'blob-cache');
    access = createRegistryAccess({ blobCache: { root: cacheRoot } });
    await pushFixture(registry, FIXTURE, 'opts/cache:main');
    await pushFixture(registry, FIXTURE, 'holey/cache:main');
    // The holey repository loses a blob in the middle of a chain: remove its layer link from the storage.
    const view = await viewOf(await openCacheSource(FIXTURE));
    const middle = view.layers.find((l) => l.parent !== -1 && view.layers.some((c) => c.parent === l.index) && view.layers.filter((x) => x.blob === l.blob).length === 1);
    assert.ok(middle, 'a layer in the middle of a chain');
    gone = middle.blob;
    await unlink(join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'holey', 'cache', '_layers', 'sha256', gone.slice(7), 'link'));
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** Pulls `ref` into a new folder and exports the fixture locally with the same options, for comparison. */
  async function pullAndLocal(name: string, options: ExportOptions) {
    const pulled = join(work, `${name}-pulled`);
    const local = join(work, `${name}-local`);
    const result = await runExport({ opened: await openCacheSource(`${proxy.host}/opts/cache:main`, { registry: access }), dest: pulled, options, verifyMemo: null });
    const localResult = await runExport({ opened: await openCacheSource(FIXTURE), dest: local, options, verifyMemo: null });
    assert.deepEqual(await manifestWithoutSources(pulled, result.descriptor!.digest), await manifestWithoutSources(local, localResult.descriptor!.digest), 'the manifest a local export writes');
    assert.equal(result.config, localResult.config, 'the same cache config');
    const withoutManifest = (blobs: string[], m: string) => blobs.filter((b) => b !== m);
    assert.deepEqual(withoutManifest(await assertAllBlobsVerified(pulled), result.descriptor!.digest), withoutManifest(await assertAllBlobsVerified(local), localResult.descriptor!.digest));
    return { pulled, result, mediaType: (await taggedManifest(pulled))?.mediaType };
  }

  it('image-manifest=false: the index form, as a local export writes it', async () => {
    const { mediaType } = await pullAndLocal('index', { 'image-manifest': false });
    assert.equal(mediaType, 'application/vnd.oci.image.index.v1+json');
  });

  it('oci-mediatypes=false: the Docker manifest list, as a local export writes it', async () => {
    const { pulled, result, mediaType } = await pullAndLocal('docker', { 'image-manifest': false, 'oci-mediatypes': false });
    assert.equal(mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    const m = (await manifestWithoutSources(pulled, result.descriptor!.digest)) as { manifests: { mediaType: string }[] };
    assert.ok(m.manifests.some((d) => d.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip'), 'Docker layer media types');
    assert.ok(!m.manifests.some((d) => d.mediaType.startsWith('application/vnd.oci.image.layer')), 'no OCI layer media types');
  });

  it('pulled layers are hard links of the blob-cache files (same inode) on one file system', async () => {
    const pulled = join(work, 'linked');
    const result = await runExport({ opened: await openCacheSource(`${proxy.host}/opts/cache:main`, { registry: access }), dest: pulled, options: {}, verifyMemo: null });
    assert.ok(result.descriptor);
    const layers = (await viewOf(await openCacheSource(pulled))).layers;
    assert.ok(layers.length > 0);
    assert.equal((await stat(pulled)).dev, (await stat(cacheRoot)).dev, 'one file system');
    for (const blob of new Set(layers.map((l) => l.blob))) {
      const inLayout = await stat(join(pulled, 'blobs', 'sha256', blob.slice(7)));
      const inCache = await stat(join(cacheRoot, 'blobs', 'sha256', blob.slice(7)));
      assert.equal(inLayout.ino, inCache.ino, `${blob}: the layout's file is the blob cache's inode`);
      assert.ok(inLayout.nlink >= 2, `${blob}: nlink ${inLayout.nlink}`);
    }
  });

  it('a registry cache missing a blob: refused in the registry\'s words; drop-missing pulls exactly the complete chains', async () => {
    const ref = `${proxy.host}/holey/cache:main`;
    // A blob cache of its own: the shared one already holds the blob (content-addressed), pulled from opts/cache.
    const own = createRegistryAccess({ blobCache: { root: join(work, 'holey-blob-cache') } });
    try {
      const strict = join(work, 'holey-strict');
      // Without drop-missing a pull does not HEAD every blob first (blobs stay lazy): the download of the
      // lost one fails with the registry's own words, naming it, and no manifest is tagged in the folder.
      await assert.rejects(
        runExport({ opened: await openCacheSource(ref, { registry: own }), dest: strict, options: {}, verifyMemo: null }),
        (e: unknown) =>
          e instanceof CacheError &&
          e.code === 'missing-blob' &&
          // BuildKit's words first, as a local export says them; then the registry's; then the way out.
          e.message.includes(`missing blob ${gone}: GET blob ${proxy.host}/holey/cache@${gone}: 404 Not Found: BLOB_UNKNOWN: blob unknown to registry`) &&
          e.message.endsWith('drop-missing=true exports the chains that do not need it'),
      );
      assert.equal(existsSync(join(strict, 'index.json')) ? await taggedManifest(strict) : null, null, 'nothing tagged');
    } finally {
      own.close();
    }
    // The same to another registry (a copy, not a pull): refused the same way when the download of the lost blob starts.
    const other = await startRegistry();
    const client = new RegistryClient({ env: {} });
    // A fresh blob cache again: the shared one holds the blob (pulled from opts/cache), and would serve it.
    const copyAccess = createRegistryAccess({ blobCache: { root: join(work, 'holey-copy-blob-cache') } });
    try {
      await assert.rejects(
        runExport({
          opened: await openCacheSource(ref, { registry: copyAccess }),
          dest: 'unused',
          options: {},
          verifyMemo: null,
          registry: { reference: { registry: other.host, repository: 'copy/cache', tag: 'main' }, insecure: false, client, stateDir: null },
        }),
        (e: unknown) => e instanceof CacheError && e.code === 'missing-blob' && e.message.includes(`missing blob ${gone}: GET blob ${proxy.host}/holey/cache@${gone}: 404 Not Found`),
      );
      assert.ok(!other.requests().some((q) => q.method === 'PUT' && q.path.includes('/manifests/')), 'no manifest reached the other registry');
    } finally {
      copyAccess.close();
      client.close();
      await other.stop();
    }
    const opened = await openCacheSource(ref, { registry: access });
    const all = (await viewOf(opened)).layers;
    const preview = await previewExport(opened, { 'drop-missing': true });
    assert.deepEqual(preview.missingBlobs, [gone]);
    assert.equal((await previewExport(opened, {})).error, `missing blob ${gone}`, 'BuildKit\'s words before the pull');
    const dropped = new Set(preview.layers.filter((l) => l.dropped !== null).map((l) => l.index));
    assert.ok(dropped.size > 0 && dropped.size < all.length, `some but not all entries dropped: ${dropped.size} of ${all.length}`);
    const dest = join(work, 'holey-dropped');
    const result = await runExport({ opened, dest, options: { 'drop-missing': true }, verifyMemo: null });
    assert.ok(result.descriptor);
    const back = await viewOf(await openCacheSource(dest));
    assert.deepEqual(entriesOf(back.layers), entriesOf(all, (l) => !dropped.has(l.index)));
    const blobs = await assertAllBlobsVerified(dest);
    assert.ok(!blobs.includes(gone), 'the missing blob is not in the folder');
    assert.ok(back.layers.every((l) => blobs.includes(l.blob)), 'every kept layer is in the folder');
  });
});
