import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RACY_NS, createVerifyMemo, defaultMemoDir, fileKey, openVerifyMemo, sameContentKey, sameKey } from '../../../electron/engine/store/verify-memo';

const D = `sha256:${'a'.repeat(64)}`;
let tmp: string;
let n = 0;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-memo-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A file last written `agoMs` before `now`. */
async function file(agoMs: number, now = Date.now()): Promise<string> {
  const f = join(tmp, `f-${n++}`);
  await writeFile(f, 'bytes');
  const t = new Date(now - agoMs);
  await utimes(f, t, t);
  return f;
}

describe('verify memo', () => {
  it('remembers a verification per (device, inode, size, mtime, ctime) and digest, across instances through its folder', async () => {
    const dir = join(tmp, 'memo-1');
    const memo = openVerifyMemo(dir);
    const key = (await fileKey(await file(60_000)))!;
    const now = BigInt(Date.now()) * 1_000_000n;
    assert.equal(await memo.known(key, D), false);
    await memo.remember(key, D, now);
    assert.equal(await memo.known(key, D), true);
    assert.equal(await memo.known(key, `sha256:${'b'.repeat(64)}`), false, 'another digest is not known');
    for (const k of ['size', 'mtimeNs', 'ctimeNs'] as const) assert.equal(await memo.known({ ...key, [k]: key[k] + 1n }, D), false, `a changed ${k} is not known`);
    // A new process (a new instance on the same folder) finds it on disk.
    const other = createVerifyMemo(dir);
    assert.equal(await other.known(key, D), true);
  });

  it('does not remember a file whose mtime is too close to when its reading began (racy timestamps)', async () => {
    const memo = openVerifyMemo(join(tmp, 'memo-2'));
    const now = Date.now();
    const fresh = (await fileKey(await file(500, now)))!;
    await memo.remember(fresh, D, BigInt(now) * 1_000_000n);
    assert.equal(await memo.known(fresh, D), false, 'written 0.5 s before: not trusted');
    const old = (await fileKey(await file(Number(RACY_NS / 1_000_000n) + 1000, now)))!;
    await memo.remember(old, D, BigInt(now) * 1_000_000n);
    assert.equal(await memo.known(old, D), true);
  });

  it('a torn or foreign record file is simply not known', async () => {
    const dir = join(tmp, 'memo-3');
    const memo = openVerifyMemo(dir);
    const key = (await fileKey(await file(60_000)))!;
    await memo.remember(key, D, BigInt(Date.now()) * 1_000_000n);
    const devDir = join(dir, key.dev.toString(16));
    const shard = join(devDir, (await readdir(devDir))[0]);
    const rec = join(shard, (await readdir(shard))[0]);
    await writeFile(rec, '{"size":');
    assert.equal(await createVerifyMemo(dir).known(key, D), false);
  });

  it('keys: sameKey compares all five, sameContentKey ignores only the ctime (what a new hard link changes)', async () => {
    const k = (await fileKey(await file(60_000)))!;
    assert.ok(sameKey(k, { ...k }));
    assert.ok(!sameKey(k, { ...k, ctimeNs: k.ctimeNs + 1n }));
    assert.ok(sameContentKey(k, { ...k, ctimeNs: k.ctimeNs + 1n }));
    assert.ok(!sameContentKey(k, { ...k, ino: k.ino + 1n }));
    assert.equal(await fileKey(join(tmp, 'absent')), null);
    assert.equal(await fileKey(tmp), null, 'a folder is not a file');
  });

  it('lives under $XDG_CACHE_HOME/cachescope, else ~/.cache/cachescope', () => {
    assert.equal(defaultMemoDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/cachescope/verified');
    assert.match(defaultMemoDir({}), /\/\.cache\/cachescope\/verified$/);
    assert.match(defaultMemoDir({ XDG_CACHE_HOME: 'relative' }), /\/\.cache\/cachescope\/verified$/, 'a relative XDG_CACHE_HOME is ignored, as the spec says');
  });
});
