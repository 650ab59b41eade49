/**
 * Export planning decisions that mutation testing (npm run mutate) found untested, on small synthetic
 * caches: every layer class, media type correction from magic bytes, the notes the preview shows,
 * diffIDs, drop-missing texts and counts, descriptors after conversion, and the manifest bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { resolveExportOptions } from '../../../shared/export/options';
import type { ExportOptions } from '../../../shared/export/types';
import {
  buildExportConfig,
  buildExportManifest,
  classifyLayerMediaType,
  exportChains,
  exportedDescriptor,
  exportLayerDescriptors,
  manifestMediaType,
  missingBlobsMessage,
  planExport,
  previewFromPlan,
  toCacheConfig,
} from '../../../shared/export/plan-export';
import type { BlobFacts, ConvertedBlob, PlanSource } from '../../../shared/export/plan-export';
import type { Compression } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';

const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
const DOCKER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const UNCOMPRESSED = 'containerd.io/uncompressed';

const dg = (c: string) => `sha256:${c.repeat(64)}`;

interface LayerSpec {
  blob: string;
  mediaType?: string;
  size?: number;
  annotations?: Record<string, string>;
  urls?: string[];
  /** No descriptor in the manifest at all. */
  noDescriptor?: boolean;
  parent?: number;
}

/** A cache whose layers form chains by `parent` (default: the previous layer), with a record per layer. */
function source(layers: LayerSpec[], stacks?: (number[] | null)[], problems?: (string | null)[]): PlanSource {
  const parents = layers.map((l, i) => l.parent ?? i - 1);
  const stackOf = (i: number): number[] => (parents[i] === -1 ? [i] : [...stackOf(parents[i]), i]);
  const descriptors = new Map<string, Descriptor>();
  for (const l of layers) {
    if (l.noDescriptor) continue;
    const d: Descriptor = { mediaType: l.mediaType ?? OCI_GZIP, digest: l.blob, size: l.size ?? 100 };
    if (l.annotations) d.annotations = l.annotations;
    if (l.urls) d.urls = l.urls;
    descriptors.set(l.blob, d);
  }
  return {
    norm: {
      format: 'v0',
      layers: layers.map((l, i) => ({ blob: l.blob, parent: parents[i], annotations: null })),
      records: layers.map((_, i) => ({ digest: dg(String.fromCharCode(0x61 + (i % 6))), inputs: [], results: [{ layer: i, createdAt: '' }], chains: [] })),
      descriptors: [],
    },
    descriptors,
    config: { format: 'v0' },
    graph: { layerStacks: stacks ?? layers.map((_, i) => stackOf(i)), layerProblems: problems },
  };
}

function plan(src: PlanSource, options: ExportOptions, facts: (d: string) => BlobFacts = () => ({ present: true, detected: null })) {
  return planExport({ source: src, options: resolveExportOptions(options), facts });
}

const detected = (map: Record<string, Compression>, absent: string[] = []) => (d: string): BlobFacts => ({ present: !absent.includes(d), detected: map[d] ?? null });

describe('layer classes', () => {
  it('regular, non-distributable, empty and unknown media types', () => {
    for (const t of [OCI_TAR, OCI_GZIP, OCI_ZSTD, DOCKER_TAR, DOCKER_GZIP, DOCKER_ZSTD]) assert.equal(classifyLayerMediaType(t), 'regular', t);
    for (const t of [
      'application/vnd.docker.image.rootfs.foreign.diff.tar',
      FOREIGN,
      'application/vnd.oci.image.layer.nondistributable.v1.tar',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    ]) {
      assert.equal(classifyLayerMediaType(t), 'nondistributable', t);
    }
    assert.equal(classifyLayerMediaType(''), 'empty');
    assert.equal(classifyLayerMediaType('application/octet-stream'), 'unknown');
  });

  it('the manifest media type of each form', () => {
    assert.equal(manifestMediaType({ oci: true, imageManifest: true }), 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifestMediaType({ oci: true, imageManifest: false }), 'application/vnd.oci.image.index.v1+json');
    assert.equal(manifestMediaType({ oci: false, imageManifest: false }), 'application/vnd.docker.distribution.manifest.list.v2+json');
  });
});

