/**
 * The registry browser's pure parts: the bounded pool that reads tags (never more than `limit` at
 * once, results in tag order), repository names (a tag or digest is refused, not dropped), and the
 * rows' shared-manifest and unique-byte arithmetic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapBounded, parseRepository, tagRows } from '../../../electron/engine/sources/registry-tags';

describe('mapBounded', () => {
  it('runs at most `limit` at once and keeps input order', async () => {
    let active = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const work = mapBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise<void>((resolve) => gates.push(resolve));
      active--;
      return n * 10;
    });
    // Release one waiting task at a time, in reverse order of arrival, until all have run.
    for (let released = 0; released < 7; released++) {
      while (gates.length === 0) await new Promise((r) => setImmediate(r));
      assert.ok(active <= 3);
      gates.pop()!();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await work, [10, 20, 30, 40, 50, 60, 70]);
    assert.equal(peak, 3);
  });
});

describe('parseRepository', () => {
  it('takes registry/repo and refuses a tag or a digest', () => {
    assert.deepEqual(parseRepository('127.0.0.1:5000/team/cache'), { registry: '127.0.0.1:5000', repository: 'team/cache' });
    assert.throws(() => parseRepository('127.0.0.1:5000/team/cache:main'), /without a tag or digest/);
    assert.throws(() => parseRepository(`r.example/a@sha256:${'a'.repeat(64)}`), /without a tag or digest/);
  });
});

describe('tagRows', () => {
  const repo = { registry: 'r.example', repository: 'team/cache' };
  const details = (digest: string, blobs: [string, number][]) => ({
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    form: 'image-manifest' as const,
    kind: 'cache' as const,
    family: 'oci' as const,
    compressions: ['gzip'],
    layerCount: blobs.length - 1,
    blobs: new Map(blobs),
    createdAt: null,
    problem: null,
  });
  it('names tags on one manifest and counts only bytes no other tag references as unique', () => {
    const a = details('sha256:m1', [['sha256:m1', 100], ['sha256:l1', 1000], ['sha256:l2', 2000]]);
    const b = details('sha256:m2', [['sha256:m2', 90], ['sha256:l2', 2000], ['sha256:l3', 3000]]);
    const rows = tagRows(repo, ['a', 'a2', 'b', 'bad'], [a, a, b, new Error('GET manifest: 404')]);
    assert.deepEqual(rows.map((r) => [r.tag, r.totalBytes, r.uniqueBytes, r.sharedWith]), [
      ['a', 3100, 0, ['a2']],
      ['a2', 3100, 0, ['a']],
      ['b', 5090, 3090, []],
      ['bad', 0, 0, []],
    ]);
    assert.equal(rows[0].source, 'r.example/team/cache:a');
    assert.equal(rows[3].error, 'GET manifest: 404');
    assert.equal(rows[3].digest, null);
  });
});
