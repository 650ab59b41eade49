/**
 * The per-user blob cache (blob-cache.ts) in one process: cached hits fetch nothing, concurrent gets
 * share one download, a cancelled caller does not cancel the others, a cancelled or truncated
 * download resumes from its partial file, wrong bytes never reach blobs/, and eviction keeps the
 * cache under its cap in LRU order without touching pinned blobs. The fetcher serves real bytes from
 * a file; last-use times come from a counter, so nothing depends on timing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openBlobCache } from '../../../electron/engine/store/blob-cache';
import type { BlobCache, BlobCacheProgress } from '../../../electron/engine/store/blob-cache';
import { defaultBlobCacheDir } from '../../../electron/engine/store/blob-cache-dir';
import { acquireLock } from '../../../electron/engine/store/file-lock';
import type { CacheError } from '../../../shared/contract/errors';
import { fileFetcher, makeBlobFile, memoryGate, sha256 } from './blob-cache-helpers';

let base: string;
let n = 0;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-blob-cache-'));
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A fresh cache with a counter clock, and a source blob of `size` random bytes. */
async function setup(size = 200_000, maxBytes?: number) {
  const dir = join(base, `case-${n++}`);
  await mkdir(dir, { recursive: true });
  let tick = 0;
  const cache = await openBlobCache({ root: join(dir, 'cache'), maxBytes, now: () => ++tick });
  const src = join(dir, 'blob');
  const blob = await makeBlobFile(src, size);
  return { dir, cache, src, blob };
}

/** Resolves once a progress listener has seen at least `bytes` downloaded. */
function progressWatcher() {
  const seen: BlobCacheProgress[] = [];
  const waits: Array<{ bytes: number; resolve: () => void }> = [];
  const onProgress = (p: BlobCacheProgress) => {
    seen.push(p);
    for (const w of waits) if (p.state === 'downloading' && p.bytes >= w.bytes) w.resolve();
  };
  const reached = (bytes: number) => new Promise<void>((resolve) => waits.push({ bytes, resolve }));
  return { seen, onProgress, reached };
}

function partialPath(cache: BlobCache, digest: string): string {
  return join(cache.root, 'ingest', `${digest.replace(':', '-')}.partial`);
}

async function fileDigest(path: string): Promise<string> {
  return sha256(await readFile(path));
}

