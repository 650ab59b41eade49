/**
 * A folder export on the source's file system hard-links the layers it keeps: the image's layer blob
 * is the source blob's inode (no bytes copied); converted layers are new files, and the source blobs
 * are left as they were.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportImage } from '../../../electron/engine/export/image-export';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { writeBusyboxCache } from './busybox-cache';
import type { BusyboxCache } from './busybox-cache';

let tmp: string;
let bb: BusyboxCache;

const blobFile = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice(digest.indexOf(':') + 1));

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-links-'));
  bb = await writeBusyboxCache(join(tmp, 'cache'));
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('image export to a folder: hard links', () => {
  it('kept layers share the source blob\'s inode (same device, no conversion)', async () => {
    const opened = await openCacheSource(bb.dir);
    const dest = join(tmp, 'linked');
    // compression=gzip without force: the layers are gzip already, so none is converted.
    const r = await exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: dest, tag: 't' }, layerOptions: { compression: 'gzip' }, diffIDMemo: null });
    assert.equal((await stat(bb.dir)).dev, (await stat(tmp)).dev, 'the test needs source and destination on one device');
    assert.equal(r.layers.length, 3);
    for (const l of r.layers) {
      assert.equal(l.converted, false);
      const src = await stat(blobFile(bb.dir, l.digest));
      const out = await stat(blobFile(dest, l.digest));
      assert.equal(out.ino, src.ino, `layer ${l.digest} is a hard link of the source blob`);
      assert.equal(out.dev, src.dev);
      assert.ok(src.nlink >= 2, `layer ${l.digest}: the source blob has ${src.nlink} links`);
    }
    // The config and manifest are new files of their own.
    const cfg = await stat(blobFile(dest, r['containerimage.config.digest']));
    assert.equal(cfg.nlink, 1);
  });

  it('converted layers are new files; the source blobs keep their inode, bytes and link count', async () => {
    const opened = await openCacheSource(bb.dir);
    const before = new Map<string, { ino: number; nlink: number; sum: string }>();
    for (const l of opened.model.norm.layers) {
      const f = blobFile(bb.dir, l.blob);
      const s = await stat(f);
      before.set(l.blob, { ino: s.ino, nlink: s.nlink, sum: createHash('sha256').update(await readFile(f)).digest('hex') });
    }
    const dest = join(tmp, 'converted');
    const r = await exportImage(opened, { selection: { kind: 'record', index: bb.resultRecord }, destination: { kind: 'folder', dir: dest, tag: 't' }, layerOptions: { compression: 'zstd', 'force-compression': true }, diffIDMemo: null });
    assert.deepEqual(r.diffIDs, bb.diffIDs);
    for (const l of r.layers) {
      assert.equal(l.converted, true);
      assert.equal(before.has(l.digest), false, `layer ${l.digest} has a new digest`);
      assert.equal((await stat(blobFile(dest, l.digest))).nlink, 1);
    }
    for (const [blob, was] of before) {
      const f = blobFile(bb.dir, blob);
      const s = await stat(f);
      assert.deepEqual({ ino: s.ino, nlink: s.nlink, sum: createHash('sha256').update(await readFile(f)).digest('hex') }, was, `source blob ${blob}`);
    }
  });
});
