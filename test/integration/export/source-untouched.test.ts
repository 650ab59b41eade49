/**
 * Issue 8, item 4, with real CLI processes: an export writes nothing outside its target. The source
 * tree is compared, path by path, before and after exports that hard-link its blobs, re-export into
 * the same folder (where blobs are found already there) and convert.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { writableCopy } from '../../helpers/layout-copy';
import { finished, runCli, snapshot } from './cli-process';
import type { Entry } from './cli-process';

let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-untouched-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('an export leaves its source as it found it (real CLI)', () => {
  it('two exports into one folder (hard links, then blobs already there) and a conversion change no mtime, no byte, no entry of the source', async () => {
    const src = await writableCopy(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'), join(tmp, 'src'));
    // Times an hour back, so a "touch" to now cannot go unseen.
    const hourAgo = new Date(Date.now() - 3_600_000);
    const blobDir = join(src, 'blobs', 'sha256');
    for (const name of await readdir(blobDir)) await utimes(join(blobDir, name), hourAgo, hourAgo);
    for (const d of [blobDir, join(src, 'blobs'), src]) await utimes(d, hourAgo, hourAgo);
    const beforeTree = await snapshot(src);
    const env = { XDG_CACHE_HOME: join(tmp, 'xdg-cache') };
    const dest = join(tmp, 'dest');

    const first = await runCli(['export', src, dest, '--json', '--opt', 'tag=one'], env);
    assert.equal(first.code, 0, first.stderr);
    const linked = finished(first).result.counts.linked;
    assert.ok(linked > 0, 'the first export hard-links the layers');
    const second = await runCli(['export', src, dest, '--json', '--opt', 'tag=two'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(finished(second).result.counts.exists, linked, 'the second finds every layer already there');
    const third = await runCli(['export', src, dest, '--json', '--opt', 'tag=zstd', '--opt', 'compression=zstd', '--opt', 'force-compression=true'], env);
    assert.equal(third.code, 0, third.stderr);
    const afterTree = await snapshot(src);

    assert.deepEqual([...afterTree.keys()], [...beforeTree.keys()], 'no file or folder appeared in or vanished from the source');
    const linkedInodes = new Set<bigint>();
    for (const [path, was] of beforeTree) {
      const now = afterTree.get(path)!;
      const same = (k: keyof Entry) => assert.equal(now[k], was[k], `${path}: ${k} changed`);
      for (const k of ['kind', 'size', 'mode', 'ino', 'mtimeNs', 'sha256'] as const) same(k);
      // link(2) adds a name to the inode, which sets its ctime and link count; nothing else may change them.
      if (now.nlink !== was.nlink) linkedInodes.add(now.ino);
      else same('ctimeNs');
    }
    assert.equal(linkedInodes.size, linked, 'only the hard-linked layer blobs gained a link (and with it a ctime)');
    assert.equal(afterTree.get('.')!.ctimeNs, beforeTree.get('.')!.ctimeNs, 'the source folder itself is untouched');
  });
});