describe('blob cache: get', () => {
  it('downloads a blob once, verified, and a second get is a cached hit with no fetch', async () => {
    const { cache, src, blob } = await setup();
    const first = fileFetcher(src);
    const watch = progressWatcher();
    const got = await cache.get(blob.digest, blob.size, first, { onProgress: watch.onProgress });
    assert.equal(got.outcome, 'downloaded');
    assert.equal(got.path, join(cache.root, 'blobs', 'sha256', blob.digest.slice(7)));
    assert.equal(await fileDigest(got.path), blob.digest);
    assert.deepEqual(first.calls, [0]);
    assert.deepEqual(watch.seen.at(-1), { digest: blob.digest, state: 'done', bytes: blob.size, total: blob.size });
    assert.ok(watch.seen.some((p) => p.state === 'downloading' && p.bytes > 0 && p.bytes < blob.size), 'progress arrives while bytes arrive');
    await got.release();

    const second = fileFetcher(src);
    const watch2 = progressWatcher();
    const again = await cache.get(blob.digest, blob.size, second, { onProgress: watch2.onProgress });
    assert.equal(again.outcome, 'cached');
    assert.deepEqual(second.calls, [], 'a cached blob is not fetched');
    assert.deepEqual(watch2.seen, [{ digest: blob.digest, state: 'cached', bytes: blob.size, total: blob.size }]);
    await again.release();
    assert.deepEqual(await readdir(join(cache.root, 'ingest')), [], 'no ingest leftovers after a commit');
    assert.deepEqual(await readdir(join(cache.root, '.cachescope', 'leases')), [], 'released pins leave no lease behind');
  });

  it('two concurrent gets share one download and both see its progress', async () => {
    const { cache, src, blob } = await setup();
    const fetch = fileFetcher(src, { chunkSize: 8192 });
    const a = progressWatcher();
    const b = progressWatcher();
    const [ra, rb] = await Promise.all([cache.get(blob.digest, blob.size, fetch, { onProgress: a.onProgress }), cache.get(blob.digest, blob.size, fetch, { onProgress: b.onProgress })]);
    assert.deepEqual(fetch.calls, [0], 'one fetch for two callers');
    assert.equal(ra.path, rb.path);
    assert.equal(await fileDigest(ra.path), blob.digest);
    for (const w of [a, b]) {
      assert.ok(w.seen.some((p) => p.state === 'downloading'), 'each caller sees the download');
      assert.equal(w.seen.at(-1)?.state, 'done');
    }
    await ra.release();
    await rb.release();
  });

  it('aborting one of two callers leaves the shared download running for the other', async () => {
    const { cache, src, blob } = await setup();
    const gate = memoryGate();
    const fetch = fileFetcher(src, { stallAt: 50_000, gate: gate.gate });
    const one = new AbortController();
    const w1 = progressWatcher();
    const w2 = progressWatcher();
    const p1 = cache.get(blob.digest, blob.size, fetch, { signal: one.signal, onProgress: w1.onProgress });
    const p2 = cache.get(blob.digest, blob.size, fetch, { onProgress: w2.onProgress });
    await Promise.all([w1.reached(50_000), w2.reached(50_000)]);
    one.abort();
    await assert.rejects(p1, (err: Error) => err.name === 'AbortError');
    gate.open();
    const r2 = await p2;
    assert.deepEqual(fetch.calls, [0], 'the download was not restarted');
    assert.equal(await fileDigest(r2.path), blob.digest);
    await r2.release();
  });

  it('aborting the last caller stops the download, keeps the partial file, and the next get resumes from it', async () => {
    const { cache, src, blob } = await setup();
    const gate = memoryGate();
    const stalled = fileFetcher(src, { stallAt: 70_000, gate: gate.gate });
    const ac = new AbortController();
    const w = progressWatcher();
    const p = cache.get(blob.digest, blob.size, stalled, { signal: ac.signal, onProgress: w.onProgress });
    await w.reached(70_000);
    ac.abort();
    await assert.rejects(p, (err: Error) => err.name === 'AbortError');
    assert.equal(await cache.has(blob.digest), false, 'nothing unverified is visible');
    // The cancelled download unwinds on its own; the next get waits for its lock if it has not yet.
    const resume = fileFetcher(src);
    const watch = progressWatcher();
    const got = await cache.get(blob.digest, blob.size, resume, { onProgress: watch.onProgress });
    assert.deepEqual(resume.calls, [70_000], 'fetched only the rest');
    assert.deepEqual(resume.prefixDigests, [sha256(blob.bytes.subarray(0, 70_000))], 'with the hash state of the kept prefix, for a verifying registry stream');
    assert.equal(got.resumedFrom, 70_000);
    assert.ok(watch.seen.some((s) => s.state === 'verifying' && s.bytes === 70_000), 'the kept prefix is hashed before resuming');
    assert.equal(await fileDigest(got.path), blob.digest);
    assert.equal(existsSync(partialPath(cache, blob.digest)), false);
    await got.release();
  });

  it('a download that ends early fails naming the digest, keeps its bytes, and the next get resumes', async () => {
    const { cache, src, blob } = await setup();
    const short = fileFetcher(src, { endEarlyAt: 123_456, endEarlyCalls: [0] });
    await assert.rejects(cache.get(blob.digest, blob.size, short), (err: CacheError) => err.code === 'size-mismatch' && err.message.includes(blob.digest) && err.message.includes(`123456 of ${blob.size}`));
    assert.equal((await stat(partialPath(cache, blob.digest))).size, 123_456);
    const resume = fileFetcher(src);
    const got = await cache.get(blob.digest, blob.size, resume);
    assert.deepEqual(resume.calls, [123_456]);
    assert.equal(await fileDigest(got.path), blob.digest);
    await got.release();
  });

  it('corrupted bytes are discarded and downloaded again from 0 once', async () => {
    const { cache, src, blob } = await setup();
    const fetch = fileFetcher(src, { corruptCalls: [0] });
    const got = await cache.get(blob.digest, blob.size, fetch);
    assert.deepEqual(fetch.calls, [0, 0]);
    assert.equal(await fileDigest(got.path), blob.digest);
    await got.release();
  });

  it('a fetcher that reports a digest mismatch itself (after the last byte) gets the same treatment: discarded, fetched again from 0', async () => {
    const { cache, src, blob } = await setup();
    const fetch = fileFetcher(src, { corruptCalls: [0], failAtEndCalls: [0] });
    const got = await cache.get(blob.digest, blob.size, fetch);
    assert.deepEqual(fetch.calls, [0, 0]);
    assert.equal(await fileDigest(got.path), blob.digest);
    await got.release();

    const { cache: cache2, src: src2, blob: blob2 } = await setup();
    const always = fileFetcher(src2, { corruptCalls: [0, 1], failAtEndCalls: [0, 1] });
    // Whether the cache's hash or the fetcher's check sees it first depends on how far the writes got; both name the digest.
    await assert.rejects(cache2.get(blob2.digest, blob2.size, always), (err: CacheError) => err.code === 'digest-mismatch' && err.message.startsWith(`blob ${blob2.digest}: `) && err.message.endsWith('(discarded; a fresh download from the start did not match either)'));
    assert.deepEqual(always.calls, [0, 0]);
    assert.equal(existsSync(partialPath(cache2, blob2.digest)), false, 'wrong bytes are not kept for a resume');
  });

  it('a corrupt partial file from an earlier run is detected after resuming, and replaced by a fresh download', async () => {
    const { cache, src, blob } = await setup();
    await mkdir(join(cache.root, 'ingest'), { recursive: true });
    const prefix = Buffer.from(blob.bytes.subarray(0, 40_000));
    prefix[100] ^= 1;
    await writeFile(partialPath(cache, blob.digest), prefix);
    const fetch = fileFetcher(src);
    const got = await cache.get(blob.digest, blob.size, fetch);
    assert.deepEqual(fetch.calls, [40_000, 0], 'resumed, found the mismatch, started over');
    assert.equal(await fileDigest(got.path), blob.digest);
    await got.release();
  });

  it('bytes that never match fail with an error naming the expected and the actual digest, and nothing reaches blobs/', async () => {
    const { cache, src, blob } = await setup();
    const fetch = fileFetcher(src, { corruptCalls: [0, 1] });
    const bad = Buffer.from(blob.bytes);
    bad[0] ^= 0xff;
    await assert.rejects(cache.get(blob.digest, blob.size, fetch), (err: CacheError) => {
      assert.equal(err.code, 'digest-mismatch');
      assert.match(err.message, new RegExp(`^blob ${blob.digest}: downloaded ${blob.size} bytes hash to ${sha256(bad)}, expected ${blob.digest}`));
      return true;
    });
    assert.deepEqual(fetch.calls, [0, 0], 'one retry from the start, then give up');
    assert.equal(await cache.has(blob.digest), false);
    assert.equal(existsSync(partialPath(cache, blob.digest)), false, 'the wrong bytes are not kept for a resume');
  });

  it('a blob of several MiB in odd-sized chunks lands whole; cut after its first MiB, it resumes from every byte on disk', async () => {
    // Chunks of 70_001 bytes straddle the sink's 1 MiB write buffers; the stall falls inside the second one.
    const { cache, src, blob } = await setup(3 * (1 << 20) + 12_345);
    const stallAt = (1 << 20) + 300_000;
    const gate = memoryGate();
    const cut = fileFetcher(src, { chunkSize: 70_001, stallAt, gate: gate.gate });
    const ac = new AbortController();
    const w = progressWatcher();
    const p = cache.get(blob.digest, blob.size, cut, { signal: ac.signal, onProgress: w.onProgress });
    await w.reached(stallAt);
    assert.equal((await stat(partialPath(cache, blob.digest))).size, stallAt, 'progress counts bytes that are on disk');
    ac.abort();
    await assert.rejects(p, (err: Error) => err.name === 'AbortError');
    const resume = fileFetcher(src, { chunkSize: 70_001 });
    const got = await cache.get(blob.digest, blob.size, resume);
    assert.deepEqual(resume.calls, [stallAt]);
    assert.equal(got.resumedFrom, stallAt);
    assert.equal(await fileDigest(got.path), blob.digest);
    await got.release();

    const { cache: other, src: src2, blob: blob2 } = await setup(3 * (1 << 20) + 7);
    const corrupt = fileFetcher(src2, { chunkSize: 70_001, corruptCalls: [0] });
    const again = await other.get(blob2.digest, blob2.size, corrupt);
    assert.deepEqual(corrupt.calls, [0, 0], 'a flipped byte in a large download is caught and the blob fetched again');
    assert.equal(await fileDigest(again.path), blob2.digest);
    await again.release();
  });

  it('a blob whose descriptor size is wrong is refused, whether cached or not', async () => {
    const { cache, src, blob } = await setup(10_000);
    await assert.rejects(cache.get(blob.digest, blob.size - 1, fileFetcher(src)), (err: CacheError) => err.code === 'size-mismatch' && err.message.includes(`blob ${blob.digest}: the download delivered more than the 9999 bytes`));
    const got = await cache.get(blob.digest, blob.size, fileFetcher(src));
    await got.release();
    await assert.rejects(cache.get(blob.digest, blob.size + 1, fileFetcher(src)), (err: CacheError) => err.code === 'size-mismatch' && err.message.includes(`says ${blob.size + 1}`));
  });
});

