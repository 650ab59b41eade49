import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { assembleCache } from '../../../shared/cache/model';
import { parseCacheConfig } from '../../../shared/cache/parse-config';
import { resolveExportOptions } from '../../../shared/export/options';
import type { ExportOptions } from '../../../shared/export/types';
import {
  buildExportConfig,
  buildExportManifest,
  exportChains,
  exportLayerDescriptors,
  missingBlobsMessage,
  planExport,
  previewFromPlan,
} from '../../../shared/export/plan-export';
import type { BlobFacts, ConvertedBlob } from '../../../shared/export/plan-export';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { FIXTURES, fixture } from '../../helpers/fixtures';

const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const allPresent = (): BlobFacts => ({ present: true, detected: null });

function plan(opened: OpenedSource, options: ExportOptions, facts: (d: string) => BlobFacts = allPresent) {
  return planExport({ source: opened.model, options: resolveExportOptions(options), facts });
}

/** Runs the pure pipeline with no conversion: config text, then the manifest around it. */
function documents(opened: OpenedSource, options: ExportOptions, facts?: (d: string) => BlobFacts, forceRewrite = false) {
  const p = plan(opened, options, facts);
  const chains = exportChains(p, opened.model, new Map());
  const cfg = buildExportConfig(forceRewrite ? { ...chains, changed: true } : chains, opened.texts.config);
  const configDesc: Descriptor = { mediaType: MediaType.cacheConfigV0, digest: sha(cfg.text), size: Buffer.byteLength(cfg.text) };
  const manifest = buildExportManifest(p.options, exportLayerDescriptors(p, opened.model, cfg.sourceBlobs, new Map()), configDesc);
  return { plan: p, config: cfg, manifest };
}

/** Digests listed in a fixture's MISSING_BLOBS.txt. */
async function missingList(name: string): Promise<Set<string>> {
  const text = await readFile(join(FIXTURES, name, 'MISSING_BLOBS.txt'), 'utf8');
  return new Set([...text.matchAll(/blobs\/sha256\/([0-9a-f]{64})/g)].map((m) => `sha256:${m[1]}`));
}

/** Every record's digest and its best result as a blob stack: the meaning of a config, independent of its order. */
function stackSignature(value: unknown): string {
  const norm = parseCacheConfig(value, 'sig');
  const stackOf = (l: number): string[] => {
    const out: string[] = [];
    for (let i = l; i !== -1; i = norm.layers[i].parent) out.unshift(norm.layers[i].blob);
    return out;
  };
  return norm.records
    .map((r) => `${r.digest} ${r.results.map((x) => stackOf(x.layer).join(',')).join(';')}`)
    .sort()
    .join('\n');
}

const LAYOUTS = [
  ['dto', fixture.dto, {}],
  ['fullcycle', fixture.fullcycle, {}],
  ['margo', fixture.margo, {}],
  ['drone (index form)', fixture.drone, { 'image-manifest': false }],
] as const;