describe('media types from the bytes', () => {
  it('a layer without a media type gets one from its first bytes, in the export family', () => {
    const src = source([{ blob: dg('1'), mediaType: '' }]);
    const oci = plan(src, {}, detected({ [dg('1')]: 'zstd' })).blobs[0];
    assert.equal(oci.mediaType, OCI_ZSTD);
    assert.equal(oci.actual, 'zstd');
    assert.equal(oci.note, "no media type: zstd detected from the blob's first bytes");
    const docker = plan(src, { 'oci-mediatypes': false }, detected({ [dg('1')]: 'gzip' })).blobs[0];
    assert.equal(docker.mediaType, DOCKER_GZIP);
    // Not read: nothing to say, nothing invented.
    const unread = plan(src, {}).blobs[0];
    assert.equal(unread.mediaType, '');
    assert.equal(unread.actual, null);
    assert.equal(unread.note, null);
  });

  it('a lying media type is corrected, and says so; a true one is not', () => {
    const src = source([{ blob: dg('1'), mediaType: OCI_GZIP }]);
    const lie = plan(src, {}, detected({ [dg('1')]: 'zstd' })).blobs[0];
    assert.equal(lie.mediaType, OCI_ZSTD);
    assert.equal(lie.actual, 'zstd');
    assert.equal(lie.note, `media type says gzip but the blob's first bytes are zstd: exported as ${OCI_ZSTD}`);
    assert.equal(plan(src, { 'oci-mediatypes': false }, detected({ [dg('1')]: 'uncompressed' })).blobs[0].mediaType, DOCKER_TAR);
    const truth = plan(src, {}, detected({ [dg('1')]: 'gzip' })).blobs[0];
    assert.equal(truth.mediaType, OCI_GZIP);
    assert.equal(truth.note, null);
  });
});

describe('conversion decisions', () => {
  const force = (compression: Compression): ExportOptions => ({ compression, 'force-compression': true });

  it('non-distributable and unknown layers are kept as they are, with a note', () => {
    const src = source([
      { blob: dg('1'), mediaType: FOREIGN },
      { blob: dg('2'), mediaType: 'application/x-custom' },
    ]);
    const [foreign, unknown] = plan(src, force('zstd')).blobs;
    assert.equal(foreign.action, 'copy');
    assert.equal(foreign.note, `non-distributable layer (${FOREIGN}): kept as it is`);
    assert.equal(unknown.action, 'copy');
    assert.equal(unknown.note, 'unknown layer media type "application/x-custom": kept as it is');
    assert.equal(unknown.target, null);
  });

  it('converts only layers whose actual compression differs, only when present', () => {
    const src = source([
      { blob: dg('1'), mediaType: OCI_GZIP },
      { blob: dg('2'), mediaType: OCI_ZSTD },
    ]);
    const [gz, zs] = plan(src, force('zstd')).blobs;
    assert.deepEqual([gz.action, gz.target], ['convert', 'zstd']);
    assert.deepEqual([zs.action, zs.target], ['copy', 'zstd']);
    const absent = plan(src, { ...force('zstd'), 'drop-missing': false }, detected({}, [dg('1')])).blobs[0];
    assert.equal(absent.action, 'copy');
    assert.equal(absent.present, false);
    // Without force nothing converts.
    assert.ok(plan(src, { compression: 'zstd' }).blobs.every((b) => b.action === 'copy'));
  });

  it('the diffID: the annotation, else the digest of an uncompressed blob, else unknown', () => {
    const src = source([
      { blob: dg('1'), mediaType: OCI_GZIP, annotations: { [UNCOMPRESSED]: dg('9') } },
      { blob: dg('2'), mediaType: OCI_TAR },
      { blob: dg('3'), mediaType: OCI_GZIP },
    ]);
    assert.deepEqual(plan(src, {}).blobs.map((b) => b.diffID), [dg('9'), dg('2'), null]);
  });

  it('a blob used by several entries is planned once, in first-use order, with its use count', () => {
    const src = source([
      { blob: dg('1'), parent: -1 },
      { blob: dg('2'), parent: 0 },
      { blob: dg('1'), parent: 1 },
    ]);
    const p = plan(src, {});
    assert.deepEqual(p.blobs.map((b) => [b.source, b.uses]), [[dg('1'), 2], [dg('2'), 1]]);
  });
});