describe('blob cache: eviction', () => {
  /** `count` 1000-byte blobs, each in its own source file. */
  async function blobs(dir: string, count: number) {
    const out = [];
    for (let i = 0; i < count; i++) {
      const file = join(dir, `b${i}`);
      out.push({ ...(await makeBlobFile(file, 1000)), file });
    }
    return out;
  }

  it('after a commit over the cap, evicts least recently used blobs first', async () => {
    const { dir, cache } = await setup(1, 2500);
    const [a, b, c] = await blobs(dir, 3);
    for (const x of [a, b]) await (await cache.get(x.digest, x.size, fileFetcher(x.file))).release();
    // A is used again: B is now the least recently used.
    await (await cache.get(a.digest, a.size, fileFetcher(a.file))).release();
    await (await cache.get(c.digest, c.size, fileFetcher(c.file))).release();
    assert.equal(await cache.has(b.digest), false, 'B (least recently used) evicted');
    assert.equal(await cache.has(a.digest), true);
    assert.equal(await cache.has(c.digest), true);
    assert.deepEqual(await cache.usage(), { bytes: 2000, blobs: 2 });
  });

  it('never evicts a pinned blob, nor the blob just fetched', async () => {
    const { dir, cache } = await setup(1, 1500);
    const [a, b, c] = await blobs(dir, 3);
    // A stays pinned, as while an export links it.
    const heldA = await cache.get(a.digest, a.size, fileFetcher(a.file));
    await (await cache.get(b.digest, b.size, fileFetcher(b.file))).release();
    assert.equal(await cache.has(a.digest), true, 'A is pinned');
    assert.equal(await cache.has(b.digest), true, 'B was just fetched');
    assert.deepEqual(await cache.usage(), { bytes: 2000, blobs: 2 }, 'over the cap: nothing could be evicted');
    await (await cache.get(c.digest, c.size, fileFetcher(c.file))).release();
    assert.equal(await cache.has(b.digest), false, 'B, unpinned now, is evicted');
    assert.equal(await cache.has(a.digest), true, 'A, older but pinned, is kept');
    assert.equal(await cache.has(c.digest), true);
    await heldA.release();
    const result = await cache.evict();
    assert.deepEqual(result.removed, [{ digest: a.digest, size: 1000 }], 'released, A goes');
    assert.deepEqual(await cache.usage(), { bytes: 1000, blobs: 1 });
  });
});

