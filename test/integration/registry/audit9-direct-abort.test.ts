/**
 * Audit of issue 9's pull path on download threads (registry/direct-download.ts) against the
 * AbortSignal and resume promises, with a real distribution 2.8 (htpasswd) behind the counting/fault
 * proxy: a layer cancelled mid-body on a thread rejects with the caller's reason, commits nothing and
 * keeps what arrived; the next ask resumes with Range from there (the proxy's byte counts show it),
 * with per-layer states downloading → done, and then cached.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { SourceBlobProgress } from '../../../electron/engine/sources/source-blobs';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { pushFixture } from '../../helpers/registry/index';
import { registrySuite } from '../../helpers/registry/suite';

const MiB = 1 << 20;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('cancelling a layer download on a thread (distribution 2.8, htpasswd, fault proxy)', () => {
  let layer: { digest: string; size: number };
  let access: RegistryAccess | undefined;
  // Registered first, so the access closes before the registry and proxy stop.
  after(() => access?.close());
  const reg = registrySuite('audit9-abort', {
    registry: { auth: 'htpasswd' },
    client: false,
    setup: async ({ registry, tmp }) => {
      const src = join(tmp, 'src');
      const gen = await generateCache(src, { seed: 'audit9-abort', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 2 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
      const big = (gen.layerDescriptors as { digest: string; size: number }[]).filter((d) => d.size > 1 * MiB);
      assert.ok(big.length >= 1);
      layer = { digest: big[0].digest, size: big[0].size };
      await pushFixture(registry, src, 'audit/abort:main');
    },
  });

  it('aborts mid-body with the caller’s reason, commits nothing, then resumes with Range and ends done, then cached', async () => {
    const [user, password] = Object.entries(reg.registry.users)[0];
    const cacheRoot = join(reg.tmp, 'cache');
    access = createRegistryAccess({ blobCache: { root: cacheRoot }, client: { credentials: new StaticCredentialStore({ [reg.proxy.host]: { username: user, password } }), idleTimeoutMs: 120_000 } });
    const opened = await openCacheSource(`${reg.proxy.host}/audit/abort:main`, { registry: access });
    const cut = 300_000;
    // The body stops after `cut` bytes and stays open: only the abort can end this download.
    reg.proxy.setFaults([{ method: 'GET', path: layer.digest, fault: { kind: 'stall', ms: 60_000, afterBytes: cut } }]);
    reg.proxy.clear();
    const before = directDownloadCounts();
    const controller = new AbortController();
    const reason = new Error('audit9: the user cancelled');
    const pending = opened.blobs.get(layer, { signal: controller.signal });
    const partial = join(cacheRoot, 'ingest', `sha256-${layer.digest.slice(7)}.partial`);
    // Wait (by polling the file, no timing asserted) until the thread has written the bytes that came.
    for (let i = 0; i < 600; i++) {
      if (((await stat(partial).catch(() => null))?.size ?? 0) >= cut) break;
      await sleep(50);
    }
    controller.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
    const kept = (await stat(partial)).size;
    assert.ok(kept > 0 && kept <= cut, `kept ${kept} bytes`);
    assert.equal(directDownloadCounts().complete, before.complete, 'the cancelled GET did not complete');
    const committed = (await readdir(join(cacheRoot), { recursive: true })).filter((n) => n.endsWith(layer.digest.slice(7)));
    assert.deepEqual(committed, [], 'nothing committed for the cancelled blob');

    reg.proxy.setFaults(undefined);
    reg.proxy.clear();
    const states: SourceBlobProgress['state'][] = [];
    const resumed = directDownloadCounts();
    const file = await opened.blobs.get(layer, { onProgress: (p) => states.push(p.state) });
    assert.equal(sha(await readFile(file.path)), layer.digest);
    assert.equal(file.outcome, 'downloaded');
    assert.equal(directDownloadCounts().complete, resumed.complete + 1, 'the resume ran on a thread');
    await file.release();
    const gets = reg.proxy.requests().filter((q) => q.method === 'GET' && q.path.endsWith(layer.digest));
    assert.equal(gets.length, 1);
    assert.equal(gets[0].range, `bytes=${kept}-`, 'resumed from the kept bytes');
    assert.equal(gets[0].bytesOut, layer.size - kept, 'only the rest crossed the wire');
    assert.equal(gets[0].authorization, true);
    assert.equal(states.at(-1), 'done');
    assert.ok(states.includes('downloading'), states.join(','));

    const again: SourceBlobProgress['state'][] = [];
    const cachedFile = await opened.blobs.get(layer, { onProgress: (p) => again.push(p.state) });
    assert.equal(cachedFile.outcome, 'cached');
    assert.deepEqual([...new Set(again)], ['cached']);
    await cachedFile.release();
  });
});
