import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { clearDeadIngests } from '../../../electron/engine/store/gc';
import { openContentStore } from '../../../electron/engine/store/content-store';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<CacheError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CacheError, `expected a CacheError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a CacheError(${code})`);
}

describe('content store', () => {
  let base: string;
  let n = 0;
  const freshRoot = async () => {
    const root = join(base, `layout-${n++}`);
    await mkdir(root);
    return root;
  };
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-cs-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('opening a store creates nothing (read-only layouts stay untouched)', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    assert.equal(await store.has(sha256('x')), false);
    assert.deepEqual(await readdir(root), []);
  });

  it('streams a blob in, commits it under blobs/<alg>/<hex> and leaves no ingest behind', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const parts = [Buffer.from('hello '), Buffer.from('content '), Buffer.from('store')];
    const all = Buffer.concat(parts);
    const w = store.writer({ digest: sha256(all), size: all.length });
    await pipeline(Readable.from(parts), w);
    const info = await w.commit();
    assert.deepEqual(info, { digest: sha256(all), size: all.length });
    assert.equal(store.blobPath(info.digest), join(root, 'blobs', 'sha256', info.digest.slice(7)));
    assert.deepEqual(await readFile(store.blobPath(info.digest)), all);
    assert.deepEqual(await store.info(info.digest), info);
    assert.deepEqual(await store.readBytes(info.digest, { maxSize: 1024 }), all);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
    // commit() is idempotent
    assert.deepEqual(await w.commit(), info);
  });

  it('computes the digest when none is expected, and supports sha512', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    assert.deepEqual(await store.writeBytes(Buffer.from('abc')), { digest: sha256('abc'), size: 3 });
    const d512 = `sha512:${createHash('sha512').update('abc').digest('hex')}`;
    assert.deepEqual(await store.writeBytes(Buffer.from('abc'), d512), { digest: d512, size: 3 });
    assert.ok(existsSync(join(root, 'blobs', 'sha512', d512.slice(7))));
  });

  it('refuses a wrong digest: names expected and actual, leaves nothing in blobs/ or ingest/', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const wrong = sha256('something else');
    const err = await rejectsWith(store.writeBytes(Buffer.from('payload'), wrong), 'digest-mismatch');
    assert.ok(err.message.includes(wrong) && err.message.includes(sha256('payload')), err.message);
    assert.deepEqual(await filesUnder(join(root, 'blobs')), []);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
  });

  it('refuses a wrong size, whether too short (at commit) or too long (at once)', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const short = store.writer({ size: 10 });
    short.write(Buffer.from('12345'));
    await rejectsWith(short.commit(), 'size-mismatch', /expected 10 bytes, got 5/);

    const long = store.writer({ digest: sha256('1234567890'), size: 10 });
    await assert.rejects(pipeline(Readable.from([Buffer.from('123456'), Buffer.from('7890123')]), long), (e: unknown) => e instanceof CacheError && e.code === 'size-mismatch');
    await rejectsWith(long.commit(), 'size-mismatch');
    assert.deepEqual(await filesUnder(join(root, 'blobs')), []);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
  });

  it('lets several writers of the same digest race: all succeed, one blob, no ingest left', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const chunk = Buffer.alloc(64 << 10, 7);
    const chunks = Array.from({ length: 16 }, (_, i) => Buffer.concat([chunk, Buffer.from([i])]));
    const all = Buffer.concat(chunks);
    const digest = sha256(all);
    const writers = Array.from({ length: 6 }, () => store.writer({ digest, size: all.length }));
    // Interleave the writes so every ingest is open at the same time.
    for (const c of chunks) for (const w of writers) w.write(c);
    const results = await Promise.all(writers.map((w) => w.commit()));
    for (const r of results) assert.deepEqual(r, { digest, size: all.length });
    assert.deepEqual(await filesUnder(join(root, 'blobs')), [store.blobPath(digest)]);
    assert.deepEqual(await readFile(store.blobPath(digest)), all);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
  });

  it('an abort mid-write leaves neither an ingest nor a blob, and commit reports the abort', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const ac = new AbortController();
    const w = store.writer({}, { signal: ac.signal });
    let sent = 0;
    const endless = new Readable({
      read() {
        sent++;
        if (sent === 5) ac.abort();
        this.push(Buffer.alloc(16 << 10, sent));
      },
    });
    await assert.rejects(pipeline(endless, w), { name: 'AbortError' });
    await assert.rejects(w.commit(), { name: 'AbortError' });
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
    assert.deepEqual(await filesUnder(join(root, 'blobs')), []);

    // Aborting between the last write and commit() also leaves nothing.
    const ac2 = new AbortController();
    const w2 = store.writer({}, { signal: ac2.signal });
    await new Promise<void>((resolve) => w2.end(Buffer.from('done writing'), () => resolve()));
    ac2.abort();
    await assert.rejects(w2.commit(), { name: 'AbortError' });
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
    assert.deepEqual(await filesUnder(join(root, 'blobs')), []);

    // An already-aborted signal never creates anything.
    const w3 = store.writer({}, { signal: AbortSignal.abort() });
    await assert.rejects(w3.commit(), { name: 'AbortError' });
    assert.deepEqual(await filesUnder(root), []);
  });

  it('a verifying read catches a corrupted blob and names the file; a plain read does not hash', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const data = Buffer.alloc(600 << 10, 1); // spans several read chunks
    const { digest } = await store.writeBytes(data);
    const file = store.blobPath(digest);
    const bad = Buffer.from(data);
    bad[bad.length - 1] ^= 0xff;
    await writeFile(file, bad);

    const verified = await store.readStream(digest, { verify: true });
    const err = await rejectsWith((async () => { for await (const _ of verified) { /* drain */ } })(), 'digest-mismatch');
    assert.ok(err.message.includes(file) && err.message.includes(digest), err.message);

    let bytes = 0;
    for await (const c of await store.readStream(digest)) bytes += (c as Buffer).length;
    assert.equal(bytes, bad.length);

    await rejectsWith(store.readBytes(digest, { maxSize: 1 << 20 }), 'digest-mismatch', new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('readBytes refuses blobs over maxSize; missing blobs are missing-blob', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const { digest } = await store.writeBytes(Buffer.alloc(100));
    await rejectsWith(store.readBytes(digest, { maxSize: 99 }), 'too-large', /100 bytes, over the 99-byte limit/);
    await rejectsWith(store.readBytes(sha256('absent'), { maxSize: 10 }), 'missing-blob');
    await rejectsWith(store.readStream(sha256('absent')), 'missing-blob');
  });

  it('honours an abort signal while reading', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const { digest } = await store.writeBytes(Buffer.alloc(2 << 20));
    const ac = new AbortController();
    const s = await store.readStream(digest, { signal: ac.signal });
    await assert.rejects(
      (async () => {
        for await (const _ of s) ac.abort();
      })(),
      { name: 'AbortError' },
    );
  });

  it('never turns an unvalidated string into a path', async () => {
    const store = await openContentStore(await freshRoot());
    for (const bad of ['sha256:../../etc/passwd', `sha256:${'A'.repeat(64)}`, 'md5:abc', '../x', `sha256:${'a'.repeat(63)}/`]) {
      assert.throws(() => store.blobPath(bad), (e: unknown) => e instanceof CacheError && e.code === 'invalid-digest');
    }
    await rejectsWith(store.has('sha256:../../x'), 'invalid-digest');
    assert.throws(() => store.writer({ digest: 'sha256:nope' }), (e: unknown) => e instanceof CacheError && e.code === 'invalid-digest');
  });

  it('links an existing file in (hard link on one device), is a no-op when present, and can verify first', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const src = join(base, `src-${n++}`);
    await writeFile(src, 'linked content');
    const digest = sha256('linked content');
    assert.deepEqual(await store.link(src, digest), { digest, size: 14 });
    const st = await stat(store.blobPath(digest));
    const srcSt = await stat(src);
    // Same device here, so it is a real hard link (EXDEV would have copied).
    if (st.dev === srcSt.dev) assert.equal(st.ino, srcSt.ino);
    assert.deepEqual(await store.link(src, digest), { digest, size: 14 });
    await rejectsWith(store.link(src, sha256('other'), { verify: true }), 'digest-mismatch');
    assert.equal(await store.has(sha256('other')), false);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
  });

  it('never writes a blob that is already present, not even its times (it may be another layout\'s inode)', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const src = join(base, `src-${n++}`);
    await writeFile(src, 'shared inode');
    const digest = sha256('shared inode');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(src, hourAgo, hourAgo);
    await store.link(src, digest);
    const was = await stat(src, { bigint: true });
    // Linking it again, and committing the same bytes through a writer, find it present and leave it alone.
    await store.link(src, digest);
    await store.writeBytes(Buffer.from('shared inode'), digest);
    const now = await stat(src, { bigint: true });
    assert.equal(now.mtimeNs, was.mtimeNs, 'mtime of the linked source changed');
    assert.equal(now.ctimeNs, was.ctimeNs, 'ctime of the linked source changed');
    assert.equal(now.nlink, was.nlink);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
  });

  it('link runs `check` on the staged inode before publishing; a throw publishes nothing', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const src = join(base, `src-${n++}`);
    await writeFile(src, 'checked');
    const digest = sha256('checked');
    let seen: bigint | null = null;
    await rejectsWith(
      store.link(src, digest, {
        check: async (staged) => {
          seen = (await stat(staged, { bigint: true })).ino;
          throw new CacheError('digest-mismatch', 'refused by the check');
        },
      }),
      'digest-mismatch',
      /refused by the check/,
    );
    assert.equal(seen, (await stat(src, { bigint: true })).ino, 'the check sees the very inode that would be published');
    assert.equal(await store.has(digest), false);
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
    await store.link(src, digest, { check: async () => undefined, syncDir: false });
    assert.equal(await store.has(digest), true);
  });

  it('adopt publishes a finished ingest file (fsync, rename) and drops it when the blob is already there', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    await mkdir(join(root, 'ingest'), { recursive: true });
    const tmp1 = join(root, 'ingest', 'cachescope-test-1.copy');
    await writeFile(tmp1, 'adopted bytes');
    const digest = sha256('adopted bytes');
    assert.deepEqual(await store.adopt(tmp1, digest, { syncDir: false }), { digest, size: 13 });
    assert.equal(await readFile(store.blobPath(digest), 'utf8'), 'adopted bytes');
    const tmp2 = join(root, 'ingest', 'cachescope-test-2.copy');
    await writeFile(tmp2, 'adopted bytes');
    const ino = (await stat(store.blobPath(digest))).ino;
    await store.adopt(tmp2, digest);
    assert.equal((await stat(store.blobPath(digest))).ino, ino, 'the present blob is kept, not replaced');
    assert.deepEqual(await filesUnder(join(root, 'ingest')), []);
    await store.syncBlobDirs();
  });

  it('an export clears ingest leftovers of dead writers only: never a live writer, never foreign names, never by age', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const ingest = join(root, 'ingest');
    await mkdir(ingest, { recursive: true });
    // A pid that surely ran and is gone: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(join(ingest, `cachescope-${dead}-0123abcd`), 'partial of a killed export');
    await writeFile(join(ingest, 'containerd-ref'), 'not ours: no owner to check');
    // Old file times must not matter: a slow live writer keeps its partial file.
    const live = store.writer();
    live.write(Buffer.from('in progress'));
    await new Promise((r) => setImmediate(r));
    const old = new Date(Date.now() - 24 * 3_600_000);
    for (const name of await readdir(ingest)) await utimes(join(ingest, name), old, old);

    const removed = await clearDeadIngests(root);
    assert.deepEqual(removed, [`cachescope-${dead}-0123abcd`]);
    const left = await readdir(ingest);
    assert.ok(left.includes('containerd-ref'));
    assert.equal(left.filter((x) => x.startsWith(`cachescope-${process.pid}-`)).length, 1, 'the live writer keeps its file');
    const info = await live.commit();
    assert.equal(info.digest, sha256('in progress'));
  });

  it('persists labels per digest outside blobs/, atomically, without losing concurrent keys', async () => {
    const root = await freshRoot();
    const store = await openContentStore(root);
    const { digest: gz } = await store.writeBytes(Buffer.from('gzip bytes'));
    const { digest: zst } = await store.writeBytes(Buffer.from('zstd bytes'));
    await store.setLabel(gz, 'cachescope.compression.zstd', zst);
    const file = join(root, '.cachescope', 'labels', 'sha256', `${gz.slice(7)}.json`);
    assert.ok(existsSync(file));

    const again = await openContentStore(root);
    assert.equal(await again.getLabel(gz, 'cachescope.compression.zstd'), zst);
    assert.equal(await again.getLabel(gz, 'absent'), null);
    assert.equal(await again.getLabel(zst, 'cachescope.compression.zstd'), null);

    await Promise.all(Array.from({ length: 8 }, (_, i) => again.setLabel(gz, `k${i}`, `v${i}`)));
    const labels = await store.getLabels(gz);
    for (let i = 0; i < 8; i++) assert.equal(labels[`k${i}`], `v${i}`);
    await store.setLabel(gz, 'k0', null);
    assert.equal(await store.getLabel(gz, 'k0'), null);

    assert.deepEqual((await filesUnder(join(root, 'blobs'))).sort(), [store.blobPath(gz), store.blobPath(zst)].sort());
    assert.deepEqual((await filesUnder(join(root, '.cachescope'))).map((f) => f.slice(root.length)), [`/.cachescope/labels/sha256/${gz.slice(7)}.json`]);
  });
});