describe('blob cache: holding a batch (a pull)', () => {
  it('held blobs are kept by eviction before and after their gets, in one pin file per process; release lets them go', async () => {
    const { dir, cache } = await setup(1, 1500);
    const made = [];
    for (let i = 0; i < 3; i++) {
      const file = join(dir, `h${i}`);
      made.push({ ...(await makeBlobFile(file, 1000)), file });
    }
    const [a, b, c] = made;
    await (await cache.get(a.digest, a.size, fileFetcher(a.file))).release();
    const hold = await cache.hold([a.digest, b.digest, c.digest]);
    const leases = join(cache.root, '.cachescope', 'leases');
    assert.equal((await readdir(leases)).length, 1, 'one pin file for the whole batch');
    for (const x of [b, c]) await (await cache.get(x.digest, x.size, fileFetcher(x.file))).release();
    assert.equal((await readdir(leases)).length, 1, 'the gets of held blobs write no pin file of their own');
    const kept = await cache.evict({ maxBytes: 0 });
    assert.deepEqual(kept.removed, [], 'a held blob is never evicted, got and released or not');
    assert.deepEqual(await cache.usage(), { bytes: 3000, blobs: 3 });
    await hold.release();
    assert.deepEqual(await readdir(leases), [], 'released, the pin file is gone');
    const result = await cache.evict({ maxBytes: 1000 });
    assert.equal(result.removed.length, 2, 'released, they can be evicted again');
  });
});

