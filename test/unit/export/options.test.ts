import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { IMAGE_MANIFEST_NEEDS_OCI, parseExportAttrs, resolveExportOptions } from '../../../shared/export/options';
import { manifestMediaType } from '../../../shared/export/plan-export';
import { MediaType } from '../../../shared/oci/media-types';

function throwsOptions(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CacheError, `expected a CacheError, got ${String(err)}`);
    assert.equal(err.code, 'invalid-options');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('export options: BuildKit defaults', () => {
  it('defaults to OCI media types, the image-manifest form, tag latest, and no conversion', () => {
    const r = resolveExportOptions({});
    assert.deepEqual(r, { oci: true, imageManifest: true, target: null, compression: 'gzip', level: null, force: false, tag: 'latest', dropMissing: false, verify: false });
    assert.equal(manifestMediaType(r), MediaType.ociManifest);
  });

  it('oci-mediatypes=false alone turns image-manifest off (Docker manifest list)', () => {
    const r = resolveExportOptions({ 'oci-mediatypes': false });
    assert.equal(r.imageManifest, false);
    assert.equal(r.oci, false);
    assert.equal(manifestMediaType(r), MediaType.dockerManifestList);
  });

  it('image-manifest=false keeps OCI media types: an OCI index', () => {
    const r = resolveExportOptions({ 'image-manifest': false });
    assert.equal(manifestMediaType(r), MediaType.ociIndex);
  });

  it('image-manifest=true with oci-mediatypes=false is BuildKit configuration error', () => {
    throwsOptions(() => resolveExportOptions({ 'oci-mediatypes': false, 'image-manifest': true }), IMAGE_MANIFEST_NEEDS_OCI);
    assert.equal(IMAGE_MANIFEST_NEEDS_OCI, 'invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format');
  });

  it('compression alone converts nothing; force-compression converts to it; force alone means gzip', () => {
    assert.equal(resolveExportOptions({ compression: 'zstd' }).target, null);
    assert.equal(resolveExportOptions({ compression: 'zstd', 'force-compression': true }).target, 'zstd');
    assert.equal(resolveExportOptions({ 'force-compression': true }).target, 'gzip');
    assert.equal(resolveExportOptions({ compression: 'uncompressed', 'force-compression': true, 'compression-level': 5 }).level, null);
  });

  it('checks the level against the codec', () => {
    throwsOptions(() => resolveExportOptions({ compression: 'gzip', 'compression-level': 10 }), 'gzip: invalid compression level: 10');
    throwsOptions(() => resolveExportOptions({ compression: 'zstd', 'compression-level': 23 }), /zstd: invalid compression level: 23/);
    assert.equal(resolveExportOptions({ compression: 'zstd', 'compression-level': 19 }).level, 19);
  });
});

describe('export options: parsing --opt key=value with BuildKit texts', () => {
  it('accepts Go ParseBool spellings and an empty force-compression', () => {
    assert.deepEqual(parseExportAttrs([['oci-mediatypes', 'F'], ['image-manifest', '0'], ['force-compression', ''], ['verify', 'TRUE'], ['drop-missing', 't']]), {
      'oci-mediatypes': false,
      'image-manifest': false,
      'force-compression': true,
      verify: true,
      'drop-missing': true,
    });
  });

  it('reports bad booleans as BuildKit does', () => {
    throwsOptions(() => parseExportAttrs([['oci-mediatypes', 'yes']]), 'failed to parse oci-mediatypes: strconv.ParseBool: parsing "yes": invalid syntax');
    throwsOptions(() => parseExportAttrs([['image-manifest', 'nope']]), 'failed to parse image-manifest: strconv.ParseBool: parsing "nope": invalid syntax');
    throwsOptions(() => parseExportAttrs([['force-compression', 'maybe']]), 'non-bool value maybe specified for force-compression: strconv.ParseBool: parsing "maybe": invalid syntax');
  });

  it('reports a bad level and a bad compression as BuildKit does', () => {
    throwsOptions(() => parseExportAttrs([['compression-level', 'high']]), 'non-integer value high specified for compression-level: strconv.ParseInt: parsing "high": invalid syntax');
    throwsOptions(() => parseExportAttrs([['compression', 'brotli']]), 'unsupported compression type brotli');
    throwsOptions(() => parseExportAttrs([['compression', 'estargz']]), /^unsupported compression type estargz/);
    assert.deepEqual(parseExportAttrs([['compression', 'zstd'], ['compression-level', '7'], ['tag', 'v1']]), { compression: 'zstd', 'compression-level': 7, tag: 'v1' });
  });

  it('refuses an unknown key, naming the ones it knows', () => {
    throwsOptions(() => parseExportAttrs([['mode', 'max']]), /unknown export option "mode" \(expected one of oci-mediatypes, image-manifest/);
  });
});
