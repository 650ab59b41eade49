import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveImageLayers } from '../../../shared/image/layer-options';

describe('image export layer options (BuildKit names, defaults and errors)', () => {
  it('defaults: OCI media types, no conversion', () => {
    assert.deepEqual(resolveImageLayers({}), { oci: true, target: null, level: null, describe: null });
  });

  it('force-compression converts to compression (default gzip), with the level that runs', () => {
    assert.equal(resolveImageLayers({ 'force-compression': true }).target, 'gzip');
    assert.deepEqual(resolveImageLayers({ compression: 'zstd', 'force-compression': true, 'compression-level': 22 }), {
      oci: true,
      target: 'zstd',
      level: 11,
      describe: 'layers not already zstd are converted to zstd (level 11)',
    });
    assert.equal(resolveImageLayers({ compression: 'uncompressed', 'force-compression': true }).level, null);
  });

  it('compression without force-compression converts nothing, and says so', () => {
    const r = resolveImageLayers({ compression: 'zstd' });
    assert.equal(r.target, null);
    assert.match(r.describe!, /without force-compression converts nothing/);
  });

  it('oci-mediatypes=false is Docker types, not the cache export\'s image-manifest error', () => {
    assert.equal(resolveImageLayers({ 'oci-mediatypes': false }).oci, false);
  });

  it('refuses bad levels with BuildKit\'s message and cache-export-only keys by name', () => {
    assert.throws(() => resolveImageLayers({ compression: 'gzip', 'compression-level': 10 }), /gzip: invalid compression level: 10/);
    assert.throws(() => resolveImageLayers({ tag: 'x' }), /tag does not apply to an image export/);
    assert.throws(() => resolveImageLayers({ 'drop-missing': true }), /drop-missing does not apply to an image export/);
  });
});
