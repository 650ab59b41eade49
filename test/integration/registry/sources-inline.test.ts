/**
 * Inline cache from a registry image (`moby.buildkit.cache.v0` in its config), by plain reference and
 * by `docker-image://`; a multi-platform image names each platform's reference to open instead; an
 * image without inline cache says so. Real distribution 2.8, images written as OCI layouts and pushed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheView } from '../../../shared/cache/view-types';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { writeImageLayout } from '../../helpers/image-layout';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const T1 = '2025-03-04T05:06:07.123456789Z';
/** Two records: a source record and one that uses it, both with the image's one layer as result. */
const RECORDS = [
  { digest: `sha256:${'1'.repeat(64)}`, layers: [{ layer: 0, createdAt: T1 }] },
  { digest: `sha256:${'2'.repeat(64)}`, inputs: [[{ link: 0, selector: '' }]], layers: [{ layer: 0, createdAt: T1 }] },
];

function comparable(view: CacheView): unknown {
  const { source: _s, layout: _l, blobLocation: _b, orphans: _o, ...rest } = view;
  // Names say which image they come from: the source itself here, local or remote, so it is written the same way.
  let text = JSON.stringify({ ...rest, warnings: rest.warnings.map((w) => ({ code: w.code, message: w.message })) });
  for (const where of [view.source, view.source.replace(/^docker-image:\/\//, '')]) text = text.split(where).join('<the source>');
  return JSON.parse(text);
}

describe('inline cache and images from a registry', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let access: RegistryAccess;
  const digests: Record<string, string> = {};

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-sources-inline-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
    await writeImageLayout(join(tmp, 'inline'), { content: 'inline', inlineRecords: RECORDS });
    await pushFixture(registry, join(tmp, 'inline'), 'app:inline');
    await writeImageLayout(join(tmp, 'plain'), { content: 'plain' });
    await pushFixture(registry, join(tmp, 'plain'), 'app:plain');
    // A two-platform image: both images' blobs in one layout, under an image index tagged latest.
    const multi = join(tmp, 'multi');
    const amd = await writeImageLayout(multi, { content: 'amd64', inlineRecords: RECORDS, tag: 'amd64' });
    const arm = await writeImageLayout(multi, { content: 'arm64', inlineRecords: RECORDS, tag: 'arm64' });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifestDigest, size: amd.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifestDigest, size: arm.manifestSize, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    const hex = createHash('sha256').update(index).digest('hex');
    await writeFile(join(multi, 'blobs', 'sha256', hex), index);
    await writeFile(
      join(multi, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${hex}`, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
    );
    await pushFixture(registry, multi, 'multi:latest');
    digests.amd = amd.manifestDigest;
    digests.arm = arm.manifestDigest;
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('an image whose config carries inline cache opens as a cache, by plain reference and by docker-image://, like its local layout', async () => {
    const local = await viewOf(await openCacheSource(join(tmp, 'inline')));
    assert.equal(local.variant, 'inline');
    for (const source of [`${proxy.host}/app:inline`, `docker-image://${proxy.host}/app:inline`]) {
      proxy.clear();
      const remote = await viewOf(await openCacheSource(source, { registry: access }));
      assert.deepEqual(comparable(remote), comparable(local), source);
      assert.equal(remote.records.length, 2);
      // Only the manifest and the image config.
      const paths = proxy.requests().map((r) => `${r.method} ${r.path}`).filter((p) => p !== 'GET /v2/');
      assert.deepEqual(paths, [`GET /v2/app/manifests/inline`, `GET /v2/app/blobs/${local.config.digest}`], source);
    }
  });

  it('a multi-platform image lists each platform as a reference to open, and each one opens', async () => {
    const err = await openCacheSource(`docker-image://${proxy.host}/multi:latest`, { registry: access }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CacheError, String(err));
    const amd = `docker-image://${proxy.host}/multi@${digests.amd} (linux/amd64)`;
    const arm = `docker-image://${proxy.host}/multi@${digests.arm} (linux/arm64/v8)`;
    assert.ok(err.message.includes(amd) && err.message.includes(arm), err.message);
    const view = await viewOf(await openCacheSource(`docker-image://${proxy.host}/multi@${digests.arm}`, { registry: access }));
    assert.equal(view.variant, 'inline');
    assert.equal(view.manifest?.digest, digests.arm);
    // The plain reference lists plain references.
    await assert.rejects(openCacheSource(`${proxy.host}/multi:latest`, { registry: access }), (e: unknown) => e instanceof CacheError && e.message.includes(`${proxy.host}/multi@${digests.amd} (linux/amd64)`));
  });

  it('an image without inline cache is refused, saying why', async () => {
    await assert.rejects(
      openCacheSource(`docker-image://${proxy.host}/app:plain`, { registry: access }),
      (e: unknown) => e instanceof CacheError && e.code === 'invalid-manifest' && e.message.includes('moby.buildkit.cache.v0') && e.message.includes(`${proxy.host}/app:plain`),
    );
  });
});
