/**
 * Every form BuildKit ever wrote lands in the one model: image-manifest and index forms with OCI and
 * Docker media types, manifests without a mediaType, the 2017 forms, gha/s3 configs, bare files and
 * inline cache. Each document is built here, in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheView } from '../../../shared/cache/view-types';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { MT, blobPath, cleanTempDirs, fakeDigest, layerDesc, sha256, tagged, tempDir, writeBlob, writeCacheLayout, writeIndex } from './layout-kit';

after(cleanTempDirs);

const T1 = '2026-01-02T03:04:05.123456789Z';
const T2 = '2026-01-02T03:04:06Z';
const A = fakeDigest('a');
const B = fakeDigest('b');
const C = fakeDigest('c');

/** Three layer entries (C on B on A), four records: two source records (no inputs), one with a result on B, one on C. */
const CONFIG = {
  layers: [{ blob: A, parent: -1 }, { blob: B }, { blob: C, parent: 1 }],
  records: [
    { digest: sha256('r0') },
    { digest: sha256('r1') },
    { layers: [{ layer: 1, createdAt: T1 }], digest: sha256('r2'), inputs: [[{ link: 0 }]] },
    { layers: [{ layer: 2, createdAt: T2 }], digest: sha256('r3'), inputs: [[{ link: 2 }], [{ selector: sha256('/'), link: 1 }]] },
  ],
};

async function open(source: string): Promise<CacheView> {
  return viewOf(await openCacheSource(source));
}

