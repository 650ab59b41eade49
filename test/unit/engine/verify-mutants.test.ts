/**
 * verifyBlobs on what mutation testing (npm run mutate) found untested: repeated digests merged into
 * one check, descriptors with bad digests or diffIDs, sockets, devices and broken paths at a blob
 * path, sha512 diffIDs, the exact problem messages and the owner they carry, and progress per blob.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { createDecompressor } from '../../../electron/engine/export/compression';
import { openContentStore } from '../../../electron/engine/store/content-store';
import { verifyBlobs } from '../../../electron/engine/store/verify-blobs';
import type { VerifyProgress } from '../../../electron/engine/store/verify-blobs';

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Uint8Array | string) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const CONFIG = 'application/vnd.buildkit.cacheconfig.v0';

let base: string;
let n = 0;
const tempStore = async () => openContentStore(await mkdtemp(join(base, `store-${n++}-`)));
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-verify-mutants-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('a digest listed more than once is checked once, with what any listing knows', () => {
  it('a size, a media type with its diffID and an owner from a later listing are all used', async () => {
    const store = await tempStore();
    const tar = Buffer.from('layer bytes, not really a tar');
    const gz = await store.writeBytes(gzipSync(tar));
    const wrongDiff = sha256('another tar');
    const report = await verifyBlobs(store, [
      { digest: gz.digest, size: -1, mediaType: '' },
      { digest: gz.digest, size: gz.size + 7, mediaType: GZIP, diffID: wrongDiff, owner: 'orphan' },
      { digest: gz.digest, size: gz.size, mediaType: TAR, diffID: gz.digest, owner: 'source' },
    ]);
    assert.equal(report.checked, 1);
    const file = store.blobPath(gz.digest);
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.owner, p.message]),
      [
        ['size-mismatch', 'orphan', `${file}: file is ${gz.size} bytes, but its descriptor says ${gz.size + 7}`],
        ['diffid-mismatch', 'orphan', `${file}: gzip layer decompresses to ${sha256(tar)}, but its diffID (containerd.io/uncompressed) says ${wrongDiff}`],
      ],
    );
  });

  it('the first known size wins over later ones', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('twelve bytes'));
    const report = await verifyBlobs(store, [
      { digest: x.digest, size: x.size, mediaType: CONFIG },
      { digest: x.digest, size: x.size + 1, mediaType: CONFIG },
    ]);
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
  });
});

describe('descriptors that are wrong themselves', () => {
  it('a digest that is not one is unreadable, counted in progress, and the rest is still checked', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('fine'));
    const seen: VerifyProgress[] = [];
    const report = await verifyBlobs(store, [{ digest: 'sha256:nothex', size: 1, mediaType: CONFIG, owner: 'other' }, { ...x, mediaType: CONFIG }], { onProgress: (p) => seen.push(p) });
    assert.equal(report.problems.length, 1);
    assert.equal(report.problems[0].kind, 'unreadable');
    assert.equal(report.problems[0].digest, 'sha256:nothex');
    assert.match(report.problems[0].message, /^not a valid digest: /);
    assert.equal(report.checked, 1);
    assert.equal(report.ok, false);
    assert.deepEqual(seen, [
      { done: 1, total: 2, digest: 'sha256:nothex', bytes: 0 },
      { done: 2, total: 2, digest: x.digest, bytes: x.size },
    ]);
  });

  it('a layer whose diffID is not a digest: diffid-mismatch saying so, and the blob itself still hashed', async () => {
    const store = await tempStore();
    const gz = await store.writeBytes(gzipSync(Buffer.from('t')));
    const report = await verifyBlobs(store, [{ digest: gz.digest, size: gz.size + 1, mediaType: GZIP, diffID: 'sha256:xyz', owner: 'source' }]);
    const file = store.blobPath(gz.digest);
    assert.deepEqual(report.problems.map((p) => p.kind), ['diffid-mismatch', 'size-mismatch']);
    assert.ok(report.problems[0].message.startsWith(`${file}: the descriptor's diffID "sha256:xyz" is not a valid digest (`), report.problems[0].message);
    assert.equal(report.problems[0].owner, 'source');
    assert.equal(report.bytes, gz.size);
  });

  it('a diffID on a blob that is not a layer is not checked at all', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('{"layers":[]}'));
    assert.deepEqual((await verifyBlobs(store, [{ ...x, mediaType: CONFIG, diffID: sha256('x') }])).problems, []);
  });
  // Found while writing these tests: a malformed containerd.io/uncompressed on a config made verifyBlobs throw.
  it('a malformed diffID on a blob that is not a layer is not checked either', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('{"layers":[]}'));
    assert.deepEqual((await verifyBlobs(store, [{ ...x, mediaType: CONFIG, diffID: 'not a digest' }])).problems, []);
  });
});

describe('layers and their diffIDs', () => {
  it('a sha512 diffID is computed with sha512', async () => {
    const store = await tempStore();
    const tar = Buffer.from('uncompressed layer content');
    const gz = await store.writeBytes(gzipSync(tar));
    assert.deepEqual((await verifyBlobs(store, [{ ...gz, mediaType: GZIP, diffID: sha512(tar) }])).problems, []);
    const bad = await verifyBlobs(store, [{ ...gz, mediaType: GZIP, diffID: sha512('other') }]);
    assert.equal(bad.problems.length, 1);
    assert.ok(bad.problems[0].message.includes(`decompresses to ${sha512(tar)}`), bad.problems[0].message);
  });

  it('an uncompressed layer with a wrong diffID: the message names both digests', async () => {
    const store = await tempStore();
    const tar = await store.writeBytes(Buffer.from('plain tar'));
    const wrong = sha256('x');
    const report = await verifyBlobs(store, [{ ...tar, mediaType: TAR, diffID: wrong, owner: 'other' }]);
    assert.deepEqual(report.problems, [
      { digest: tar.digest, kind: 'diffid-mismatch', owner: 'other', message: `${store.blobPath(tar.digest)}: uncompressed layer hashes to ${tar.digest}, but its diffID (containerd.io/uncompressed) says ${wrong}` },
    ]);
  });

  it('a corrupt gzip stream says it cannot gunzip; a corrupt zstd stream says it cannot decompress', async () => {
    const store = await tempStore();
    const notGzip = await store.writeBytes(Buffer.from('this is not gzip at all'));
    const diffID = sha256('whatever');
    const g = await verifyBlobs(store, [{ ...notGzip, mediaType: GZIP, diffID }]);
    assert.deepEqual(g.problems.map((p) => p.kind), ['diffid-mismatch']);
    assert.ok(g.problems[0].message.startsWith(`${store.blobPath(notGzip.digest)}: cannot gunzip the layer to check its diffID ${diffID}: `), g.problems[0].message);
    const z = await verifyBlobs(store, [{ ...notGzip, mediaType: ZSTD, diffID }], { createZstdDecompressor: () => createDecompressor('zstd') });
    assert.deepEqual(z.problems.map((p) => p.kind), ['diffid-mismatch']);
    assert.ok(z.problems[0].message.includes(': cannot decompress the layer to check its diffID '), z.problems[0].message);
    assert.equal(z.checked, 1);
    assert.equal(z.bytes, notGzip.size);
  });

  it('a blob whose content does not match its name: the exact message', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('original'));
    await writeFile(store.blobPath(x.digest), 'tampered');
    const report = await verifyBlobs(store, [{ digest: x.digest, size: -1, mediaType: CONFIG, owner: 'orphan' }]);
    assert.deepEqual(report.problems, [
      { digest: x.digest, kind: 'digest-mismatch', owner: 'orphan', message: `${store.blobPath(x.digest)}: content hashes to ${sha256('tampered')}, not ${x.digest} as its name says` },
    ]);
  });
});

describe('what sits at a blob path', () => {
  it('a socket and a device are named as such, never opened', async () => {
    const store = await tempStore();
    const sock = await store.writeBytes(Buffer.from('socket'));
    const dev = await store.writeBytes(Buffer.from('device'));
    await rm(store.blobPath(sock.digest));
    const server = createServer();
    // A socket path must be short (108 bytes): bind it in the temp folder, then move it to the blob path.
    const short = join(tmpdir(), `cs-${process.pid}.sock`);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(short, resolve));
    await rename(short, store.blobPath(sock.digest));
    try {
      await rm(store.blobPath(dev.digest));
      await symlink('/dev/null', store.blobPath(dev.digest));
      const seen: number[] = [];
      const report = await verifyBlobs(store, [{ ...sock, mediaType: '', owner: 'orphan' }, { ...dev, mediaType: '' }], { onProgress: (p) => seen.push(p.done) });
      assert.deepEqual(
        report.problems.map((p) => [p.digest, p.owner, p.message]),
        [
          [sock.digest, 'orphan', `${store.blobPath(sock.digest)}: cannot read the blob: it is a socket, not a regular file`],
          [dev.digest, undefined, `${store.blobPath(dev.digest)}: cannot read the blob: it is a device or special file, not a regular file`],
        ],
      );
      assert.deepEqual(seen, [1, 2]);
      assert.equal(report.checked, 0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a blob path through a file (blobs/sha256 is a file) is missing, not an error', async () => {
    const dir = await mkdtemp(join(base, 'broken-'));
    const store = await openContentStore(dir);
    const x = await store.writeBytes(Buffer.from('gone'));
    await rm(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'sha256'), 'a file');
    const seen: VerifyProgress[] = [];
    const report = await verifyBlobs(store, [{ ...x, mediaType: '' }], { onProgress: (p) => seen.push(p) });
    assert.deepEqual(report.missing, [x.digest]);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(seen, [{ done: 1, total: 1, digest: x.digest, bytes: 0 }]);
  });

  it('a symbolic link loop at a blob path is unreadable, with its error code', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('loop'));
    await rm(store.blobPath(x.digest));
    await symlink(store.blobPath(x.digest), store.blobPath(x.digest));
    const report = await verifyBlobs(store, [{ ...x, mediaType: '' }]);
    assert.deepEqual(report.problems.map((p) => p.kind), ['unreadable']);
    assert.match(report.problems[0].message, /it is unreadable \(ELOOP\), not a regular file/);
  });
});

describe('the report', () => {
  it('a clean run: ok, scope source, no others, no orphans', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('clean'));
    assert.deepEqual(await verifyBlobs(store, [{ ...x, mediaType: CONFIG }]), { checked: 1, bytes: x.size, missing: [], problems: [], ok: true, scope: 'source', others: 0, orphans: null });
    assert.deepEqual(await verifyBlobs(store, []), { checked: 0, bytes: 0, missing: [], problems: [], ok: true, scope: 'source', others: 0, orphans: null });
  });
});
