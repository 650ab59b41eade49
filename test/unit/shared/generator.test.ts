import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'zstd-napi';
import type { CacheConfig } from '../../../shared/cache/config-types';
import { marshalConfig, marshalIndex, marshalManifest } from '../../../shared/cache/serialize';
import { compareGoStrings } from '../../../shared/json/go-json';
import { MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { EMPTY_LAYER_GZIP, EMPTY_LAYER_GZIP_DIGEST, EMPTY_TAR_DIFF_ID, generateCache } from '../../../scripts/cache-generator/generate';
import type { GenCompression, GenerateOptions, GenForm } from '../../../scripts/cache-generator/generate';
import { buildTar } from '../../../scripts/cache-generator/tar';

const sha256 = (data: Uint8Array | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface TarFile {
  name: string;
  type: string;
  size: number;
  mode: number;
  data: Buffer;
}

/** A strict little ustar reader: checks magic, version and checksum of every header and the end marker. */
function readTar(buf: Buffer): TarFile[] {
  const out: TarFile[] = [];
  assert.equal(buf.length % 512, 0, 'a tar is whole 512-byte blocks');
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) {
      assert.equal(buf.length, off + 1024, 'the archive ends with exactly two zero blocks');
      assert.ok(buf.subarray(off, off + 1024).every((b) => b === 0));
      return out;
    }
    const field = (a: number, b: number) => h.subarray(a, b).toString('latin1').replace(/\0[\s\S]*$/, '');
    const octal = (a: number, b: number) => parseInt(field(a, b).trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    assert.equal(octal(148, 156), sum, 'header checksum');
    assert.equal(h.subarray(257, 265).toString('latin1'), 'ustar\u000000', 'ustar magic and version');
    const prefix = field(345, 500);
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = octal(124, 136);
    out.push({ name, type: String.fromCharCode(h[156]), size, mode: octal(100, 108), data: buf.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  assert.fail('no end-of-archive marker');
}

function decompressBlob(compression: GenCompression, blob: Buffer): Buffer {
  if (compression === 'gzip') return gunzipSync(blob);
  if (compression === 'zstd') return zstdDecompress(blob);
  return blob;
}

async function readJson<T>(path: string): Promise<{ text: string; value: T }> {
  const text = await readFile(path, 'utf8');
  return { text, value: JSON.parse(text) as T };
}

/** BuildKit's record comparator (§4.5), evaluated on the final config: linked digests do not depend on indexes. */
function recordOrderOk(config: CacheConfig): boolean {
  const rs = config.records ?? [];
  for (let n = 1; n < rs.length; n++) {
    const a = rs[n - 1];
    const b = rs[n];
    let c = compareGoStrings(a.digest ?? '', b.digest ?? '');
    if (c === 0) c = (a.inputs?.length ?? 0) - (b.inputs?.length ?? 0);
    for (let s = 0; c === 0 && s < (a.inputs?.length ?? 0); s++) {
      const x = a.inputs![s];
      const y = b.inputs![s];
      c = x.length - y.length;
      for (let k = 0; c === 0 && k < x.length; k++) {
        c = compareGoStrings(x[k].selector ?? '', y[k].selector ?? '') || compareGoStrings(rs[x[k].link].digest ?? '', rs[y[k].link].digest ?? '');
      }
    }
    if (c > 0) return false;
  }
  return true;
}

interface Checked {
  config: CacheConfig;
  layerDescriptors: Descriptor[];
}

/** Everything a reader of a BuildKit local cache export relies on. */
async function checkCache(dir: string, opts: GenerateOptions): Promise<Checked> {
  const blobDir = join(dir, 'blobs', 'sha256');
  const names = await readdir(blobDir);
  for (const name of names) {
    assert.match(name, /^[0-9a-f]{64}$/, `stray file ${name} in blobs/sha256`);
    assert.equal(sha256(await readFile(join(blobDir, name))), `sha256:${name}`, `blob ${name} hashes to its name`);
  }
  assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');

  const index = await readJson<ImageIndex>(join(dir, 'index.json'));
  assert.equal(marshalIndex(index.value), index.text, 'index.json is Go-marshalled');
  const entry = index.value.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === (opts.tag ?? 'latest'));
  assert.ok(entry, 'index.json names the tag');
  const manifestPath = join(blobDir, entry.digest.slice(7));
  const manifestBytes = await readFile(manifestPath);
  assert.equal(manifestBytes.length, entry.size);

  let configDesc: Descriptor;
  let layerDescs: Descriptor[];
  if (opts.form === 'image-manifest') {
    const m = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    assert.equal(entry.mediaType, MediaType.ociManifest);
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(marshalManifest(m), manifestBytes.toString('utf8'));
    configDesc = m.config;
    layerDescs = m.layers ?? [];
  } else {
    const m = JSON.parse(manifestBytes.toString('utf8')) as ImageIndex;
    const listType = opts.ociMediaTypes === false ? MediaType.dockerManifestList : MediaType.ociIndex;
    assert.equal(entry.mediaType, listType);
    assert.equal(m.mediaType, listType);
    assert.equal(marshalIndex(m), manifestBytes.toString('utf8'));
    configDesc = m.manifests[m.manifests.length - 1];
    layerDescs = m.manifests.slice(0, -1);
  }
  assert.deepEqual(configDesc, { mediaType: MediaType.cacheConfigV0, digest: configDesc.digest, size: configDesc.size });
  const configText = await readFile(join(blobDir, configDesc.digest.slice(7)), 'utf8');
  assert.equal(Buffer.byteLength(configText), configDesc.size);
  const config = JSON.parse(configText) as CacheConfig;
  assert.equal(marshalConfig(config), configText, 'the config is Go-marshalled');

  // One descriptor per config layer entry, in config order, duplicates included (§5).
  const layers = config.layers ?? [];
  assert.deepEqual(
    layerDescs.map((d) => d.digest),
    layers.map((l) => l.blob),
  );
  for (const d of layerDescs) {
    assert.deepEqual(Object.keys(d.annotations ?? {}), ['buildkit/createdat', 'containerd.io/uncompressed']);
    assert.match(d.annotations!['buildkit/createdat'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/);
  }

  // Sorted as BuildKit sorts (§4.5): blobs non-decreasing (the only layer guarantee), records by the
  // comparator, links in a slot by index; and the graph is well formed.
  const blobs = layers.map((l) => l.blob!);
  assert.deepEqual(blobs, [...blobs].sort(compareGoStrings));
  assert.ok(recordOrderOk(config), 'records in BuildKit order');
  const records = config.records ?? [];
  for (const r of records) {
    for (const slot of r.inputs ?? []) {
      assert.ok(slot.length > 0);
      for (let k = 1; k < slot.length; k++) assert.ok(slot[k - 1].link <= slot[k].link);
      for (const i of slot) assert.ok(i.link >= 0 && i.link < records.length);
    }
    for (const res of r.layers ?? []) assert.ok(res.layer >= 0 && res.layer < layers.length);
  }
  layers.forEach((_, start) => {
    let steps = 0;
    for (let i = start; i !== -1; i = layers[i].parent ?? 0) assert.ok(++steps <= layers.length, 'chain loops');
  });
  return { config, layerDescriptors: layerDescs };
}

async function checkLayerBlobs(dir: string, compression: GenCompression, descs: Descriptor[]): Promise<void> {
  const seen = new Set<string>();
  for (const d of descs) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    const blob = await readFile(join(dir, 'blobs', 'sha256', d.digest.slice(7)));
    assert.equal(blob.length, d.size);
    if (compression === 'gzip') assert.deepEqual([...blob.subarray(0, 3), blob[9]], [0x1f, 0x8b, 0x08, 0xff], 'gzip header as Go writes it');
    if (compression === 'zstd') assert.deepEqual([...blob.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    const tar = decompressBlob(compression, blob);
    assert.equal(sha256(tar), d.annotations!['containerd.io/uncompressed'], 'diffID = sha256 of the tar');
    if (compression === 'uncompressed') assert.equal(d.digest, d.annotations!['containerd.io/uncompressed']);
    const files = readTar(tar);
    if (d.annotations!['containerd.io/uncompressed'] === EMPTY_TAR_DIFF_ID) assert.equal(files.length, 0);
    else {
      assert.ok(files.some((f) => f.type === '0' && f.size > 0));
      assert.ok(files.every((f) => (f.type === '5') === f.name.endsWith('/')));
    }
  }
}

const small = (overrides: Partial<GenerateOptions>): GenerateOptions => ({
  seed: 7,
  stages: 3,
  layersPerStage: 4,
  layerBytes: 6000,
  compression: 'gzip',
  form: 'image-manifest',
  withBlobs: true,
  records: 40,
  ...overrides,
});

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cachescope-gen-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('generated caches look like BuildKit exports', () => {
  for (const compression of ['gzip', 'zstd', 'uncompressed'] as const) {
    for (const form of ['image-manifest', 'index'] as const satisfies readonly GenForm[]) {
      it(`${form}, ${compression}: hashes, diffIDs, tars, order, sorting, tag`, async () => {
        const dir = join(root, `${form}-${compression}`);
        const opts = small({ compression, form, tag: 'build-1' });
        const result = await generateCache(dir, opts);
        const { config, layerDescriptors } = await checkCache(dir, opts);
        assert.equal(result.manifestDescriptor.digest, (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex).manifests[0].digest);
        for (const d of layerDescriptors) {
          const want = compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
          assert.equal(d.mediaType, want);
        }
        await checkLayerBlobs(dir, compression, layerDescriptors);
        assert.equal(config.records?.length, 40);
        // 1 base layer + 3 stages × 4 ops.
        assert.equal(config.layers?.length, 13);
      });
    }
  }

  it('has the shapes real configs have (§4.1, §13)', async () => {
    const dir = join(root, 'shapes');
    await generateCache(dir, small({}));
    const { config } = await checkCache(dir, small({}));
    const layers = config.layers!;
    const records = config.records!;
    assert.ok(layers.some((l, i) => (l.parent ?? 0) > i), 'a parent pointing forward');
    assert.ok(layers.some((l) => l.parent === undefined), 'a parent of 0, hence omitted');
    assert.equal(layers.filter((l) => l.blob === EMPTY_LAYER_GZIP_DIGEST).length, 2, 'the empty layer at two chain positions');
    assert.ok(records.some((r) => r.inputs?.length === 2), 'a two-slot op');
    assert.ok(records.some((r) => r.inputs?.length === 1), 'a one-slot op');
    assert.ok(
      records.some((r) => r.inputs?.some((slot) => slot.some((i) => !i.selector && !records[i.link].inputs) && slot.some((i) => i.selector))),
      'a content-checksum root linked without selector next to a selector link in one slot',
    );
    assert.ok(records.some((r) => r.inputs?.some((slot) => slot.some((i) => i.selector === 'sha256:8a5edab282632443219e051e4ade2d1d5bbc671c781051bf1437897cbdfea0f1'))), 'a sha256("/") selector');
    const digests = records.map((r) => r.digest);
    assert.ok(new Set(digests).size < digests.length, 'duplicate record digests');
    assert.ok(records.some((r) => !r.inputs && !r.layers), 'digest-only roots');
    assert.ok(records.some((r) => r.layers && r.inputs), 'op records with results');
  });

  it('is deterministic: the same seed writes the same bytes', async () => {
    const opts = small({ compression: 'zstd', form: 'index', multiPlatform: true });
    const [a, b] = [join(root, 'det-a'), join(root, 'det-b')];
    await generateCache(a, opts);
    await generateCache(b, opts);
    const list = async (d: string) => (await readdir(join(d, 'blobs', 'sha256'))).sort();
    assert.deepEqual(await list(a), await list(b));
    for (const name of await list(a)) {
      assert.ok((await readFile(join(a, 'blobs', 'sha256', name))).equals(await readFile(join(b, 'blobs', 'sha256', name))), name);
    }
    assert.equal(await readFile(join(a, 'index.json'), 'utf8'), await readFile(join(b, 'index.json'), 'utf8'));
    const other = await generateCache(join(root, 'det-c'), { ...opts, seed: 8 });
    assert.notEqual(other.manifestDescriptor.digest, (await generateCache(join(root, 'det-d'), opts)).manifestDescriptor.digest);
  });

  it('multi-platform: several roots (parent -1) in one config', async () => {
    const dir = join(root, 'multi');
    const opts = small({ multiPlatform: true, records: undefined });
    await generateCache(dir, opts);
    const { config } = await checkCache(dir, opts);
    assert.equal(config.layers!.filter((l) => l.parent === -1).length, 2);
    assert.equal(config.layers!.length, 2 * 13);
  });

  it('withBlobs false writes only the JSON, and honours exact layer and record counts', async () => {
    const dir = join(root, 'json-only');
    const opts = small({ withBlobs: false, layers: 10, records: 500, layerBytes: 50 << 20 });
    const result = await generateCache(dir, opts);
    const { config } = await checkCache(dir, opts);
    assert.equal(config.layers!.length, 10);
    assert.equal(config.records!.length, 500);
    const present = new Set(await readdir(join(dir, 'blobs', 'sha256')));
    assert.deepEqual([...present].sort(), [result.manifestDescriptor.digest.slice(7), result.configDescriptor.digest.slice(7)].sort());
    assert.equal(result.blobsWritten, 0);
  });

  it('docker media types in the manifest-list variant; refuses them for image-manifest like BuildKit', async () => {
    const dir = join(root, 'docker');
    const opts = small({ form: 'index', ociMediaTypes: false });
    const { layerDescriptors } = await (async () => {
      await generateCache(dir, opts);
      return checkCache(dir, opts);
    })();
    assert.ok(layerDescriptors.every((d) => d.mediaType === MediaType.dockerLayerGzip));
    await assert.rejects(generateCache(join(root, 'bad'), small({ ociMediaTypes: false })), /OCI mediatypes are required/);
  });

  it('a second export with the same tag replaces the index entry and orphans the first generation', async () => {
    const dir = join(root, 'generations');
    const first = await generateCache(dir, small({ revision: 0 }));
    const keep = await generateCache(dir, small({ revision: 0, tag: 'other', stages: 1 }));
    const second = await generateCache(dir, small({ revision: 1 }));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    assert.deepEqual(
      index.manifests.map((d) => [d.digest, d.annotations?.['org.opencontainers.image.ref.name']]),
      [
        [keep.manifestDescriptor.digest, 'other'],
        [second.manifestDescriptor.digest, 'latest'],
      ],
    );
    const present = new Set(await readdir(join(dir, 'blobs', 'sha256')));
    assert.ok(present.has(first.manifestDescriptor.digest.slice(7)), 'the old manifest stays (orphaned)');
    // Ops before the first COPY are cache hits: same blobs in both generations; the COPY layers differ.
    const firstBlobs = new Set(first.layerDescriptors.map((d) => d.digest));
    const secondBlobs = new Set(second.layerDescriptors.map((d) => d.digest));
    const shared = [...secondBlobs].filter((d) => firstBlobs.has(d));
    assert.ok(shared.length > 0 && shared.length < secondBlobs.size, `${shared.length} of ${secondBlobs.size} blobs shared`);
  });
});

describe('layer bytes', () => {
  it('the empty layer is the real 32-byte BuildKit blob: gzip of 1024 zero bytes', () => {
    assert.equal(EMPTY_LAYER_GZIP.length, 32);
    assert.equal(sha256(EMPTY_LAYER_GZIP), EMPTY_LAYER_GZIP_DIGEST);
    const tar = gunzipSync(EMPTY_LAYER_GZIP);
    assert.ok(tar.equals(Buffer.alloc(1024)));
    assert.equal(sha256(tar), EMPTY_TAR_DIFF_ID);
    assert.deepEqual(readTar(tar), []);
  });

  it('buildTar writes headers a strict reader accepts, long names through the ustar prefix', () => {
    const long = `${'dir/'.repeat(30)}file.txt`;
    const tar = Buffer.from(
      buildTar([
        { name: 'app', type: 'directory', mtime: 1_700_000_000 },
        { name: 'app/a.txt', type: 'file', mtime: 1_700_000_000, data: Buffer.from('hello\n') },
        { name: long, type: 'file', mtime: 0, mode: 0o755, data: Buffer.alloc(513, 1) },
      ]),
    );
    const files = readTar(tar);
    assert.deepEqual(
      files.map((f) => [f.name, f.type, f.size, f.mode]),
      [
        ['app/', '5', 0, 0o755],
        ['app/a.txt', '0', 6, 0o644],
        [long, '0', 513, 0o755],
      ],
    );
    assert.equal(files[1].data.toString(), 'hello\n');
    assert.equal(tar.length, 512 + (512 + 512) + (512 + 1024) + 1024); // headers, bodies padded to blocks, end marker
  });
});

describe('the bundled demo cache', () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const demo = join(repo, 'assets', 'demo-cache');

  it('is what scripts/gen-demo.ts writes today, byte for byte (regenerate it after changing the generator)', async () => {
    const fresh = join(root, 'demo');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(repo, 'scripts', 'gen-demo.ts'), fresh], { cwd: repo });
    const list = async (d: string) => (await readdir(join(d, 'blobs', 'sha256'))).sort();
    assert.deepEqual(await list(demo), await list(fresh));
    for (const file of ['index.json', 'oci-layout', ...(await list(fresh)).map((n) => join('blobs', 'sha256', n))]) {
      assert.ok((await readFile(join(demo, file))).equals(await readFile(join(fresh, file))), `${file} differs: run npm run gen:demo`);
    }
  });

  it('is a small, valid export with a duplicated empty layer and one orphaned generation', async () => {
    const opts = small({ form: 'image-manifest', compression: 'gzip' });
    const { config, layerDescriptors } = await checkCache(demo, opts);
    await checkLayerBlobs(demo, 'gzip', layerDescriptors);
    assert.equal(config.layers!.filter((l) => l.blob === EMPTY_LAYER_GZIP_DIGEST).length, 2);
    assert.ok(config.records!.length >= 15 && config.records!.some((r) => r.inputs?.some((slot) => slot.some((i) => i.selector))));
    const names = await readdir(join(demo, 'blobs', 'sha256'));
    let total = 0;
    const manifests: string[] = [];
    for (const n of names) {
      const bytes = await readFile(join(demo, 'blobs', 'sha256', n));
      total += bytes.length;
      if (bytes[0] === 0x7b && (JSON.parse(bytes.toString('utf8')) as { schemaVersion?: number }).schemaVersion === 2) manifests.push(n);
    }
    assert.ok(total < 200 * 1024, `${total} bytes`);
    const index = JSON.parse(await readFile(join(demo, 'index.json'), 'utf8')) as ImageIndex;
    assert.equal(index.manifests.length, 1);
    assert.equal(manifests.length, 2, 'the current manifest and one orphan');
    assert.ok(manifests.includes(index.manifests[0].digest.slice(7)));
  });
});
