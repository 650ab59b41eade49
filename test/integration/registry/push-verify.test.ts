/**
 * Every blob is verified against its digest before it can land (uploads.ts): a local file damaged
 * after it was written (same size, one byte changed) is refused by Cachescope itself with a
 * `digest-mismatch` that names the file. A blob that fits one PUT sends none of its bytes; a chunked
 * one never gets its committing PUT, its session is DELETEd, and the registry does not hold it.
 * A resumed upload hashes the bytes the registry already held from the local file (nothing re-sent),
 * so a file damaged in that part between two runs is refused too. Against a real distribution 2.8,
 * counted at the loopback proxy.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { layoutManifest, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;

/** Flips one byte of `file` at `at` (the size stays the same). */
async function damage(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

async function blobFile(dir: string, size: number): Promise<{ file: string; digest: string; size: number }> {
  const bytes = randomBytes(size);
  const file = join(dir, `blob-${size}-${bytes.readUInt32BE(0)}`);
  await writeFile(file, bytes);
  return { file, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size };
}

describe('blobs are verified before they can land', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let client: RegistryClient;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-verify-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    client = new RegistryClient({ env: {}, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  });
  after(async () => {
    client?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('an export of a layout with a damaged layer fails naming the file, sends none of its bytes, and pushes no manifest', async () => {
    const layout = join(tmp, 'cache');
    await generateCache(layout, { seed: 'push-verify', stages: 1, layersPerStage: 2, layers: 2, baseLayers: 1, layerBytes: 256 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const layer = layoutManifest(layout).json.layers![0];
    const [, hex] = layer.digest.split(':');
    const file = join(layout, 'blobs', 'sha256', hex);
    await damage(file, 100);
    proxy.clear();
    const src = await openCacheSource(layout);
    const repo = 'verify/export';
    const err = await runExport({ opened: src, dest: 'unused', options: { tag: 'c' }, registry: { ...parseRegistryDestination(`${proxy.host}/${repo}:c`)!, client, stateDir: join(tmp, 'state'), historyFile: null }, verifyMemo: null }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CacheError, `expected a CacheError, got ${String(err)}`);
    assert.equal(err.code, 'digest-mismatch', err.message);
    assert.ok(err.message.includes(file), err.message);
    const reqs = proxy.requests();
    const show = reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn}`).join('\n');
    // Not one byte of the damaged blob went out (it fits one PUT: hashed before sending), and no manifest.
    assert.equal(reqs.filter((q) => q.method === 'PUT' && q.path.includes(`digest=${encodeURIComponent(layer.digest)}`)).length, 0, show);
    assert.equal(reqs.filter((q) => q.path.includes('/manifests/')).length, 0, show);
    assert.equal(await client.headBlob({ registry: registry.host, repository: repo }, layer.digest), null);
  });

  it('a chunked blob whose file is damaged near its end never gets its committing PUT; its session is cancelled', async () => {
    const blob = await blobFile(tmp, 6 * MiB + 12345);
    await damage(blob.file, blob.size - 10);
    proxy.clear();
    const repo = { registry: proxy.host, repository: 'verify/chunked' };
    const err = await client.pushBlob(repo, blob, blob.file, { chunkSize: 1 * MiB, stateDir: join(tmp, 'state') }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CacheError && err.code === 'digest-mismatch', String(err));
    assert.ok(err.message.includes(blob.file), err.message);
    const reqs = proxy.requests();
    const show = reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn}`).join('\n');
    assert.equal(reqs.filter((q) => q.method === 'PUT').length, 0, show);
    assert.ok(reqs.some((q) => q.method === 'PATCH'), show);
    assert.equal(reqs.at(-1)?.method, 'DELETE', show);
    assert.equal(await client.headBlob({ registry: registry.host, repository: repo.repository }, blob.digest), null);
  });

  it('a resumed upload hashes what the registry already holds from the local file: damage there, between two runs, is refused', async () => {
    const blob = await blobFile(tmp, 6 * MiB + 999);
    const stateDir = join(tmp, 'state-resume');
    const repo = { registry: proxy.host, repository: 'verify/resume' };
    // First run: the 4th PATCH is refused (a 4xx the client does not retry), leaving 3 MiB in the session and its state on disk.
    let patches = 0;
    const faults: FaultFn = (req) => (req.method === 'PATCH' && ++patches === 4 ? { kind: 'status', status: 400, body: '{"errors":[{"code":"DENIED","message":"test stops here"}]}' } : undefined);
    const cutting = await startProxy(registry, { faults });
    const cut = { registry: cutting.host, repository: repo.repository };
    try {
      await assert.rejects(client.pushBlob(cut, blob, blob.file, { chunkSize: 1 * MiB, stateDir }));
      // The bytes the registry holds were good; now the file's first MiB changes.
      await damage(blob.file, 1000);
      cutting.clear();
      const states: string[] = [];
      const err = await client.pushBlob(cut, blob, blob.file, { chunkSize: 1 * MiB, stateDir, onState: (s) => states.push(s) }).then(
        () => null,
        (e: unknown) => e,
      );
      const reqs = cutting.requests();
      const show = reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn} ${q.contentRange ?? ''}`).join('\n');
      assert.deepEqual(states, ['resumed'], show);
      assert.ok(err instanceof CacheError && err.code === 'digest-mismatch', `${String(err)}\n${show}`);
      // It resumed (no byte of the first 3 MiB sent again) and never committed.
      assert.ok(reqs.filter((q) => q.method === 'PATCH').every((q) => Number(q.contentRange!.split('-')[0]) >= 3 * MiB), show);
      assert.equal(reqs.filter((q) => q.method === 'PUT').length, 0, show);
      assert.equal(await client.headBlob({ registry: registry.host, repository: repo.repository }, blob.digest), null);
    } finally {
      await cutting.stop();
    }
  });
});