describe('blob cache: abandoned partial downloads', () => {
  it('eviction removes partial files not resumed for a week, unless their download still runs', async () => {
    const { cache } = await setup(1);
    const ingest = join(cache.root, 'ingest');
    await mkdir(ingest, { recursive: true });
    const old = new Date(Date.now() - 8 * 24 * 3600_000);
    const name = (c: string) => `sha256-${c.repeat(64)}`;
    for (const c of ['a', 'b', 'c']) await writeFile(join(ingest, `${name(c)}.partial`), 'prefix');
    for (const c of ['a', 'b']) await utimes(join(ingest, `${name(c)}.partial`), old, old);
    // b's download is still running (this process holds its ingest lock), just slow.
    const lock = await acquireLock(join(ingest, `${name('b')}.lock`));
    const result = await cache.evict();
    await lock.release();
    assert.deepEqual(result.partialsRemoved, [`${name('a')}.partial`]);
    assert.deepEqual((await readdir(ingest)).filter((f) => f.endsWith('.partial')).sort(), [`${name('b')}.partial`, `${name('c')}.partial`]);
  });
});

describe('blob cache: location', () => {
  it('follows the platform cache folder, XDG on Linux, and CACHESCOPE_CACHE_DIR over all', () => {
    assert.equal(defaultBlobCacheDir({ XDG_CACHE_HOME: '/x/cache' }, 'linux', '/home/u'), '/x/cache/cachescope/blobs');
    assert.equal(defaultBlobCacheDir({}, 'linux', '/home/u'), '/home/u/.cache/cachescope/blobs');
    assert.equal(defaultBlobCacheDir({ XDG_CACHE_HOME: 'relative' }, 'linux', '/home/u'), '/home/u/.cache/cachescope/blobs', 'a relative XDG_CACHE_HOME is ignored');
    assert.equal(defaultBlobCacheDir({ XDG_CACHE_HOME: '/x' }, 'darwin', '/Users/u'), '/Users/u/Library/Caches/cachescope/blobs');
    assert.equal(defaultBlobCacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', 'C:\\Users\\u'), 'C:\\Users\\u\\AppData\\Local\\cachescope\\Cache\\blobs');
    assert.equal(defaultBlobCacheDir({ CACHESCOPE_CACHE_DIR: '/tmp/cs', XDG_CACHE_HOME: '/x' }, 'linux', '/home/u'), '/tmp/cs/blobs');
  });
});

