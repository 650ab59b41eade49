/**
 * Attaching an image from a registry to name a cache's records: the image (made by hand from the
 * buildkit-v0.24 cache's own layers, with the Dockerfile's history) is pushed to real distribution
 * 2.8, then read back through the registry client: a plain image by tag, and a multi-platform index
 * from which this machine's platform is picked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPlatform } from '../../../electron/engine/export/image-config';
import { createService } from '../../../electron/engine/service';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { readImageHistory } from '../../../electron/engine/sources/image-history';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { CacheView } from '../../../shared/cache/view-types';
import { FIXTURES } from '../../helpers/fixtures';
import { writeHistoryImages, writeMultiPlatformImage } from '../../helpers/history-image';
import type { HistoryImage } from '../../helpers/history-image';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const CACHE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const STEPS = ['COPY a.txt /a.txt # buildkit', 'COPY b.txt /b.txt # buildkit', 'COPY /c /fromother # buildkit', 'COPY e.txt /e.txt # buildkit', 'COPY a.txt /again/a.txt # buildkit'];

function finalImage(view: CacheView): HistoryImage {
  const final = view.records.filter((r) => r.stack.length > 0).reduce((a, b) => (b.stack.length > a.stack.length ? b : a)).stack;
  return { chain: final, history: STEPS.map((created_by) => ({ created: '2026-11-29T19:05:36Z', created_by })), tag: 'final' };
}

describe('attach an image from a registry (real distribution)', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let access: RegistryAccess;
  let view: CacheView;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-attach-registry-'));
    registry = await startRegistry();
    view = await viewOf(await openCacheSource(CACHE));
    const image = finalImage(view);
    const single = join(tmp, 'single');
    await writeHistoryImages(single, view, [image], CACHE);
    await pushFixture(registry, single, 'app/web:1.0', { sourceTag: 'final' });
    const here = defaultPlatform();
    const elsewhere = here.architecture === 'arm64' ? 'amd64' : 'arm64';
    const multi = join(tmp, 'multi');
    await writeMultiPlatformImage(
      multi,
      view,
      [
        { ...image, history: image.history.map((h) => ({ ...h, created_by: `${h.created_by} (${elsewhere})` })), platform: { os: 'linux', architecture: elsewhere } },
        { ...image, platform: { os: here.os, architecture: here.architecture } },
      ],
      'multi',
      CACHE,
    );
    await pushFixture(registry, multi, 'app/web:multi', { sourceTag: 'multi' });
    await pushFixture(registry, CACHE, 'app/cache:main');
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
  });
  after(async () => {
    access?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads an image by tag and names the records with its history', async () => {
    const image = await readImageHistory(`${registry.host}/app/web:1.0`, { registry: access });
    assert.deepEqual(
      image.history.map((h) => h.created_by),
      STEPS,
    );
    const named = await viewOf(await openCacheSource(CACHE), [image]);
    assert.equal(named.names!.images[0].namedRecords, 5);
    assert.match(named.names!.records.find(Boolean)!.from, new RegExp(`^from image ${registry.host}/app/web:1\\.0 history\\[\\d\\]$`));
  });

  it("picks this machine's platform from a multi-platform index", async () => {
    const image = await readImageHistory(`${registry.host}/app/web:multi`, { registry: access });
    assert.deepEqual(
      image.history.map((h) => h.created_by),
      STEPS,
    );
  });

  it('through the service: a registry image attaches; a cache, an unknown tag and a missing repository are refused in words', async () => {
    const service = createService({ startupSource: null, mode: 'browser', emit: () => undefined, env: { ...process.env, XDG_CACHE_HOME: tmp, DOCKER_CONFIG: join(tmp, 'docker') } });
    try {
      const { cacheId } = await service.openCache({ source: CACHE });
      const { view: named } = await service.attachImage({ cacheId, image: `${registry.host}/app/web:1.0` });
      assert.deepEqual(
        named.names!.images.map((i) => [i.ref, i.namedRecords]),
        [[`${registry.host}/app/web:1.0`, 5]],
      );
      await assert.rejects(service.attachImage({ cacheId, image: `${registry.host}/app/cache:main` }), /is a build cache .*not an image/);
      await assert.rejects(service.attachImage({ cacheId, image: `${registry.host}/app/web:nope` }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'not-found', e.message);
        return true;
      });
      await assert.rejects(service.attachImage({ cacheId, image: `${registry.host}/no/such:repo` }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'not-found', e.message);
        return true;
      });
    } finally {
      await service.dispose();
    }
  });
});