async function rejects(source: string, code: string, ...parts: string[]): Promise<CacheError> {
  let caught: unknown;
  try {
    await openCacheSource(source);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CacheError, `expected a CacheError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of parts) assert.ok(caught.message.includes(p), `${JSON.stringify(caught.message)} should include ${JSON.stringify(p)}`);
  return caught;
}

/** The parts of a view that must not depend on the manifest form. */
function structure(v: CacheView) {
  return {
    summary: v.summary,
    layers: v.layers.map((l) => [l.blob, l.parent, l.size]),
    records: v.records.map((r) => [r.digest, r.inputs, r.stack, r.resultSize, r.droppedResult]),
  };
}

const EXPECTED = {
  summary: { layerEntries: 3, uniqueBlobs: 3, records: 4, recordsWithResults: 2, chainRoots: 1, sourceRecords: 2, missingBlobs: 3, totalBytes: 1000 + 1001 + 1002 },
  layers: [
    [A, -1, 1000],
    [B, 0, 1001],
    [C, 1, 1002],
  ],
  records: [
    [sha256('r0'), [], [], 0, null],
    [sha256('r1'), [], [], 0, null],
    [sha256('r2'), [[{ link: 0, selector: null }]], [0, 1], 2001, null],
    [sha256('r3'), [[{ link: 2, selector: null }], [{ link: 1, selector: sha256('/') }]], [0, 1, 2], 3003, null],
  ],
};

describe('manifest forms', () => {
  const cases = [
    { form: 'image-manifest', docker: false, mediaType: MT.ociManifest, variant: 'image-manifest', family: 'oci' },
    { form: 'image-manifest', docker: true, mediaType: MT.dockerManifest, variant: 'image-manifest', family: 'docker' },
    { form: 'index', docker: false, mediaType: MT.ociIndex, variant: 'index', family: 'oci' },
    { form: 'index', docker: true, mediaType: MT.dockerList, variant: 'index', family: 'docker' },
  ] as const;
  for (const c of cases) {
    it(`${c.form}, ${c.docker ? 'Docker' : 'OCI'} media types`, async () => {
      const layout = writeCacheLayout({ config: CONFIG, form: c.form, docker: c.docker });
      const view = await open(layout.dir);
      assert.deepEqual(structure(view), EXPECTED);
      assert.equal(view.variant, c.variant);
      assert.deepEqual(view.manifest, { mediaType: c.mediaType, digest: layout.manifest.digest, size: layout.manifest.size, family: c.family, inferred: false });
      assert.deepEqual(view.config, { mediaType: MT.cacheConfig, digest: layout.config.digest, size: layout.config.size, format: 'v0' });
      assert.equal(view.layers[0].mediaType, c.docker ? MT.dockerGzip : MT.ociGzip);
      assert.equal(view.layers[0].compression, 'gzip');
    });
  }

  it('no mediaType in the body: a list or a manifest is inferred from its keys (Docker types, as BuildKit defaults)', async () => {
    for (const form of ['image-manifest', 'index'] as const) {
      const layout = writeCacheLayout({ config: CONFIG, form, noMediaType: true });
      const view = await open(layout.dir);
      assert.deepEqual(structure(view), EXPECTED);
      assert.equal(view.manifest?.inferred, true);
      assert.equal(view.manifest?.mediaType, form === 'index' ? MT.dockerList : MT.dockerManifest);
    }
  });

  it('a mediaType that is no manifest type is ignored like BuildKit does, with a warning', async () => {
    const dir = tempDir();
    const config = writeBlob(dir, JSON.stringify(CONFIG), MT.cacheConfig);
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: 'application/json', config, layers: CONFIG.layers.map((l, i) => layerDesc(l.blob, 1000 + i)) }));
    writeIndex(dir, [tagged({ ...manifest, mediaType: MT.ociManifest })]);
    const view = await open(dir);
    assert.deepEqual(structure(view), EXPECTED);
    assert.equal(view.manifest?.mediaType, MT.dockerManifest);
    assert.ok(view.warnings.some((w) => w.code === 'unknown-media-type' && w.message.includes('application/json')));
  });

  it("BuildKit's inference errors: `invalid ambiguous manifest and manifest list`, `mediaType in manifest does not match manifest contents`", async () => {
    const dir = tempDir();
    const config = writeBlob(dir, JSON.stringify(CONFIG), MT.cacheConfig);
    const ambiguous = writeBlob(dir, JSON.stringify({ schemaVersion: 2, manifests: [config], layers: [] }));
    writeIndex(dir, [tagged(ambiguous, 'ambiguous')]);
    await rejects(`${dir}:ambiguous`, 'invalid-manifest', 'invalid ambiguous manifest and manifest list', blobPath(dir, ambiguous.digest));
    // `layers: null` still counts as present (Go reads it into a json.RawMessage).
    const ambiguousNull = writeBlob(dir, JSON.stringify({ schemaVersion: 2, manifests: [config], layers: null }));
    writeIndex(dir, [tagged(ambiguousNull, 'x')]);
    await rejects(`${dir}:x`, 'invalid-manifest', 'invalid ambiguous manifest and manifest list');
    const indexTyped = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, config, layers: [] }));
    writeIndex(dir, [tagged(indexTyped, 'x')]);
    await rejects(`${dir}:x`, 'invalid-manifest', 'mediaType in manifest does not match manifest contents', 'mediaType');
    const manifestTyped = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, manifests: [config] }));
    writeIndex(dir, [tagged(manifestTyped, 'x')]);
    await rejects(`${dir}:x`, 'invalid-manifest', 'mediaType in manifest does not match manifest contents');
  });

  it('an index without any cacheconfig entry is not a cache', async () => {
    const dir = tempDir();
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [layerDesc(A, 10)] }));
    writeIndex(dir, [tagged(manifest)]);
    await rejects(dir, 'invalid-manifest', `no ${MT.cacheConfig} entry`);
  });
});

describe('the 2017 legacy forms', () => {
  it('an OCI index of layer descriptors with buildkit.cachekey/contentkey/parent/diffid annotations and no config', async () => {
    const dir = tempDir();
    const key = (s: string) => sha256(`key ${s}`);
    const ann = (cacheKey: string, parent: string, diffID: string) => ({ 'buildkit.cachekey': cacheKey, 'buildkit.contentkey': cacheKey ? sha256(`content ${cacheKey}`) : '', 'buildkit.parent': parent, 'buildkit.diffid': diffID });
    const entries = [
      { mediaType: MT.ociGzip, digest: B, size: 20, annotations: ann(key('b'), A, sha256('diff b')) },
      { mediaType: MT.ociGzip, digest: A, size: 10, annotations: ann('', '', sha256('diff a')) },
      { mediaType: MT.ociGzip, digest: C, size: 30, annotations: ann(key('c'), B, sha256('diff c')) },
      // A record without a snapshot: empty digest and size 0, as the 2017 exporter wrote it.
      { mediaType: MT.ociGzip, digest: '', size: 0, annotations: ann(key('none'), '', '') },
    ];
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, manifests: entries }));
    writeIndex(dir, [tagged({ ...manifest, mediaType: MT.ociIndex })], { schemaVersion: 2 });
    const view = await open(dir);
    assert.equal(view.variant, 'legacy-index');
    assert.equal(view.config.format, 'legacy-items');
    assert.deepEqual(view.layers.map((l) => [l.blob, l.parent, l.size, l.diffID]), [
      [B, 1, 20, sha256('diff b')],
      [A, -1, 10, sha256('diff a')],
      [C, 0, 30, sha256('diff c')],
    ]);
    assert.deepEqual(view.records.map((r) => [r.digest, r.stack, r.resultSize]), [
      [key('b'), [1, 0], 30],
      [key('c'), [1, 0, 2], 60],
      [key('none'), [], 0],
    ]);
    // The 2017 form has no record inputs: every record is a source record.
    assert.deepEqual(view.summary, { layerEntries: 3, uniqueBlobs: 3, records: 3, recordsWithResults: 2, chainRoots: 1, sourceRecords: 3, missingBlobs: 3, totalBytes: 60 });
  });

  for (const configType of [MT.cacheConfig, MT.legacyBuildCache]) {
    it(`the Items config under ${configType}, in a Docker manifest list`, async () => {
      const dir = tempDir();
      const items = {
        Items: [
          { Blobsum: A, CacheKey: sha256('k1'), ContentKey: '', Parent: '', DiffID: sha256('d1') },
          { Blobsum: B, CacheKey: sha256('k2'), ContentKey: sha256('c2'), Parent: A, DiffID: sha256('d2') },
          { Blobsum: '', CacheKey: sha256('k3'), ContentKey: '', Parent: '', DiffID: '' },
        ],
      };
      const config = writeBlob(dir, JSON.stringify(items), configType);
      const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerList, manifests: [layerDesc(A, 100, MT.dockerGzip), layerDesc(B, 200, MT.dockerGzip), config] }));
      writeIndex(dir, [tagged(manifest)]);
      const view = await open(dir);
      assert.equal(view.variant, 'index');
      assert.deepEqual(view.config, { mediaType: configType, digest: config.digest, size: config.size, format: 'legacy-items' });
      assert.deepEqual(view.layers.map((l) => [l.blob, l.parent, l.size, l.diffID]), [
        [A, -1, 100, sha256('d1')],
        [B, 0, 200, sha256('d2')],
      ]);
      assert.deepEqual(view.records.map((r) => [r.digest, r.stack, r.resultSize]), [
        [sha256('k1'), [0], 100],
        [sha256('k2'), [0, 1], 300],
        [sha256('k3'), [], 0],
      ]);
    });
  }

  it('an Items parent that no item lists: its results are dropped, not an error', async () => {
    const dir = tempDir();
    const config = writeBlob(dir, JSON.stringify({ Items: [{ Blobsum: B, CacheKey: sha256('k'), ContentKey: '', Parent: A, DiffID: '' }] }), MT.cacheConfig);
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerList, manifests: [layerDesc(B, 5, MT.dockerGzip), config] }));
    writeIndex(dir, [tagged(manifest)]);
    const view = await open(dir);
    assert.deepEqual(view.layers.map((l) => [l.blob, l.parent]), [
      [B, 1],
      [A, -1],
    ]);
    assert.match(view.records[0].droppedResult ?? '', new RegExp(A));
    assert.ok(view.warnings.some((w) => w.code === 'results-dropped'));
  });
});

describe('configs without a manifest', () => {
  const ghaConfig = {
    layers: [
      { blob: A, parent: -1, annotations: { mediaType: MT.ociGzip, diffID: sha256('dA'), size: 11, createdAt: T1 } },
      { blob: B, annotations: { mediaType: MT.ociGzip, diffID: sha256('dB'), size: 22, createdAt: '0001-01-01T00:00:00Z' } },
    ],
    records: [{ digest: sha256('root') }, { layers: [{ layer: 1, createdAt: T2 }], digest: sha256('top'), inputs: [[{ link: 0 }]] }],
  };

  it('gha/s3/azblob: per-layer annotations {mediaType, diffID, size, createdAt} are the descriptors', async () => {
    const dir = tempDir();
    const file = join(dir, 'index-buildkit-1-main');
    writeFileSync(file, JSON.stringify(ghaConfig));
    const view = await open(file);
    assert.equal(view.variant, 'config-only');
    assert.equal(view.config.format, 'v0-annotated');
    assert.deepEqual(view.layers.map((l) => [l.mediaType, l.size, l.diffID, l.createdAt]), [
      [MT.ociGzip, 11, sha256('dA'), T1],
      // The zero time means "no createdat annotation", as BuildKit's importer leaves it out.
      [MT.ociGzip, 22, sha256('dB'), null],
    ]);
    assert.deepEqual(view.records[1].stack, [0, 1]);
    assert.equal(view.records[1].resultSize, 33);
    assert.equal(view.records[1].droppedResult, null);
    assert.equal(view.summary.totalBytes, 33);
    assert.deepEqual(view.warnings, []);
  });

  it("gha/s3: BuildKit's `cache layer with missing annotations` and `cache layer with missing diffid`", async () => {
    const dir = tempDir();
    const noAnnotations = join(dir, 'a.json');
    writeFileSync(noAnnotations, JSON.stringify({ ...ghaConfig, layers: [ghaConfig.layers[0], { blob: B }] }));
    const err = await rejects(noAnnotations, 'invalid-config', 'cache layer with missing annotations', noAnnotations, 'layers[1].annotations');
    assert.equal(err.details?.field, 'layers[1].annotations');
    const noDiffId = join(dir, 'b.json');
    writeFileSync(noDiffId, JSON.stringify({ ...ghaConfig, layers: [ghaConfig.layers[0], { blob: B, annotations: { mediaType: MT.ociGzip, size: 1, createdAt: T1 } }] }));
    await rejects(noDiffId, 'invalid-config', 'cache layer with missing diffid', 'layers[1].annotations.diffID');
  });

  it('a bare config file: the structure, every result dropped for want of descriptors', async () => {
    const dir = tempDir();
    const file = join(dir, 'cache-config.json');
    writeFileSync(file, JSON.stringify(CONFIG));
    const view = await open(file);
    assert.equal(view.variant, 'config-only');
    assert.equal(view.config.digest, sha256(JSON.stringify(CONFIG)));
    assert.deepEqual(view.records.map((r) => r.stack), [[], [], [0, 1], [0, 1, 2]]);
    assert.deepEqual(view.records.map((r) => r.resultSize), [0, 0, 0, 0]);
    // BuildKit walks from the top of the chain, so the first absent blob it meets is the top one.
    assert.ok(view.records[3].droppedResult?.includes(C));
    assert.deepEqual(view.warnings.map((w) => w.code), ['config-only', 'results-dropped']);
  });

  it("a bare manifest inside a layout's blobs/sha256/ opens that layout at that digest", async () => {
    const layout = writeCacheLayout({ config: CONFIG });
    const view = await open(blobPath(layout.dir, layout.manifest.digest));
    assert.deepEqual(structure(view), EXPECTED);
    assert.deepEqual(view.layout, { dir: layout.dir, tag: null, digest: layout.manifest.digest });
  });

  it('a bare manifest elsewhere: an error naming the config it needs', async () => {
    const layout = writeCacheLayout({ config: CONFIG });
    const file = join(tempDir(), 'manifest.json');
    writeFileSync(file, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: layout.config, layers: layout.layers }));
    await rejects(file, 'missing-blob', layout.config.digest);
  });
});

describe('inline cache in a layout (image manifest + image config)', () => {
  const records = [
    { digest: sha256('base') },
    { layers: [{ layer: 1, createdAt: T1 }], digest: sha256('run'), inputs: [[{ selector: sha256('/'), link: 0 }]] },
    { chains: [{ layers: [0, 2], createdAt: T2 }], digest: sha256('copy'), inputs: [[{ link: 1 }]] },
  ];

  function imageLayout(diffIds: string[], layerCount = 3) {
    const dir = tempDir();
    const imageConfig = {
      architecture: 'amd64',
      history: [{ created: T1, created_by: 'FROM base' }, { created: T1, created_by: 'ENV x=1', empty_layer: true }, { created: T2, created_by: 'RUN make' }, { created: T2, created_by: 'COPY . .' }],
      'moby.buildkit.cache.v0': Buffer.from(JSON.stringify(records)).toString('base64'),
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const config = writeBlob(dir, JSON.stringify(imageConfig), MT.ociConfig);
    const layers = [A, B, C].slice(0, layerCount).map((d, i) => layerDesc(d, 100 * (i + 1)));
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers }), MT.ociManifest);
    writeIndex(dir, [tagged(manifest)]);
    return { dir, config, manifest };
  }

  it('layers come from the manifest with parent i-1; results by layer index; chains as listed', async () => {
    const diffIds = [sha256('d0'), sha256('d1'), sha256('d2')];
    const { dir, config } = imageLayout(diffIds);
    const view = await open(dir);
    assert.equal(view.variant, 'inline');
    assert.deepEqual(view.config, { mediaType: MT.ociConfig, digest: config.digest, size: config.size, format: 'inline-records' });
    assert.deepEqual(view.layers.map((l) => [l.blob, l.parent, l.size, l.diffID, l.createdAt]), [
      [A, -1, 100, diffIds[0], T1],
      [B, 0, 200, diffIds[1], T2],
      [C, 1, 300, diffIds[2], T2],
    ]);
    assert.deepEqual(view.records.map((r) => [r.stack, r.resultSize]), [
      [[], 0],
      [[0, 1], 300],
      [[0, 2], 400],
    ]);
  });

  it('diff_ids and manifest layers of different counts: `invalid image with mismatching manifest and config`', async () => {
    const { dir } = imageLayout([sha256('d0'), sha256('d1')], 3);
    await rejects(dir, 'invalid-config', 'invalid image with mismatching manifest and config', 'rootfs.diff_ids');
  });

  it('an image whose config has no inline cache is not a cache', async () => {
    const dir = tempDir();
    const config = writeBlob(dir, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }), MT.ociConfig);
    const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [] }));
    mkdirSync(dir, { recursive: true });
    writeIndex(dir, [tagged(manifest)]);
    await rejects(dir, 'invalid-manifest', 'moby.buildkit.cache.v0');
  });
});
