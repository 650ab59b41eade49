import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { createCompressor, createDecompressor } from '../../../electron/engine/export/compression';
import { openContentStore } from '../../../electron/engine/store/content-store';
import { verifyBlobs } from '../../../electron/engine/store/verify-blobs';
import type { VerifyDescriptor, VerifyProgress } from '../../../electron/engine/store/verify-blobs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FIXTURES = process.env.CACHESCOPE_FIXTURES ?? join(REPO, '..', 'shared', 'fixtures');
const CACHES = {
  dto: join(FIXTURES, 'dto-pattern-local-image-manifest'),
  fullcycle: join(FIXTURES, 'fullcycle-local-image-manifest'),
  margo: join(FIXTURES, 'margo-sandbox-local-image-manifest'),
  drone: join(FIXTURES, 'drone-buildkit-local-oci-index-2021'),
};
const LAYOUT_OF: Record<keyof typeof CACHES, string> = { dto: '.docker-cache', fullcycle: 'docker-cache', margo: '.buildx-cache', drone: 'cache' };

const sha256 = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

interface RawDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** Every descriptor the tagged cache manifest reaches (manifest, config, layers with their diffIDs), read straight from the JSON. */
function descriptorsOf(layout: string): VerifyDescriptor[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: RawDescriptor[] };
  const top = index.manifests[0];
  const m = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', top.digest.slice(7)), 'utf8')) as { config?: RawDescriptor; layers?: RawDescriptor[]; manifests?: RawDescriptor[] };
  const children = [...(m.config ? [m.config] : []), ...(m.layers ?? []), ...(m.manifests ?? [])];
  return [top, ...children].map((d) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType, diffID: d.annotations?.['containerd.io/uncompressed'] }));
}

function missingListed(cacheDir: string): Set<string> {
  const file = join(cacheDir, 'MISSING_BLOBS.txt');
  if (!existsSync(file)) return new Set();
  return new Set([...readFileSync(file, 'utf8').matchAll(/blobs\/sha256\/([0-9a-f]{64})/g)].map((x) => `sha256:${x[1]}`));
}

/** A one-file ustar archive, built by hand so the test needs no tar tool. */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

