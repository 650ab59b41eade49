/**
 * Audit of issue 10, "monolithic for small blobs; chunked PATCH for large ones": on the wire of a real
 * distribution 2.8 (counting proxy), a blob up to the chunk size goes as POST + one PUT carrying all
 * of it (no PATCH); a larger one as PATCHes of exactly the chunk size with consecutive Content-Ranges,
 * then the final PUT with the rest; the registry then holds both blobs.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;

describe('upload shapes', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let client: RegistryClient;

  const blob = async (name: string, size: number) => {
    const bytes = randomBytes(size);
    const file = join(tmp, name);
    await writeFile(file, bytes);
    return { file, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size };
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-audit10-shape-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    client = new RegistryClient({ env: {} });
  });
  after(async () => {
    client?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const repo = () => ({ registry: proxy.host, repository: 'audit10/shape' });

  it('a blob of at most one chunk: POST, then one PUT with every byte, no PATCH', async () => {
    const b = await blob('small', 3 * MiB + 5);
    proxy.clear();
    const r = await client.pushBlob(repo(), b, b.file, { chunkSize: 4 * MiB });
    assert.equal(r.outcome, 'uploaded');
    const reqs = proxy.requests().filter((q) => q.path.includes('/blobs/uploads/'));
    assert.deepEqual(reqs.map((q) => q.method), ['POST', 'PUT']);
    assert.equal(reqs[1].bytesIn, b.size);
    assert.match(reqs[1].path, new RegExp(`digest=${encodeURIComponent(b.digest)}|digest=${b.digest}`));
    assert.ok(await client.headBlob(repo(), b.digest));
  });

  it('a larger blob: PATCHes of exactly the chunk size at consecutive ranges, then a PUT with the rest', async () => {
    const chunk = 4 * MiB;
    const b = await blob('large', 3 * chunk + 12345);
    proxy.clear();
    const r = await client.pushBlob(repo(), b, b.file, { chunkSize: chunk });
    assert.equal(r.outcome, 'uploaded');
    assert.equal(r.bytesSent, b.size);
    const reqs = proxy.requests().filter((q) => q.path.includes('/blobs/uploads/'));
    assert.deepEqual(reqs.map((q) => q.method), ['POST', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
    reqs.filter((q) => q.method === 'PATCH').forEach((q, i) => {
      assert.equal(q.bytesIn, chunk);
      assert.equal(q.contentRange, `${i * chunk}-${(i + 1) * chunk - 1}`);
    });
    assert.equal(reqs[4].bytesIn, 12345);
    assert.ok(await client.headBlob(repo(), b.digest));
  });
});
