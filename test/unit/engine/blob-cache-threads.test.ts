/**
 * The blob cache's helper threads: downloads are hashed and appended on worker threads
 * (hash-write-threads.ts) and fsynced on threads of their own (sync-threads.ts). Their digest is the
 * one that decides whether a download is committed, so it must be the digest of the file's bytes,
 * prefix included; their errors must reach the caller; and they must never keep a process alive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHashWrite } from '../../../electron/engine/store/hash-write-threads';
import { fsyncOffPool } from '../../../electron/engine/store/sync-threads';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cachescope-blob-threads-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function shared(bytes: Buffer): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.length);
  bytes.copy(Buffer.from(sab));
  return sab;
}

describe('hash-and-write threads', () => {
  it('append the writes after the prefix, in order, and give the digest of the whole file', async () => {
    const file = join(dir, 'resumed');
    const all = randomBytes(300_000);
    await writeFile(file, all.subarray(0, 100_000));
    const fh = await open(file, 'a+');
    try {
      const job = await startHashWrite(fh.fd, 'sha256', 100_000);
      // One buffer reused for several writes, as the download sink reuses its stages.
      const stage = new SharedArrayBuffer(80_000);
      for (let pos = 100_000; pos < all.length; pos += 80_000) {
        const part = all.subarray(pos, Math.min(pos + 80_000, all.length));
        part.copy(Buffer.from(stage));
        await job.write(stage, part.length);
      }
      assert.equal(await job.digest(), sha256(all));
    } finally {
      await fh.close();
    }
    assert.deepEqual(await readFile(file), all);
  });

  it('a prefix that is not there any more, or a write that fails, rejects with the errno', async () => {
    const file = join(dir, 'short');
    await writeFile(file, Buffer.alloc(10));
    const fh = await open(file, 'a+');
    try {
      await assert.rejects(startHashWrite(fh.fd, 'sha256', 20), /shrank/);
    } finally {
      await fh.close();
    }
    const ro = await open(file, 'r');
    try {
      const job = await startHashWrite(ro.fd, 'sha256', 0);
      await assert.rejects(job.write(shared(Buffer.from('x')), 1), (err: NodeJS.ErrnoException) => err.code === 'EBADF');
      await job.drop();
    } finally {
      await ro.close();
    }
  });
});

describe('fsync threads', () => {
  it('flush an open file, and reject with the errno for a descriptor that is not open', async () => {
    const fd = openSync(join(dir, 'synced'), 'w');
    await fsyncOffPool(fd);
    closeSync(fd);
    await assert.rejects(fsyncOffPool(fd), (err: NodeJS.ErrnoException) => err.code === 'EBADF');
  });
});

describe('threads and process exit', () => {
  it('a process that used both kinds of thread exits on its own when its work is done', () => {
    const script = `
      import { openSync } from 'node:fs';
      import { startHashWrite } from ${JSON.stringify(join(process.cwd(), 'electron/engine/store/hash-write-threads.ts'))};
      import { fsyncOffPool } from ${JSON.stringify(join(process.cwd(), 'electron/engine/store/sync-threads.ts'))};
      const fd = openSync(${JSON.stringify(join(dir, 'child'))}, 'a+');
      const job = await startHashWrite(fd, 'sha256', 0);
      const sab = new SharedArrayBuffer(4);
      await job.write(sab, 4);
      console.log(await job.digest());
      await fsyncOffPool(fd);
    `;
    const file = join(dir, 'child.mts');
    return writeFile(file, script).then(() => {
      // A bound only against a hang: a thread that kept the process alive would never let it exit.
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.signal, null, `the child was still running after its work was done: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), sha256(Buffer.alloc(4)));
    });
  });
});
