/**
 * Audit of issue 9's pull path on download threads (registry/direct-download.ts) against "retries
 * with backoff and jitter on network errors, 408, 429 and 5xx, honouring Retry-After": when a thread's
 * GET is answered 429 or 503, or its body is cut, the client asks again only after the wait the
 * transport would have made (the registry's Retry-After, else its backoff), never at once. Real
 * distribution 2.8 behind the counting/fault proxy; the clock is injected, so the waits are recorded,
 * not slept.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { pushFixture } from '../../helpers/registry/index';
import type { Fault } from '../../helpers/registry/index';
import { registrySuite } from '../../helpers/registry/suite';

const MiB = 1 << 20;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('the wait before asking again after a thread’s GET failed (distribution 2.8, fault proxy)', () => {
  let layer: { digest: string; size: number };
  let run = 0;
  const reg = registrySuite('audit9-backoff', {
    client: false,
    setup: async ({ registry, tmp }) => {
      const src = join(tmp, 'src');
      const gen = await generateCache(src, { seed: 'audit9-backoff', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 1 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
      const big = (gen.layerDescriptors as { digest: string; size: number }[]).filter((d) => d.size > 256 * 1024);
      assert.ok(big.length >= 1);
      layer = { digest: big[0].digest, size: big[0].size };
      await pushFixture(registry, src, 'audit/backoff:main');
    },
  });

  /**
   * Fetches the layer with `fault` on its first GET; returns each wait the client made with the
   * number of GETs of the layer the proxy had seen by then, and how the thread's GET ended.
   */
  async function waitsAround(fault: Fault): Promise<{ waits: { ms: number; getsBefore: number }[]; direct: { fallback: number; partial: number } }> {
    const waits: { ms: number; getsBefore: number }[] = [];
    const layerGets = () => reg.proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest)).length;
    const access = createRegistryAccess({
      blobCache: { root: join(reg.tmp, `cache-${run++}`) },
      client: {
        credentials: new StaticCredentialStore(),
        clock: { now: () => Date.now(), random: () => 0.5, sleep: async (ms: number) => void waits.push({ ms, getsBefore: layerGets() }) },
      },
    });
    try {
      const opened = await openCacheSource(`${reg.proxy.host}/audit/backoff:main`, { registry: access });
      reg.proxy.clear();
      waits.length = 0;
      reg.proxy.setFaults([{ method: 'GET', path: layer.digest, fault }]);
      const before = directDownloadCounts();
      const file = await opened.blobs.get(layer);
      assert.equal(sha(await readFile(file.path)), layer.digest);
      await file.release();
      const now = directDownloadCounts();
      assert.equal(layerGets(), 2, 'the faulted GET, then one more');
      return { waits, direct: { fallback: now.fallback - before.fallback, partial: now.partial - before.partial } };
    } finally {
      reg.proxy.setFaults(undefined);
      access.close();
    }
  }

  it('429 with Retry-After: 30 on the thread’s GET: the client waits 30 s before the next GET', async () => {
    const { waits, direct } = await waitsAround({ kind: 'rate-limit', retryAfter: 30 });
    assert.deepEqual(direct, { fallback: 1, partial: 0 }, 'the thread met the 429');
    assert.ok(waits.some((w) => w.ms === 30_000 && w.getsBefore === 1), `waits: ${JSON.stringify(waits)}`);
  });

  it('503 on the thread’s GET: the client backs off before the next GET', async () => {
    const { waits, direct } = await waitsAround({ kind: 'status', status: 503 });
    assert.deepEqual(direct, { fallback: 1, partial: 0 });
    assert.ok(waits.some((w) => w.ms > 0 && w.getsBefore === 1), `waits: ${JSON.stringify(waits)}`);
  });

  it('a body cut on the thread: the client backs off before the Range GET, as after a drop on the stream path', async () => {
    const { waits, direct } = await waitsAround({ kind: 'reset', afterBytes: 200_000, direction: 'response' });
    assert.deepEqual(direct, { fallback: 0, partial: 1 });
    assert.ok(waits.some((w) => w.ms > 0 && w.getsBefore === 1), `waits: ${JSON.stringify(waits)}`);
  });
});
