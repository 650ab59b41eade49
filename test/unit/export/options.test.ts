import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { validateParams } from '../../../shared/contract/validate';
import { IMAGE_MANIFEST_NEEDS_OCI, describeLevel, effectiveLevel, parseExportAttrs, resolveExportOptions } from '../../../shared/export/options';
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
    assert.deepEqual(r, { oci: true, imageManifest: true, target: null, compression: 'gzip', level: 6, requestedLevel: null, force: false, tag: 'latest', dropMissing: false, verify: false });
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

  it('checks a gzip level as Go does: -2 (HuffmanOnly), -1 (default) and 0..9 pass, -3 and 10 do not', () => {
    throwsOptions(() => resolveExportOptions({ compression: 'gzip', 'compression-level': 10 }), 'gzip: invalid compression level: 10');
    throwsOptions(() => resolveExportOptions({ compression: 'gzip', 'compression-level': -3 }), 'gzip: invalid compression level: -3');
    assert.equal(resolveExportOptions({ compression: 'gzip', 'compression-level': -2 }).level, -2);
    assert.equal(resolveExportOptions({ compression: 'gzip', 'compression-level': -1 }).level, 6);
    assert.equal(resolveExportOptions({ compression: 'gzip', 'compression-level': 0 }).level, 0);
    assert.equal(resolveExportOptions({ compression: 'gzip', 'compression-level': 9 }).level, 9);
    // Without compression= the target is BuildKit's default gzip, so the gzip range applies.
    throwsOptions(() => resolveExportOptions({ 'force-compression': true, 'compression-level': 12 }), 'gzip: invalid compression level: 12');
  });

  it("accepts any zstd level and runs the one BuildKit's encoder maps it to (EncoderLevelFromZstd)", () => {
    const runs = (level: number) => resolveExportOptions({ compression: 'zstd', 'force-compression': true, 'compression-level': level });
    for (const [asked, ran] of [
      [-5, 1], [-1, 1], [0, 1], [1, 1], [2, 1],
      [3, 3], [5, 3],
      [6, 7], [9, 7],
      [10, 11], [19, 11], [22, 11], [23, 11], [1_000_000, 11],
    ] as const) {
      assert.equal(runs(asked).level, ran, `zstd level ${asked}`);
      assert.equal(runs(asked).requestedLevel, asked);
    }
    assert.equal(resolveExportOptions({ compression: 'zstd', 'force-compression': true }).level, 3);
    assert.equal(effectiveLevel('uncompressed', 5), null);
  });

  it('the app contract passes any integer level on (the codec range is checked by the options) and refuses the rest', () => {
    for (const level of [-5, -2, 23, 1_000_000]) {
      assert.equal(validateParams('previewExport', { cacheId: 'c', options: { 'compression-level': level } }).options['compression-level'], level);
    }
    for (const level of [1.5, '3', Number.NaN]) {
      throwsOptions(() => validateParams('previewExport', { cacheId: 'c', options: { 'compression-level': level } }), /specified for compression-level/);
    }
  });

  it('says in one line which level runs, and when the level does nothing', () => {
    assert.equal(
      describeLevel(resolveExportOptions({ compression: 'zstd', 'force-compression': true, 'compression-level': 22 })),
      'zstd level 22 runs as level 11: BuildKit\'s encoder maps it to its "best" speed, which matches zstd level 11',
    );
    assert.equal(describeLevel(resolveExportOptions({ compression: 'zstd', 'force-compression': true, 'compression-level': 3 })), 'zstd level 3 runs');
    assert.equal(describeLevel(resolveExportOptions({ compression: 'zstd', 'force-compression': true })), 'zstd level 3 runs (the default)');
    assert.equal(describeLevel(resolveExportOptions({ compression: 'gzip', 'force-compression': true, 'compression-level': -1 })), "gzip level -1 runs as level 6 (Go's DefaultCompression)");
    assert.equal(describeLevel(resolveExportOptions({ compression: 'gzip', 'force-compression': true, 'compression-level': -2 })), 'gzip level -2 (Huffman only) runs');
    assert.match(describeLevel(resolveExportOptions({ compression: 'zstd', 'compression-level': 22 }))!, /^compression-level 22 has no effect: no layer is converted/);
    assert.equal(describeLevel(resolveExportOptions({ compression: 'zstd' })), null);
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

  it('parses levels as strconv.ParseInt(v, 10, 64) does: signs, negatives, int64 range', () => {
    assert.equal(parseExportAttrs([['compression', 'zstd'], ['compression-level', '-5']])['compression-level'], -5);
    assert.equal(parseExportAttrs([['compression', 'zstd'], ['compression-level', '+23']])['compression-level'], 23);
    assert.equal(parseExportAttrs([['compression-level', '-2']])['compression-level'], -2);
    throwsOptions(() => parseExportAttrs([['compression-level', '9223372036854775808']]), 'non-integer value 9223372036854775808 specified for compression-level: strconv.ParseInt: parsing "9223372036854775808": value out of range');
    // int64 but beyond 2^53: zstd maps it to its best level; gzip refuses it, quoting the digits as written.
    const huge = parseExportAttrs([['compression', 'zstd'], ['compression-level', '9223372036854775807']]);
    assert.equal(resolveExportOptions({ ...huge, 'force-compression': true }).level, 11);
    throwsOptions(() => parseExportAttrs([['compression-level', '9007199254740993']]), 'gzip: invalid compression level: 9007199254740993');
  });

  it('refuses an unknown key, naming the ones it knows', () => {
    throwsOptions(() => parseExportAttrs([['mode', 'max']]), /unknown export option "mode" \(expected one of oci-mediatypes, image-manifest/);
  });
});