describe('missing blobs and drop-missing', () => {
  const src = () =>
    source([
      { blob: dg('1'), parent: -1 },
      { blob: dg('2'), parent: 0, noDescriptor: true },
      { blob: dg('3'), parent: 1 },
      { blob: dg('4'), parent: -1 },
      { blob: dg('5'), parent: 3 },
    ]);

  it('lists each missing blob once, in config order, and says why each entry goes', () => {
    const p = plan(src(), { 'drop-missing': true }, detected({}, [dg('4')]));
    assert.deepEqual(p.missing, [dg('2'), dg('4')]);
    assert.deepEqual(
      p.entries.map((e) => e.dropped),
      [
        null,
        `blob ${dg('2')} has no descriptor in the cache manifest`,
        `its chain needs blob ${dg('2')}, which has no descriptor in the cache manifest`,
        `blob ${dg('4')} is absent from the source`,
        `its chain needs blob ${dg('4')}, which is absent from the source`,
      ],
    );
    assert.deepEqual(p.kept, [0]);
    assert.equal(p.empty, false);
    // One result per dropped entry.
    assert.equal(p.droppedResults, 4);
    const preview = previewFromPlan(p, src());
    assert.equal(preview.droppedLayers, 4);
    assert.equal(preview.droppedResults, 4);
    assert.equal(preview.error, null);
    assert.deepEqual(preview.missingBlobs, [dg('2'), dg('4')]);
    assert.deepEqual(preview.layers.map((l) => l.present), [true, false, true, false, true]);
    assert.deepEqual(preview.layers.map((l) => l.dropped !== null), [false, true, true, true, true]);
  });

  it('without drop-missing nothing is dropped and the preview carries BuildKit\'s error, one line per blob', () => {
    const p = plan(src(), {}, detected({}, [dg('4')]));
    assert.deepEqual(p.kept, [0, 1, 2, 3, 4]);
    assert.equal(p.droppedResults, 0);
    const preview = previewFromPlan(p, src());
    assert.equal(preview.error, `missing blob ${dg('2')}\nmissing blob ${dg('4')}`);
    assert.equal(preview.error, missingBlobsMessage(p.missing));
    assert.equal(preview.droppedLayers, 0);
    assert.ok(preview.layers.every((l) => l.dropped === null));
  });

  it('a chain result (record.chains) is dropped with any of its layers', () => {
    const s = src();
    s.norm.records[0].chains = [{ layers: [0, 3], createdAt: '' }];
    s.norm.records[1].chains = [{ layers: [0], createdAt: '' }];
    const p = plan(s, { 'drop-missing': true }, detected({}, [dg('4')]));
    assert.equal(p.droppedResults, 5);
  });

  it('nothing present: the empty result', () => {
    const p = plan(source([{ blob: dg('1') }]), { 'drop-missing': true }, detected({}, [dg('1')]));
    assert.equal(p.empty, true);
    assert.deepEqual(p.kept, []);
    assert.equal(previewFromPlan(p, source([{ blob: dg('1') }])).empty, true);
  });

  it('a broken chain cannot be exported: the error names the entry and why', () => {
    const s = source([{ blob: dg('1') }, { blob: dg('2') }], [[0], null], [null, 'parent 7 out of range']);
    assert.throws(
      () => plan(s, {}),
      (err: unknown) => err instanceof CacheError && err.code === 'invalid-config' && err.message === 'layers[1]: parent 7 out of range: this chain cannot be exported',
    );
    const loop = source([{ blob: dg('1') }], [null]);
    assert.throws(() => plan(loop, {}), /layers\[0\]: invalid looping layer: this chain cannot be exported/);
  });
});