describe('export plan: identity on the real fixtures', () => {
  const opened = new Map<string, OpenedSource>();
  before(async () => {
    for (const [name, dir] of LAYOUTS) opened.set(name, await openCacheSource(dir));
  });

  for (const [name, , options] of LAYOUTS) {
    it(`${name}: same form, no conversion gives the source's config and manifest bytes`, () => {
      const o = opened.get(name)!;
      const { config, manifest, plan: p } = documents(o, options);
      assert.equal(p.blobs.filter((b) => b.action === 'convert').length, 0);
      assert.equal(config.reused, true);
      assert.equal(config.text, o.texts.config);
      assert.equal(manifest, o.texts.manifest, 'the manifest must be byte-identical');
      assert.equal(sha(manifest), o.manifestDescriptor!.digest);
    });

    it(`${name}: re-sorting and re-marshalling the unchanged config keeps every chain and result`, () => {
      const o = opened.get(name)!;
      const { config, manifest } = documents(o, options, undefined, true);
      assert.equal(config.reused, false);
      const repeated = new Set(o.model.norm.layers.map((l) => l.blob)).size < o.model.norm.layers.length;
      if (!repeated) {
        // No two entries share a blob: sortConfig's order is total, so BuildKit's bytes come back.
        assert.equal(config.text, o.texts.config);
        assert.equal(manifest, o.texts.manifest);
        return;
      }
      // Entries sharing a blob are ordered by their *pre-sort* parent index (format doc §4.5), so
      // sorting BuildKit's already-sorted output again may swap them: that is why an unchanged
      // export writes the source text. The meaning is the same: every record resolves to the same stack.
      assert.equal(stackSignature(JSON.parse(config.text)), stackSignature(JSON.parse(o.texts.config!)));
    });
  }

  it('the other form changes only the manifest: index <-> image manifest, same config', () => {
    const o = opened.get('dto')!;
    const { config, manifest } = documents(o, { 'image-manifest': false });
    assert.equal(config.text, o.texts.config);
    const m = JSON.parse(manifest);
    assert.equal(m.mediaType, MediaType.ociIndex);
    assert.equal(m.manifests.length, o.model.norm.layers.length + 1);
    assert.equal(m.manifests.at(-1).mediaType, MediaType.cacheConfigV0);
    assert.equal(m.manifests.at(-1).digest, o.model.config.digest);
  });

  it('oci-mediatypes=false converts layer types to Docker and writes a Docker manifest list', () => {
    const o = opened.get('dto')!;
    const m = JSON.parse(documents(o, { 'oci-mediatypes': false }).manifest);
    assert.equal(m.mediaType, MediaType.dockerManifestList);
    for (const d of m.manifests.slice(0, -1)) assert.equal(d.mediaType, MediaType.dockerLayerGzip);
  });
});

describe('export plan: missing blobs and drop-missing', () => {
  let dto: OpenedSource;
  before(async () => {
    dto = await openCacheSource(fixture.dto);
  });
  const onDisk = (d: string): BlobFacts => ({ present: dto.present.has(d), detected: null });
  /** The fixture lacks its base layer, so every chain is incomplete; pretend the base is there. */
  const baseToo = (d: string): BlobFacts => ({ present: dto.present.has(d) || dto.model.norm.layers.some((l) => l.blob === d && l.parent === -1), detected: null });

  it('lists every missing blob, in config order, as BuildKit would name each one', async () => {
    const p = plan(dto, {}, onDisk);
    const listed = await missingList('dto-pattern-local-image-manifest');
    assert.ok(p.missing.length > 1);
    for (const d of p.missing) assert.ok(listed.has(d), `${d} is reported missing but the fixture has it`);
    const referencedAndListed = new Set(dto.model.norm.layers.map((l) => l.blob).filter((b) => listed.has(b)));
    assert.equal(p.missing.length, referencedAndListed.size);
    const preview = previewFromPlan(p, dto.model);
    assert.equal(preview.error, missingBlobsMessage(p.missing));
    assert.equal(preview.error!.split('\n').length, p.missing.length);
    assert.match(preview.error!.split('\n')[0], /^missing blob sha256:[0-9a-f]{64}$/);
  });

  it('drop-missing on the real fixture: its base layer is absent, so nothing survives', () => {
    assert.equal(plan(dto, { 'drop-missing': true }, onDisk).empty, true);
  });

  it('drop-missing keeps exactly the entries whose whole chain is present, and the results on them', () => {
    const p = plan(dto, { 'drop-missing': true }, baseToo);
    const present = (b: string) => baseToo(b).present;
    const stacks = dto.model.graph.layerStacks;
    for (const e of p.entries) {
      const complete = stacks[e.index]!.every((i) => present(dto.model.norm.layers[i].blob));
      assert.equal(e.dropped === null, complete, `entry ${e.index}`);
    }
    assert.ok(p.kept.length > 0 && p.kept.length < dto.model.norm.layers.length);
    const chains = exportChains(p, dto.model, new Map());
    const cfg = buildExportConfig(chains, dto.texts.config);
    assert.equal(cfg.reused, false);
    // The rewritten config parses, is sorted by blob, and only references present blobs.
    const norm = parseCacheConfig(JSON.parse(cfg.text), 'exported');
    assert.equal(norm.layers.length, p.kept.length);
    const blobs = norm.layers.map((l) => l.blob);
    assert.deepEqual(blobs, [...blobs].sort());
    for (const b of blobs) assert.ok(present(b));
    const model = assembleCache({
      source: 'x',
      variant: 'image-manifest',
      manifest: null,
      parsedManifest: null,
      config: { mediaType: MediaType.cacheConfigV0, digest: null, size: 0, format: 'v0' },
      norm,
      configFile: 'exported',
    });
    // Every surviving result resolves to the same blob stack it had in the source.
    const sourceStacks = new Map<string, string[]>();
    dto.model.norm.records.forEach((r, i) => {
      const st = dto.model.graph.resolutions[i].stack.map((l) => dto.model.norm.layers[l].blob);
      if (st.length > 0 && st.every(present)) sourceStacks.set(`${r.digest}/${JSON.stringify(r.inputs.map((s) => s.length))}`, st);
    });
    let results = 0;
    norm.records.forEach((r, i) => {
      const st = model.graph.layerStacks[r.results[0]?.layer ?? -1];
      if (!st) return;
      results++;
      const key = `${r.digest}/${JSON.stringify(r.inputs.map((s) => s.length))}`;
      assert.deepEqual(st.map((l) => norm.layers[l].blob), sourceStacks.get(key), `record ${i}`);
    });
    const withResults = dto.model.norm.records.filter((r) => r.results.length > 0).length;
    assert.equal(results + p.droppedResults, withResults);
    assert.equal(norm.records.length, dto.model.norm.records.length, 'records stay; only their results go');
  });

  it('drop-missing on a cache with no present layer is the empty result', async () => {
    const margo = await openCacheSource(fixture.margo);
    const p = plan(margo, { 'drop-missing': true }, () => ({ present: false, detected: null }));
    assert.equal(p.empty, true);
    assert.equal(previewFromPlan(p, margo.model).empty, true);
  });
});

