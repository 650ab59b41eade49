/**
 * Exports checked by real peers: skopeo copies image-manifest exports, oci-image-tool validates
 * index.json and the cache manifest at its own type (forms-peers.test.ts covers every form), and the zstd CLI decompresses converted layers to tars whose sha256 is the diffID.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import type { ExportOptions } from '../../../shared/export/types';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { generate, meaning } from '../../unit/export/export-helpers';

let tmp: string;
let source: OpenedSource;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-peers-'));
  await generate(join(tmp, 'src'), { seed: 31, layerBytes: 300_000 });
  source = await openCacheSource(join(tmp, 'src'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function sh(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const VARIANTS: [string, ExportOptions][] = [
  ['image manifest, layers kept', {}],
  ['image manifest, zstd', { compression: 'zstd', 'force-compression': true }],
  ['image manifest, uncompressed', { compression: 'uncompressed', 'force-compression': true }],
  ['OCI index, zstd', { 'image-manifest': false, compression: 'zstd', 'force-compression': true }],
  ['Docker manifest list', { 'oci-mediatypes': false }],
];

describe('export checked by real peers', () => {
  for (const [name, options] of VARIANTS) {
    it(`${name}: oci-image-tool validates index.json and the manifest${options['image-manifest'] === false || options['oci-mediatypes'] === false ? '' : ', skopeo copies it'}`, async () => {
      const dest = join(tmp, name.replace(/\W+/g, '-'));
      const tag = 'v1';
      const result = await runExport({ opened: source, dest, options: { ...options, tag } });
      // `--type imageIndex` checks index.json itself; `--type image` would also demand an image
      // config, which a cache manifest (config = cacheconfig.v0) is not by design.
      const v = sh('oci-image-tool', ['validate', '--type', 'imageIndex', join(dest, 'index.json')]);
      assert.equal(v.status, 0, `oci-image-tool: ${v.stdout}${v.stderr}`);
      assert.match(v.stdout, /Validation succeeded/);
      // The cache manifest itself, at its own type: an image manifest, or an index (OCI or Docker list).
      const manifestType = result.descriptor!.mediaType === MediaType.ociManifest ? 'manifest' : 'imageIndex';
      const vm = sh('oci-image-tool', ['validate', '--type', manifestType, join(dest, 'blobs', 'sha256', result.descriptor!.digest.slice(7))]);
      assert.equal(vm.status, 0, `oci-image-tool --type ${manifestType}: ${vm.stdout}${vm.stderr}`);
      assert.match(vm.stdout, /Validation succeeded/);
      if (result.descriptor!.mediaType === MediaType.ociManifest) {
        const other = `${dest}-skopeo`;
        const c = sh('skopeo', ['copy', '--quiet', `oci:${dest}:${tag}`, `oci:${other}:${tag}`]);
        assert.equal(c.status, 0, `skopeo copy: ${c.stderr}`);
        // skopeo re-serialises nothing for OCI → OCI: the copy is the same cache.
        const copied = await openCacheSource(`${other}:${tag}`);
        assert.equal(copied.manifestDescriptor!.digest, result.descriptor!.digest);
        assert.deepEqual(meaning(copied), meaning(source));
      }
    });
  }

  it('zstd layers decompress with `zstd -d -c` to tars whose sha256 is the diffID', async () => {
    const dest = join(tmp, 'zstd-cli');
    const result = await runExport({ opened: source, dest, options: { compression: 'zstd', 'force-compression': true, 'compression-level': 19 } });
    const m = JSON.parse(await readFile(join(dest, 'blobs', 'sha256', result.descriptor!.digest.slice(7)), 'utf8')) as ImageManifest;
    const layers = m.layers as Descriptor[];
    assert.ok(layers.length > 0);
    for (const d of new Map(layers.map((l) => [l.digest, l])).values()) {
      assert.equal(d.mediaType, MediaType.ociLayerZstd);
      const r = spawnSync('zstd', ['-d', '-c', join(dest, 'blobs', 'sha256', d.digest.slice(7))], { maxBuffer: 256 << 20 });
      assert.equal(r.status, 0, String(r.stderr));
      const tar = r.stdout as Buffer;
      assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, d.annotations![Annotation.uncompressed]);
      // A real tar: the ustar magic at offset 257 of the first header (or an all-zero end block for the empty layer).
      assert.ok(tar.subarray(257, 262).toString() === 'ustar' || tar.every((b) => b === 0), `${d.digest} is not a tar`);
    }
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as ImageIndex;
    assert.equal(index.manifests.at(-1)!.digest, result.descriptor!.digest);
  });
});
