/**
 * Every export form, written by the real CLI, checked by real tools: oci-image-tool validates every
 * written JSON document at its own `--type` (index.json and index-form manifests as imageIndex,
 * image-manifest-form manifests as manifest), skopeo reads what its OCI transport supports, and
 * gzip/zstd/tar decode every layer to the tar its `containerd.io/uncompressed` names.
 *
 * What the peers cannot do, by design of the cache format (asserted as such, or left out with why):
 * - `oci-image-tool validate --type image` checks oci-layout, index.json, the ref and the manifest,
 *   then rejects the config, whose media type is BuildKit's cache config and not an image config.
 *   This version (1.0.0-rc1) has no `imageLayout` type, and predates zstd layer types.
 * - skopeo copies only the image-manifest form: it reads an index form's layers as platform manifests.
 * - skopeo 1.9 finds no index.json entry whose media type is a Docker manifest list.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, REPO } from '../../helpers/fixtures';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

const CLI = join(REPO, 'bin', 'cachescope.mjs');
const CONFIG_TYPE = 'application/vnd.buildkit.cacheconfig.v0';
const UNCOMPRESSED = 'containerd.io/uncompressed';

type Compression = 'gzip' | 'zstd' | 'uncompressed';

/** The three forms: the options that pick each, the manifest's media type, and its layer types (literal, not from the code under test). */
const FORMS = [
  {
    name: 'OCI image manifest',
    opts: [] as string[],
    manifestType: 'application/vnd.oci.image.manifest.v1+json',
    toolType: 'manifest',
    wrongType: 'imageIndex',
    layerType: { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', uncompressed: 'application/vnd.oci.image.layer.v1.tar' },
  },
  {
    name: 'OCI index',
    opts: ['image-manifest=false'],
    manifestType: 'application/vnd.oci.image.index.v1+json',
    toolType: 'imageIndex',
    wrongType: 'manifest',
    layerType: { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', uncompressed: 'application/vnd.oci.image.layer.v1.tar' },
  },
  {
    name: 'Docker manifest list',
    opts: ['oci-mediatypes=false'],
    manifestType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    toolType: 'imageIndex',
    wrongType: 'manifest',
    layerType: {
      gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      // containerd's (non-standard) Docker zstd type: what BuildKit writes for zstd with oci-mediatypes=false.
      zstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
      uncompressed: 'application/vnd.docker.image.rootfs.diff.tar',
    },
  },
] as const;

const COMPRESSIONS: Compression[] = ['gzip', 'zstd', 'uncompressed'];
/** Source with both gzip and zstd layers, so every target compression converts some layers and keeps others. */
const MIXED = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
const PLAIN = join(FIXTURES, 'buildkit-v0.24-uncompressed');

let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-forms-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function run(cmd: string, args: string[], input?: Buffer): { status: number | null; stdout: Buffer; text: string } {
  const r = spawnSync(cmd, args, { input, maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout, text: `${r.stdout}${r.stderr}` };
}

function exportWithCli(source: string, dest: string, tag: string, opts: readonly string[]): void {
  const r = run(process.execPath, [CLI, 'export', source, `${dest}:${tag}`, ...opts.flatMap((o) => ['--opt', o])]);
  assert.equal(r.status, 0, `cachescope export ${opts.join(' ')}: ${r.text}`);
}

function validate(type: string, path: string): { ok: boolean; text: string } {
  const r = run('oci-image-tool', ['validate', '--type', type, path]);
  return { ok: r.status === 0 && /Validation succeeded/.test(r.text), text: r.text };
}

const blobPath = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readIndex(dir: string): Promise<{ manifests: Descriptor[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
}

/** The tagged manifest: its descriptor in index.json, its bytes, its layers and its config descriptor. */
async function tagged(dir: string, tag: string) {
  const entry = (await readIndex(dir)).manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(entry, `index.json has no entry tagged ${tag}`);
  const bytes = await readFile(blobPath(dir, entry.digest));
  assert.equal(sha256(bytes), entry.digest, 'manifest bytes match their digest');
  assert.equal(bytes.length, entry.size);
  const doc = JSON.parse(bytes.toString('utf8')) as { mediaType: string; layers?: Descriptor[]; manifests?: Descriptor[]; config?: Descriptor };
  const all = doc.layers ?? doc.manifests!.filter((d) => d.mediaType !== CONFIG_TYPE);
  const config = doc.config ?? doc.manifests!.find((d) => d.mediaType === CONFIG_TYPE)!;
  return { entry, bytes, doc, layers: all, config };
}

/** Decodes a layer with the tool its media type names; returns the tar. */
function decode(path: string, mediaType: string): Buffer {
  if (/gzip$/.test(mediaType)) {
    const r = run('gzip', ['-d', '-c', path]);
    assert.equal(r.status, 0, `gzip -d ${path} (${mediaType}): ${r.text.slice(-300)}`);
    return r.stdout;
  }
  if (/zstd$/.test(mediaType)) {
    const r = run('zstd', ['-d', '-c', path]);
    assert.equal(r.status, 0, `zstd -d ${path} (${mediaType}): ${r.text.slice(-300)}`);
    return r.stdout;
  }
  const r = run('cat', [path]);
  return r.stdout;
}

/** Every layer: bytes match digest and size, decode with the tool of its media type, to a tar `tar -t` lists, whose sha256 is the diffID. */
async function checkLayers(dir: string, layers: Descriptor[]): Promise<void> {
  for (const d of new Map(layers.map((l) => [l.digest, l])).values()) {
    const path = blobPath(dir, d.digest);
    const bytes = await readFile(path);
    assert.equal(sha256(bytes), d.digest, `${d.digest}: bytes match the digest`);
    assert.equal(bytes.length, d.size, `${d.digest}: size`);
    const tar = decode(path, d.mediaType);
    const list = run('tar', ['-t', '-f', '-'], tar);
    assert.equal(list.status, 0, `${d.digest} (${d.mediaType}) is not a tar: ${list.text.slice(-300)}`);
    const diffID = d.annotations?.[UNCOMPRESSED];
    assert.ok(diffID, `${d.digest}: no ${UNCOMPRESSED}`);
    assert.equal(sha256(tar), diffID, `${d.digest}: sha256 of the tar is the diffID`);
  }
}

describe('every export form, written by the CLI, validated by oci-image-tool, skopeo, gzip, zstd and tar', () => {
  for (const form of FORMS) {
    for (const compression of COMPRESSIONS) {
      it(`${form.name}, ${compression}`, async () => {
        const dest = join(tmp, `${form.name}-${compression}`.replace(/\W+/g, '-'));
        const tag = 'v1';
        exportWithCli(MIXED, dest, tag, [...form.opts, `compression=${compression}`, 'force-compression=true']);

        // index.json: an OCI index, whatever the form.
        const vi = validate('imageIndex', join(dest, 'index.json'));
        assert.ok(vi.ok, `oci-image-tool --type imageIndex index.json: ${vi.text}`);

        // The cache manifest, at its own type; the other type fails, so the tool really read the document.
        const { entry, bytes, doc, layers, config } = await tagged(dest, tag);
        assert.equal(entry.mediaType, form.manifestType);
        assert.equal(doc.mediaType, form.manifestType);
        const vm = validate(form.toolType, blobPath(dest, entry.digest));
        assert.ok(vm.ok, `oci-image-tool --type ${form.toolType} ${entry.digest}: ${vm.text}`);
        assert.equal(validate(form.wrongType, blobPath(dest, entry.digest)).ok, false, `--type ${form.wrongType} must reject a ${form.name}`);

        // Every layer is the form's type for the requested compression: never an OCI type in a Docker list.
        assert.ok(layers.length > 0);
        for (const d of layers) assert.equal(d.mediaType, form.layerType[compression], `${d.digest} in a ${form.name}`);
        await checkLayers(dest, layers);

        // The config blob is there, and is the cache config BuildKit reads.
        assert.equal(config.mediaType, CONFIG_TYPE);
        const cfg = JSON.parse(await readFile(blobPath(dest, config.digest), 'utf8')) as { layers: { blob: string }[] };
        assert.deepEqual(new Set(cfg.layers.map((l) => l.blob)), new Set(layers.map((l) => l.digest)));

        if (form.manifestType !== FORMS[2].manifestType) {
          // skopeo's OCI transport resolves the tag and returns the manifest byte for byte.
          const raw = run('skopeo', ['inspect', '--raw', `oci:${dest}:${tag}`]);
          assert.equal(raw.status, 0, `skopeo inspect --raw: ${raw.text}`);
          assert.ok(raw.stdout.equals(bytes), 'skopeo inspect --raw returns the written manifest');
        }
        if (form.toolType === 'manifest') {
          // oci-layout, index.json, the ref and the manifest pass; only the (cache, not image) config is refused.
          const vl = validate('image', dest);
          assert.equal(vl.ok, false);
          assert.match(vl.text, /1 errors detected: .*config validation failed: invalid descriptor MediaType \\"application\/vnd\.buildkit\.cacheconfig\.v0\\"/s);
          // skopeo copies the image-manifest form: same manifest, same blobs.
          const copy = `${dest}-skopeo`;
          const c = run('skopeo', ['copy', '--quiet', `oci:${dest}:${tag}`, `oci:${copy}:${tag}`]);
          assert.equal(c.status, 0, `skopeo copy: ${c.text}`);
          const copied = await tagged(copy, tag);
          assert.equal(copied.entry.digest, entry.digest);
          assert.deepEqual((await readdir(join(copy, 'blobs', 'sha256'))).sort(), [...new Set([entry.digest, config.digest, ...layers.map((l) => l.digest)])].map((d) => d.slice(7)).sort());
        }
      });
    }
  }

  it('all nine forms as tags of one folder: index.json and every manifest still validate', async () => {
    const dest = join(tmp, 'all-forms');
    const tags: { tag: string; form: (typeof FORMS)[number] }[] = [];
    for (const [i, form] of FORMS.entries()) {
      for (const compression of COMPRESSIONS) {
        const tag = `f${i}-${compression}`;
        exportWithCli(MIXED, dest, tag, [...form.opts, `compression=${compression}`, 'force-compression=true']);
        tags.push({ tag, form });
      }
    }
    const index = await readIndex(dest);
    assert.equal(index.manifests.length, tags.length);
    const vi = validate('imageIndex', join(dest, 'index.json'));
    assert.ok(vi.ok, vi.text);
    for (const { tag, form } of tags) {
      const { entry, layers } = await tagged(dest, tag);
      assert.equal(entry.mediaType, form.manifestType, tag);
      const vm = validate(form.toolType, blobPath(dest, entry.digest));
      assert.ok(vm.ok, `${tag}: ${vm.text}`);
      await checkLayers(dest, layers);
      if (form !== FORMS[2]) {
        const raw = run('skopeo', ['inspect', '--raw', `oci:${dest}:${tag}`]);
        assert.equal(raw.status, 0, `${tag}: ${raw.text}`);
        assert.equal(sha256(raw.stdout), entry.digest, tag);
      }
    }
  });
});

describe('Docker form without conversion (oci-mediatypes=false): the source blobs under Docker types', () => {
  const CASES = [
    ['buildkit-v0.24-uncompressed', PLAIN, { 'application/vnd.oci.image.layer.v1.tar': 'application/vnd.docker.image.rootfs.diff.tar' }],
    [
      'buildkit-v0.24-mixed-gzip-zstd',
      MIXED,
      {
        'application/vnd.oci.image.layer.v1.tar+gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        'application/vnd.oci.image.layer.v1.tar+zstd': 'application/vnd.docker.image.rootfs.diff.tar.zstd',
      },
    ],
  ] as const;

  for (const [name, source, dockerFor] of CASES) {
    it(`${name}: every layer in the written manifest list is a Docker layer type, bytes and digests unchanged`, async () => {
      const dest = join(tmp, `docker-${name}`);
      exportWithCli(source, dest, 'latest', ['oci-mediatypes=false']);
      const { entry, layers, config } = await tagged(dest, 'latest');
      assert.equal(entry.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
      const vm = validate('imageIndex', blobPath(dest, entry.digest));
      assert.ok(vm.ok, vm.text);
      // The source's own layers, by digest.
      const src = await tagged(source, 'latest');
      const srcType = new Map(src.layers.map((d) => [d.digest, d.mediaType]));
      assert.equal(layers.length, src.layers.length);
      for (const d of layers) {
        assert.ok(srcType.has(d.digest), `${d.digest} is a source blob, not a conversion`);
        assert.ok(d.mediaType.startsWith('application/vnd.docker.image.rootfs.'), `${d.digest}: ${d.mediaType} in a Docker manifest list`);
        assert.equal(d.mediaType, (dockerFor as Record<string, string>)[srcType.get(d.digest)!]);
      }
      // Every Docker type the source's compressions call for is there (both gzip and zstd for the mixed one).
      assert.deepEqual(new Set(layers.map((d) => d.mediaType)), new Set(Object.values(dockerFor)));
      assert.equal(config.digest, src.config.digest, 'config unchanged: same layers, same blobs');
      await checkLayers(dest, layers);
    });
  }
});