describe('export plan: conversion decisions', () => {
  let dto: OpenedSource;
  before(async () => {
    dto = await openCacheSource(fixture.dto);
  });

  it('converts only with force-compression, and only layers whose bytes are not the target yet', () => {
    const gzipFacts = (): BlobFacts => ({ present: true, detected: 'gzip' });
    assert.equal(plan(dto, { compression: 'zstd' }, gzipFacts).blobs.filter((b) => b.action === 'convert').length, 0);
    const p = plan(dto, { compression: 'zstd', 'force-compression': true }, gzipFacts);
    assert.equal(p.blobs.every((b) => b.action === 'convert' && b.target === 'zstd'), true);
    assert.equal(plan(dto, { compression: 'gzip', 'force-compression': true, 'compression-level': 9 }, gzipFacts).blobs.filter((b) => b.action === 'convert').length, 0);
  });

  it('magic bytes beat a lying media type: the descriptor is corrected, and the conversion decision uses the bytes', () => {
    const liar = dto.model.norm.layers[0].blob;
    const facts = (d: string): BlobFacts => ({ present: true, detected: d === liar ? 'zstd' : 'gzip' });
    const p = plan(dto, {}, facts);
    const b = p.blobs.find((x) => x.source === liar)!;
    assert.equal(b.mediaType, MediaType.ociLayerZstd);
    assert.match(b.note!, /media type says gzip but the blob's first bytes are zstd/);
    const forced = plan(dto, { compression: 'zstd', 'force-compression': true }, facts);
    assert.equal(forced.blobs.find((x) => x.source === liar)!.action, 'copy');
  });

  it('rewrites digests, sizes, media types and diffIDs, re-sorts, and merges chains that became equal', () => {
    const facts = (): BlobFacts => ({ present: true, detected: 'gzip' });
    const p = plan(dto, { compression: 'zstd', 'force-compression': true }, facts);
    const converted = new Map<string, ConvertedBlob>();
    for (const b of p.blobs) {
      converted.set(b.source, { digest: sha(`zstd of ${b.source}`), size: 42, diffID: b.diffID ?? sha('diff'), compression: 'zstd' });
    }
    const chains = exportChains(p, dto.model, converted);
    const cfg = buildExportConfig(chains, dto.texts.config);
    const norm = parseCacheConfig(JSON.parse(cfg.text), 'exported');
    assert.equal(norm.layers.length, dto.model.norm.layers.length);
    const blobs = norm.layers.map((l) => l.blob);
    assert.deepEqual(blobs, [...blobs].sort(), 'sorted by the new blob digests');
    const descs = exportLayerDescriptors(p, dto.model, cfg.sourceBlobs, converted);
    descs.forEach((d, i) => {
      assert.equal(d.digest, blobs[i], 'manifest order is config order');
      assert.equal(d.mediaType, MediaType.ociLayerZstd);
      assert.equal(d.size, 42);
      const src = dto.model.descriptors.get(cfg.sourceBlobs[i])!;
      assert.equal(d.annotations![Annotation.uncompressed], src.annotations![Annotation.uncompressed]);
      assert.equal(d.annotations![Annotation.createdAt], src.annotations![Annotation.createdAt]);
    });
    // Two distinct source blobs that convert to the same bytes collapse where their chains coincide.
    const [a, b] = p.blobs.map((x) => x.source);
    const same = new Map(converted);
    same.set(b, same.get(a)!);
    const merged = exportChains(p, dto.model, same);
    assert.ok(merged.config.layers.length <= dto.model.norm.layers.length);
    const ids = merged.config.layers.map((l, i) => `${l.blob}<${l.parent}#${i}`);
    assert.equal(new Set(merged.config.layers.map((l) => `${l.blob}<${l.parent}`)).size, ids.length, 'no two entries are the same chain');
  });
});

describe('export plan: other source forms', () => {
  it('inline cache becomes a v0 config: records kept, chains remapped through the sort', async () => {
    const inline = await openCacheSource(fixture.inlineConfig);
    // Pretend the image layers are present (they are not in the fixture), with diffIDs as blobs.
    const p = plan(inline, {}, () => ({ present: true, detected: 'uncompressed' }));
    const chains = exportChains(p, inline.model, new Map());
    assert.equal(chains.changed, true, 'an inline source always gets a fresh v0 config');
    const cfg = buildExportConfig(chains, inline.texts.config);
    assert.equal(cfg.reused, false);
    const norm = parseCacheConfig(JSON.parse(cfg.text), 'exported');
    assert.equal(norm.format, 'v0');
    assert.equal(norm.records.length, inline.model.norm.records.length);
    assert.equal(stackSignature(JSON.parse(cfg.text)), stackSignatureOf(inline.model.norm));
  });

  it('a `chains` result keeps pointing at the same blobs after sortConfig reorders the layers', () => {
    const d = (c: string) => `sha256:${c.repeat(64)}`;
    // Layers in reverse blob order, so sorting reverses them; the chain must follow.
    const norm = {
      format: 'v0' as const,
      layers: [
        { blob: d('c'), parent: -1, annotations: null },
        { blob: d('b'), parent: 0, annotations: null },
        { blob: d('a'), parent: 1, annotations: null },
      ],
      records: [{ digest: d('f'), inputs: [], results: [{ layer: 2, createdAt: '2026-01-01T00:00:00Z' }], chains: [{ layers: [0, 2], createdAt: '2026-01-02T00:00:00Z' }] }],
      descriptors: [],
    };
    const cfg = buildExportConfig({ config: norm, sourceBlobs: norm.layers.map((l) => l.blob), changed: true }, null);
    const out = JSON.parse(cfg.text);
    assert.deepEqual(out.layers.map((l: { blob: string }) => l.blob), [d('a'), d('b'), d('c')]);
    assert.deepEqual(out.records[0].chains[0].layers.map((i: number) => out.layers[i].blob), [d('c'), d('a')]);
    assert.equal(out.layers[out.records[0].layers[0].layer].blob, d('a'));
    assert.deepEqual(cfg.sourceBlobs, [d('a'), d('b'), d('c')]);
  });

  it('a bare config has no descriptors: every layer blob is missing', async () => {
    const gitlab = await openCacheSource(fixture.gitlabConfig);
    const p = plan(gitlab, {}, () => ({ present: false, detected: null }));
    assert.equal(p.missing.length, new Set(gitlab.model.norm.layers.map((l) => l.blob)).size);
    assert.equal(plan(gitlab, { 'drop-missing': true }, () => ({ present: false, detected: null })).empty, true);
  });
});

function stackSignatureOf(norm: ReturnType<typeof parseCacheConfig>): string {
  return stackSignature({
    layers: norm.layers.map((l) => ({ blob: l.blob, parent: l.parent })),
    records: norm.records.map((r) => ({ digest: r.digest, layers: r.results, chains: r.chains, inputs: r.inputs.map((s) => s.map((x) => (x.selector ? { selector: x.selector, link: x.link } : { link: x.link }))) })),
  });
}

describe('export plan: Docker form (oci-mediatypes=false) keeps each layer a Docker type for its own compression', () => {
  // BuildKit's ConvertAllLayerMediaTypes(oci=false): tar -> diff.tar, tar+gzip -> diff.tar.gzip, and
  // tar+zstd -> diff.tar.zstd (containerd's non-standard Docker zstd type); never an OCI type in a list.
  const DOCKER_FOR: Record<string, string> = {
    [MediaType.ociLayer]: MediaType.dockerLayer,
    [MediaType.ociLayerGzip]: MediaType.dockerLayerGzip,
    [MediaType.ociLayerZstd]: MediaType.dockerLayerZstd,
  };
  const SOURCES = [
    ['buildkit-v0.24-uncompressed', [MediaType.dockerLayer]],
    ['buildkit-v0.24-mixed-gzip-zstd', [MediaType.dockerLayerGzip, MediaType.dockerLayerZstd]],
  ] as const;

  for (const [name, expectedTypes] of SOURCES) {
    it(`${name}: no conversion, every layer of the manifest list is its Docker counterpart`, async () => {
      const o = await openCacheSource(join(FIXTURES, name));
      const { plan: p, manifest, config } = documents(o, { 'oci-mediatypes': false });
      assert.equal(p.blobs.filter((b) => b.action === 'convert').length, 0, 'nothing converted');
      // The config is the source's: same layers, same blobs, only the manifest's media types change.
      assert.equal(config.text, o.texts.config);
      const m = JSON.parse(manifest) as { mediaType: string; manifests: Descriptor[] };
      assert.equal(m.mediaType, MediaType.dockerManifestList);
      const layers = m.manifests.slice(0, -1);
      assert.equal(layers.length, o.model.norm.layers.length);
      for (const d of layers) {
        const src = o.model.descriptors.get(d.digest)!;
        assert.ok(src, `${d.digest} is a source blob (not converted)`);
        assert.equal(d.mediaType, DOCKER_FOR[src.mediaType], `${d.digest}: ${src.mediaType} in a Docker list`);
        assert.ok(d.mediaType.startsWith('application/vnd.docker.image.rootfs.'), `${d.digest}: ${d.mediaType} is not a Docker layer type`);
        assert.equal(d.size, src.size);
      }
      assert.deepEqual([...new Set(layers.map((d) => d.mediaType))].sort(), [...expectedTypes].sort());
      assert.equal(m.manifests.at(-1)!.mediaType, MediaType.cacheConfigV0);
      // The preview says the same before anything is written.
      const preview = previewFromPlan(p, o.model);
      for (const l of preview.layers) assert.equal(l.targetMediaType, DOCKER_FOR[l.mediaType]);
    });
  }

  it('a Docker list source exported with OCI types gets OCI layer types back, bytes untouched', async () => {
    const o = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-docker-list-gzip'));
    const { plan: p, manifest } = documents(o, { 'image-manifest': false });
    assert.equal(p.blobs.filter((b) => b.action === 'convert').length, 0);
    const m = JSON.parse(manifest) as { mediaType: string; manifests: Descriptor[] };
    assert.equal(m.mediaType, MediaType.ociIndex);
    for (const d of m.manifests.slice(0, -1)) assert.equal(d.mediaType, MediaType.ociLayerGzip);
  });

  it('a forced conversion to uncompressed in Docker form writes diff.tar, not the OCI tar type', async () => {
    const o = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd'));
    const p = plan(o, { 'oci-mediatypes': false, compression: 'uncompressed', 'force-compression': true });
    const preview = previewFromPlan(p, o.model);
    assert.ok(preview.layers.every((l) => l.convert));
    for (const l of preview.layers) assert.equal(l.targetMediaType, MediaType.dockerLayer);
  });
});
