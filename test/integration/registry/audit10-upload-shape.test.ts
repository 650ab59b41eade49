/**
 * Audit of issue 10, "monolithic for small blobs; chunked PATCH for large ones": on the wire of a real
 * distribution 2.8 (counting proxy), a blob up to the chunk size goes as POST + one PUT carrying all
 * of it (no PATCH); a larger one as PATCHes of exactly the chunk size with consecutive Content-Ranges,
 * then the final PUT with the rest; the registry then holds both blobs.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { registrySuite } from '../../helpers/registry/suite';

const MiB = 1 << 20;

describe('upload shapes', () => {
  const reg = registrySuite('audit10-shape');

  const blob = async (name: string, size: number) => {
    const bytes = randomBytes(size);
    const file = join(reg.tmp, name);
    await writeFile(file, bytes);
    return { file, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size };
  };

  const repo = () => ({ registry: reg.proxy.host, repository: 'audit10/shape' });

  it('a blob of at most one chunk: POST, then one PUT with every byte, no PATCH', async () => {
    const b = await blob('small', 3 * MiB + 5);
    reg.proxy.clear();
    const r = await reg.client.pushBlob(repo(), b, b.file, { chunkSize: 4 * MiB });
    assert.equal(r.outcome, 'uploaded');
    const reqs = reg.proxy.requests().filter((q) => q.path.includes('/blobs/uploads/'));
    assert.deepEqual(reqs.map((q) => q.method), ['POST', 'PUT']);
    assert.equal(reqs[1].bytesIn, b.size);
    assert.match(reqs[1].path, new RegExp(`digest=${encodeURIComponent(b.digest)}|digest=${b.digest}`));
    assert.ok(await reg.client.headBlob(repo(), b.digest));
  });

  it('a larger blob: PATCHes of exactly the chunk size at consecutive ranges, then a PUT with the rest', async () => {
    const chunk = 4 * MiB;
    const b = await blob('large', 3 * chunk + 12345);
    reg.proxy.clear();
    const r = await reg.client.pushBlob(repo(), b, b.file, { chunkSize: chunk });
    assert.equal(r.outcome, 'uploaded');
    assert.equal(r.bytesSent, b.size);
    const reqs = reg.proxy.requests().filter((q) => q.path.includes('/blobs/uploads/'));
    assert.deepEqual(reqs.map((q) => q.method), ['POST', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
    reqs.filter((q) => q.method === 'PATCH').forEach((q, i) => {
      assert.equal(q.bytesIn, chunk);
      assert.equal(q.contentRange, `${i * chunk}-${(i + 1) * chunk - 1}`);
    });
    assert.equal(reqs[4].bytesIn, 12345);
    assert.ok(await reg.client.headBlob(repo(), b.digest));
  });
});
