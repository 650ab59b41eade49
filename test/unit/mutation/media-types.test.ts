/**
 * Every row of BuildKit's layer media type table (ConvertAllLayerMediaTypes), both ways, and the
 * compression each type implies. Written from the format doc's table (literal strings, not the code's
 * constants), so a dropped or swapped pair fails here even where no fixture has that layer type.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compressionOfMediaType, convertLayerMediaType, detectCompression, isDockerMediaType, layerMediaType } from '../../../shared/oci/media-types';

/** [Docker, OCI] pairs, as docs/buildkit-cache-format.md §2 lists them. */
const PAIRS: [string, string][] = [
  ['application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.oci.image.layer.v1.tar'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
  ['application/vnd.docker.image.rootfs.diff.tar.zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar'],
  ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'],
];

describe('layer media type conversion (ConvertAllLayerMediaTypes)', () => {
  for (const [docker, oci] of PAIRS) {
    it(`${docker} <-> ${oci}`, () => {
      assert.equal(convertLayerMediaType(docker, true), oci);
      assert.equal(convertLayerMediaType(oci, false), docker);
      // Already in the wanted family: unchanged.
      assert.equal(convertLayerMediaType(oci, true), oci);
      assert.equal(convertLayerMediaType(docker, false), docker);
    });
  }

  it('OCI nondistributable zstd has no Docker counterpart and stays; unknown types stay', () => {
    const ndZstd = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
    assert.equal(convertLayerMediaType(ndZstd, false), ndZstd);
    assert.equal(convertLayerMediaType(ndZstd, true), ndZstd);
    assert.equal(convertLayerMediaType('application/x-unknown', false), 'application/x-unknown');
    assert.equal(convertLayerMediaType('', true), '');
  });
});

describe('compression of a layer media type', () => {
  const CASES: [string, string | null][] = [
    ['application/vnd.oci.image.layer.v1.tar', 'uncompressed'],
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.docker.image.rootfs.diff.tar', 'uncompressed'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.diff.tar.zstd', 'zstd'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'uncompressed'],
    ['application/vnd.buildkit.cacheconfig.v0', null],
    ['application/vnd.oci.image.manifest.v1+json', null],
    ['', null],
  ];
  for (const [mediaType, compression] of CASES) {
    it(`${mediaType || '(empty)'}: ${compression}`, () => assert.equal(compressionOfMediaType(mediaType), compression));
  }

  it('the layer type of each compression in each family', () => {
    assert.equal(layerMediaType('uncompressed', true), 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(layerMediaType('gzip', true), 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(layerMediaType('zstd', true), 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(layerMediaType('uncompressed', false), 'application/vnd.docker.image.rootfs.diff.tar');
    assert.equal(layerMediaType('gzip', false), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.equal(layerMediaType('zstd', false), 'application/vnd.docker.image.rootfs.diff.tar.zstd');
  });

  it('Docker types are told apart by their prefix', () => {
    assert.equal(isDockerMediaType('application/vnd.docker.distribution.manifest.list.v2+json'), true);
    assert.equal(isDockerMediaType('application/vnd.oci.image.index.v1+json'), false);
  });
});

describe('compression detected from the first bytes (detectCompressionType)', () => {
  it('gzip needs 1f 8b 08; zstd needs 28 b5 2f fd; anything else, or too short, is uncompressed', () => {
    assert.equal(detectCompression(Uint8Array.of(0x1f, 0x8b, 0x08, 0x00)), 'gzip');
    assert.equal(detectCompression(Uint8Array.of(0x1f, 0x8b, 0x08)), 'gzip');
    assert.equal(detectCompression(Uint8Array.of(0x1f, 0x8b, 0x07)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x1f, 0x8b)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x1e, 0x8b, 0x08)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x1f, 0x8c, 0x08)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)), 'zstd');
    assert.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x29, 0xb5, 0x2f, 0xfd)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x28, 0xb4, 0x2f, 0xfd)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2e, 0xfd)), 'uncompressed');
    assert.equal(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfc)), 'uncompressed');
    assert.equal(detectCompression(new Uint8Array(0)), 'uncompressed');
  });
});