describe('the preview', () => {
  it('sizes, conversions, target types, notes and the tag', () => {
    const src = source([
      { blob: dg('1'), mediaType: OCI_GZIP, size: 1000 },
      { blob: dg('2'), mediaType: OCI_ZSTD, size: 24 },
      { blob: dg('1'), mediaType: OCI_GZIP, size: 1000 },
      { blob: dg('3'), mediaType: '', size: 7 },
    ]);
    const p = plan(src, { compression: 'zstd', 'force-compression': true, 'oci-mediatypes': false, tag: 'v9' }, detected({ [dg('3')]: 'gzip' }));
    const preview = previewFromPlan(p, src);
    assert.equal(preview.totalBytes, 1031);
    assert.equal(preview.convertCount, 2);
    assert.equal(preview.tag, 'v9');
    assert.deepEqual(preview.layers.map((l) => [l.size, l.mediaType, l.targetMediaType, l.convert]), [
      [1000, OCI_GZIP, DOCKER_ZSTD, true],
      [24, OCI_ZSTD, DOCKER_ZSTD, false],
      [1000, OCI_GZIP, DOCKER_ZSTD, true],
      [7, '', DOCKER_ZSTD, true],
    ]);
    assert.deepEqual(preview.notes, [{ blob: dg('3'), note: "no media type: gzip detected from the blob's first bytes" }]);
    assert.equal(preview.manifestMediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  });
});

describe('exported descriptors and the manifest', () => {
  const src = source([
    {
      blob: dg('1'),
      mediaType: OCI_GZIP,
      size: 50,
      urls: ['https://example.com/l'],
      annotations: { [UNCOMPRESSED]: dg('9'), 'buildkit/createdat': 't', 'containerd.io/snapshot/stargz/toc.digest': dg('8'), 'io.containers.estargz.uncompressed-size': '5' },
    },
  ]);

  it('a copied blob keeps its descriptor, with the export family\'s media type', () => {
    const p = plan(src, { 'oci-mediatypes': false });
    const d = exportedDescriptor(p.blobs[0], src.descriptors.get(dg('1')), undefined, false);
    assert.deepEqual(d, { ...src.descriptors.get(dg('1'))!, mediaType: DOCKER_GZIP });
  });

  it('a converted blob: new digest, size, type and diffID; encoding annotations dropped, others and urls kept', () => {
    const p = plan(src, { compression: 'zstd', 'force-compression': true });
    const converted = { digest: dg('c'), size: 40, diffID: dg('9'), compression: 'zstd' as const };
    const d = exportedDescriptor(p.blobs[0], src.descriptors.get(dg('1')), converted, true);
    assert.deepEqual(d, { mediaType: OCI_ZSTD, digest: dg('c'), size: 40, annotations: { 'buildkit/createdat': 't', [UNCOMPRESSED]: dg('9') }, urls: ['https://example.com/l'] });
    // A planned conversion that produced nothing (not run) keeps the copy.
    assert.equal(exportedDescriptor(p.blobs[0], src.descriptors.get(dg('1')), undefined, true).digest, dg('1'));
    // No source descriptor: the plan's own facts.
    assert.deepEqual(exportedDescriptor(plan(src, {}).blobs[0], undefined, undefined, true), { mediaType: OCI_GZIP, digest: dg('1'), size: 50 });
  });

  it('a layer the plan does not know is an internal error', () => {
    const p = plan(src, {});
    assert.throws(() => exportLayerDescriptors(p, src, [dg('7')], new Map()), (err: unknown) => err instanceof CacheError && err.code === 'internal' && err.message === `export plan has no blob ${dg('7')}`);
  });

  it('index form: layers then the config; image-manifest form: config and layers', () => {
    const layer: Descriptor = { mediaType: OCI_GZIP, digest: dg('1'), size: 50 };
    const config: Descriptor = { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest: dg('f'), size: 9 };
    assert.equal(
      buildExportManifest({ oci: true, imageManifest: false }, [layer], config),
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"${OCI_GZIP}","digest":"${dg('1')}","size":50},{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"${dg('f')}","size":9}]}`,
    );
    assert.equal(
      buildExportManifest({ oci: true, imageManifest: true }, [layer], config),
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"${dg('f')}","size":9},"layers":[{"mediaType":"${OCI_GZIP}","digest":"${dg('1')}","size":50}]}`,
    );
  });
});