describe('verify blobs', () => {
  let base: string;
  let n = 0;
  const tempStore = async () => openContentStore(await mkdtemp(join(base, `store-${n++}-`)));
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-verify-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  for (const name of Object.keys(CACHES) as (keyof typeof CACHES)[]) {
    it(`the ${name} fixture verifies clean: digests, sizes and gzip diffIDs agree; absent blobs are the ones MISSING_BLOBS lists`, async () => {
      const layout = join(CACHES[name], LAYOUT_OF[name]);
      const descriptors = descriptorsOf(layout);
      const report = await verifyBlobs(await openContentStore(layout), descriptors);
      assert.deepEqual(report.problems, []);
      const distinct = new Set(descriptors.map((d) => d.digest));
      const listed = missingListed(CACHES[name]);
      // margo has no MISSING_BLOBS.txt: SOURCES.md says only its JSON blobs were kept, so every layer is absent.
      const layerDigests = new Set(descriptors.filter((d) => d.mediaType.includes('.layer.') || d.mediaType.includes('rootfs')).map((d) => d.digest));
      for (const d of report.missing) assert.ok(listed.size > 0 ? listed.has(d) : layerDigests.has(d), `${d} is missing but neither in MISSING_BLOBS.txt nor a layer`);
      assert.equal(report.checked + report.missing.length, distinct.size);
      assert.equal(report.ok, report.missing.length === 0);
      assert.ok(report.checked >= 2);
    });
  }

  it('checks the diffID of real gzip layers (fullcycle has present layers with containerd.io/uncompressed)', async () => {
    const layout = join(CACHES.fullcycle, LAYOUT_OF.fullcycle);
    const store = await openContentStore(layout);
    const layers = descriptorsOf(layout).filter((d) => d.mediaType === GZIP && d.diffID);
    const present = [];
    for (const l of layers) if (await store.has(l.digest)) present.push(l);
    assert.ok(present.length > 0, 'the fixture has at least one present gzip layer');
    const wrong = present.map((l) => ({ ...l, diffID: sha256('not the tar') }));
    const report = await verifyBlobs(store, wrong);
    assert.deepEqual(new Set(report.problems.map((p) => p.kind)), new Set(['diffid-mismatch']));
    assert.equal(report.problems.length, new Set(present.map((l) => l.digest)).size);
  });

  it('a flipped byte in a copy gives digest-mismatch naming the digest and the file', async () => {
    const layout = join(base, `dto-${n++}`);
    await cp(join(CACHES.dto, LAYOUT_OF.dto), layout, { recursive: true });
    await chmod(join(layout, 'blobs', 'sha256'), 0o755);
    const descriptors = descriptorsOf(layout);
    const store = await openContentStore(layout);
    const victim = descriptors.find((d) => d.mediaType === GZIP && existsSync(store.blobPath(d.digest)))!;
    const file = store.blobPath(victim.digest);
    await chmod(file, 0o644);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await writeFile(file, bytes);
    const report = await verifyBlobs(store, descriptors);
    const mismatch = report.problems.filter((p) => p.kind === 'digest-mismatch');
    assert.equal(mismatch.length, 1);
    assert.equal(mismatch[0].digest, victim.digest);
    assert.ok(mismatch[0].message.includes(victim.digest) && mismatch[0].message.includes(file), mismatch[0].message);
    assert.equal(report.ok, false);
  });

  it('lists a missing blob under missing, once, and counts duplicates once', async () => {
    const store = await tempStore();
    const present = await store.writeBytes(Buffer.from('{"layers":[]}'));
    const absent = sha256('never written');
    const report = await verifyBlobs(store, [
      { digest: absent, size: 5, mediaType: GZIP },
      { digest: present.digest, size: present.size, mediaType: 'application/vnd.buildkit.cacheconfig.v0' },
      { digest: absent, size: 5, mediaType: GZIP },
      { digest: present.digest, size: present.size, mediaType: 'application/vnd.buildkit.cacheconfig.v0' },
    ]);
    assert.deepEqual(report.missing, [absent]);
    assert.deepEqual(report.problems, []);
    assert.equal(report.checked, 1);
    assert.equal(report.bytes, present.size);
    assert.equal(report.ok, false);
  });

  it('a gzip layer: the right diffID passes, a wrong one is diffid-mismatch, a broken stream is reported', async () => {
    const store = await tempStore();
    const tar = tarOf('hello.txt', Buffer.from('hello from a layer\n'));
    const diffID = sha256(tar);
    const gz = gzipSync(tar);
    const layer = await store.writeBytes(gz);

    const good = await verifyBlobs(store, [{ digest: layer.digest, size: layer.size, mediaType: GZIP, diffID }]);
    assert.deepEqual(good.problems, []);
    assert.equal(good.ok, true);
    // Docker's gzip media type is a gzip layer too.
    const docker = await verifyBlobs(store, [{ digest: layer.digest, size: layer.size, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', diffID }]);
    assert.deepEqual(docker.problems, []);

    const wrongDiff = sha256('some other tar');
    const bad = await verifyBlobs(store, [{ digest: layer.digest, size: layer.size, mediaType: GZIP, diffID: wrongDiff }]);
    assert.equal(bad.problems.length, 1);
    assert.equal(bad.problems[0].kind, 'diffid-mismatch');
    assert.ok(bad.problems[0].message.includes(diffID) && bad.problems[0].message.includes(wrongDiff), bad.problems[0].message);

    // Correct digest (it names the bytes on disk) but not a gzip stream any more.
    const broken = Buffer.from(gz);
    broken[12] ^= 0xff;
    broken[20] ^= 0xff;
    const stored = await store.writeBytes(broken);
    const corrupt = await verifyBlobs(store, [{ digest: stored.digest, size: stored.size, mediaType: GZIP, diffID }]);
    assert.equal(corrupt.problems.length, 1);
    assert.equal(corrupt.problems[0].kind, 'diffid-mismatch');
  });

  it('an uncompressed layer must have diffID = digest; sizes are compared with the descriptor', async () => {
    const store = await tempStore();
    const tar = tarOf('a', Buffer.from('a'));
    const layer = await store.writeBytes(tar);
    assert.deepEqual((await verifyBlobs(store, [{ digest: layer.digest, size: layer.size, mediaType: TAR, diffID: layer.digest }])).problems, []);
    const wrong = await verifyBlobs(store, [{ digest: layer.digest, size: layer.size + 1, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', diffID: sha256('x') }]);
    assert.deepEqual(wrong.problems.map((p) => p.kind).sort(), ['diffid-mismatch', 'size-mismatch']);
    const sizeProblem = wrong.problems.find((p) => p.kind === 'size-mismatch')!;
    assert.match(sizeProblem.message, new RegExp(`is ${layer.size} bytes, but its descriptor says ${layer.size + 1}`));
    // A negative size means "unknown": not checked.
    assert.deepEqual((await verifyBlobs(store, [{ digest: layer.digest, size: -1, mediaType: '' }])).problems, []);
  });

  it('real zstd layers: the right diffID passes and a wrong one is diffid-mismatch through the zstd decompressor; without one it is not checked', async () => {
    const store = await tempStore();
    const tar = tarOf('z', Buffer.from('zzz '.repeat(5000)));
    const packed = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      const c = createCompressor('zstd', 3);
      c.on('data', (b: Buffer) => parts.push(b)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
      c.end(tar);
    });
    assert.deepEqual([...packed.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'a real zstd frame');
    const layer = await store.writeBytes(packed);
    const zstd = { createZstdDecompressor: () => createDecompressor('zstd') };
    const right = { digest: layer.digest, size: layer.size, mediaType: ZSTD, diffID: sha256(tar) };
    assert.deepEqual((await verifyBlobs(store, [right], zstd)).problems, []);
    const wrong = { ...right, diffID: sha256('other') };
    const checked = await verifyBlobs(store, [wrong], zstd);
    assert.deepEqual(checked.problems.map((p) => p.kind), ['diffid-mismatch']);
    assert.ok(checked.problems[0].message.includes(sha256(tar)), checked.problems[0].message);
    // This module never loads the native codec itself: without a decompressor only digest and size are checked.
    assert.deepEqual((await verifyBlobs(store, [wrong])).problems, []);
    // A zstd blob whose frame is broken (but whose name is its digest) cannot be decompressed.
    const broken = Buffer.from(packed);
    broken[Math.floor(broken.length / 2)] ^= 0xff;
    broken[broken.length - 3] ^= 0xff;
    const stored = await store.writeBytes(broken);
    const corrupt = await verifyBlobs(store, [{ ...right, digest: stored.digest, size: stored.size }], zstd);
    assert.deepEqual(corrupt.problems.map((p) => p.kind), ['diffid-mismatch']);
  });

  it('the zstd layers of a real BuildKit cache (mixed gzip and zstd) decompress to their diffIDs', async () => {
    const layout = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
    const store = await openContentStore(layout);
    const zstdLayers = descriptorsOf(layout).filter((d) => d.mediaType === ZSTD && d.diffID);
    assert.equal(zstdLayers.length, 2, 'the fixture has two zstd layers with diffIDs');
    const zstd = { createZstdDecompressor: () => createDecompressor('zstd') };
    const report = await verifyBlobs(store, zstdLayers, zstd);
    assert.deepEqual(report.problems, []);
    assert.equal(report.checked, 2);
    const wrong = await verifyBlobs(store, zstdLayers.map((d) => ({ ...d, diffID: sha256('not this tar') })), zstd);
    assert.deepEqual(wrong.problems.map((p) => p.kind), ['diffid-mismatch', 'diffid-mismatch']);
  });

  it('reports progress per distinct blob and stops when aborted', async () => {
    const store = await tempStore();
    const a = await store.writeBytes(Buffer.alloc(1000, 1));
    const b = await store.writeBytes(Buffer.alloc(2000, 2));
    const seen: VerifyProgress[] = [];
    const list = [a, b, a].map((x) => ({ ...x, mediaType: '' }));
    await verifyBlobs(store, list, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen.map((p) => [p.done, p.total, p.bytes]), [
      [1, 2, 1000],
      [2, 2, 3000],
    ]);
    await assert.rejects(verifyBlobs(store, list, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  // Root reads anything, so permission bits cannot make a file unreadable there; a directory or a FIFO at the blob path can.
  it('a directory at a blob path is reported as unreadable, not thrown and not called missing', async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('secret'));
    await rm(store.blobPath(x.digest));
    await mkdir(store.blobPath(x.digest));
    const report = await verifyBlobs(store, [{ ...x, mediaType: '' }]);
    assert.deepEqual(report.problems.map((p) => p.kind), ['unreadable']);
    assert.match(report.problems[0].message, /is a directory, not a regular file/);
    assert.deepEqual(report.missing, []);
    assert.equal(report.ok, false);
  });

  it('a FIFO at a blob path is reported as unreadable without blocking on it', { skip: process.platform === 'win32' ? 'no mkfifo' : false }, async () => {
    const store = await tempStore();
    const x = await store.writeBytes(Buffer.from('pipe'));
    await rm(store.blobPath(x.digest));
    execFileSync('mkfifo', [store.blobPath(x.digest)]);
    assert.ok((await stat(store.blobPath(x.digest))).isFIFO());
    const report = await verifyBlobs(store, [{ ...x, mediaType: '' }]);
    assert.deepEqual(report.problems.map((p) => p.kind), ['unreadable']);
    assert.match(report.problems[0].message, /is a FIFO, not a regular file/);
  });
});