describe('the exported config', () => {
  const T1 = '2026-01-01T00:00:00Z';

  it('toCacheConfig: omitempty shapes as BuildKit writes them', () => {
    const config = toCacheConfig({
      format: 'v0',
      layers: [
        { blob: dg('1'), parent: -1, annotations: null },
        { blob: dg('2'), parent: 0, annotations: null },
        { blob: dg('3'), parent: 1, annotations: null },
      ],
      records: [
        { digest: dg('a'), inputs: [], results: [{ layer: 2, createdAt: T1 }], chains: [] },
        { digest: '', inputs: [[{ link: 0, selector: null }, { link: 0, selector: dg('s') }]], results: [], chains: [{ layers: [0, 1], createdAt: '' }] },
      ],
      descriptors: [],
    });
    assert.deepEqual(config, {
      layers: [{ blob: dg('1'), parent: -1 }, { blob: dg('2') }, { blob: dg('3'), parent: 1 }],
      records: [
        { layers: [{ layer: 2, createdAt: T1 }], digest: dg('a') },
        { chains: [{ layers: [0, 1], createdAt: undefined as unknown as string }], inputs: [[{ link: 0 }, { selector: dg('s'), link: 0 }]] },
      ],
    });
    assert.deepEqual(toCacheConfig({ format: 'v0', layers: [], records: [], descriptors: [] }), {});
  });

  it('unchanged (same blobs, nothing dropped, a v0 config): the source text is written as it is', () => {
    const src = source([{ blob: dg('1') }, { blob: dg('2') }]);
    const p = plan(src, {});
    const chains = exportChains(p, src, new Map());
    assert.equal(chains.changed, false);
    assert.deepEqual(chains.sourceBlobs, [dg('1'), dg('2')]);
    const cfg = buildExportConfig(chains, 'SOURCE TEXT');
    assert.deepEqual(cfg, { text: 'SOURCE TEXT', sourceBlobs: [dg('1'), dg('2')], reused: true });
    // Without a source text (a bare inline cache), it is marshalled even when unchanged.
    assert.equal(buildExportConfig(chains, null).reused, false);
  });

  it('a legacy-items source is always rewritten as v0', () => {
    const src = source([{ blob: dg('1') }]);
    src.config.format = 'legacy-items';
    assert.equal(exportChains(plan(src, {}), src, new Map()).changed, true);
  });

  it('a conversion that returns the same digest changes nothing; a new digest rewrites blobs', () => {
    const src = source([{ blob: dg('1'), mediaType: OCI_GZIP }]);
    const p = plan(src, { compression: 'zstd', 'force-compression': true });
    const same = new Map<string, ConvertedBlob>([[dg('1'), { digest: dg('1'), size: 1, diffID: dg('9'), compression: 'zstd' }]]);
    assert.equal(exportChains(p, src, same).changed, false);
    const other = new Map<string, ConvertedBlob>([[dg('1'), { digest: dg('c'), size: 1, diffID: dg('9'), compression: 'zstd' }]]);
    const chains = exportChains(p, src, other);
    assert.equal(chains.changed, true);
    assert.deepEqual(chains.config.layers.map((l) => l.blob), [dg('c')]);
    assert.deepEqual(chains.sourceBlobs, [dg('1')]);
  });

  it('entries that become the same chain after conversion merge onto the first; results and chains follow', () => {
    // Two bases (1, 2) that convert to the same blob, each with a child 3: four entries become two.
    const src = source([
      { blob: dg('1'), parent: -1 },
      { blob: dg('2'), parent: -1 },
      { blob: dg('3'), parent: 0 },
      { blob: dg('3'), parent: 1 },
    ]);
    src.norm.records[3].chains = [{ layers: [1, 3], createdAt: T1 }];
    const p = plan(src, { compression: 'zstd', 'force-compression': true });
    const conv = (d: string): ConvertedBlob => ({ digest: d, size: 1, diffID: dg('9'), compression: 'zstd' });
    const converted = new Map([
      [dg('1'), conv(dg('b'))],
      [dg('2'), conv(dg('b'))],
      [dg('3'), conv(dg('d'))],
    ]);
    const chains = exportChains(p, src, converted);
    assert.deepEqual(chains.config.layers, [
      { blob: dg('b'), parent: -1, annotations: null },
      { blob: dg('d'), parent: 0, annotations: null },
    ]);
    assert.deepEqual(chains.sourceBlobs, [dg('1'), dg('3')]);
    assert.deepEqual(chains.config.records.map((r) => r.results.map((x) => x.layer)), [[0], [0], [1], [1]]);
    assert.deepEqual(chains.config.records[3].chains, [{ layers: [0, 1], createdAt: T1 }]);
  });

  it('drop-missing: entries, results and chains on a dropped layer go; indexes are remapped', () => {
    const src = source([
      { blob: dg('1'), parent: -1 },
      { blob: dg('2'), parent: -1 },
      { blob: dg('3'), parent: 1 },
    ]);
    src.norm.records[2].chains = [{ layers: [1, 2], createdAt: T1 }];
    src.norm.records[0].chains = [{ layers: [0], createdAt: T1 }];
    const p = plan(src, { 'drop-missing': true }, detected({}, [dg('1')]));
    const chains = exportChains(p, src, new Map());
    assert.equal(chains.changed, true);
    assert.deepEqual(chains.config.layers, [
      { blob: dg('2'), parent: -1, annotations: null },
      { blob: dg('3'), parent: 0, annotations: null },
    ]);
    assert.deepEqual(chains.config.records.map((r) => r.results.map((x) => x.layer)), [[], [0], [1]]);
    assert.deepEqual(chains.config.records.map((r) => r.chains), [[], [], [{ layers: [0, 1], createdAt: T1 }]]);
  });

  it('a rewritten config is sorted by (blob, parent), chains remapped through the sort, and marshalled as Go does', () => {
    const src = source([
      { blob: dg('9'), parent: -1 },
      { blob: dg('5'), parent: 0 },
      { blob: dg('5'), parent: -1 },
    ]);
    src.norm.records[1].chains = [{ layers: [0, 1], createdAt: T1 }];
    src.norm.records[0].results[0].createdAt = T1;
    src.norm.records[1].results[0].createdAt = T1;
    src.norm.records[2].results[0].createdAt = T1;
    const chains = { ...exportChains(plan(src, {}), src, new Map()), changed: true };
    const cfg = buildExportConfig(chains, 'unused');
    assert.equal(cfg.reused, false);
    // Order: (5, parent -1), (5, parent 0 -> the 9), (9, parent -1).
    assert.deepEqual(cfg.sourceBlobs, [dg('5'), dg('5'), dg('9')]);
    const written = JSON.parse(cfg.text) as { layers: { blob: string; parent?: number }[]; records: { digest: string; layers?: { layer: number }[]; chains?: { layers: number[] }[] }[] };
    assert.deepEqual(written.layers, [{ blob: dg('5'), parent: -1 }, { blob: dg('5'), parent: 2 }, { blob: dg('9'), parent: -1 }]);
    const withChain = written.records.find((r) => r.chains)!;
    assert.deepEqual(withChain.chains![0].layers, [2, 1]);
    assert.deepEqual(withChain.layers, [{ layer: 1, createdAt: T1 }]);
    assert.ok(cfg.text.startsWith('{"layers":[{"blob":"sha256:5555'));
  });
});
