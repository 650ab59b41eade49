/**
 * Every real BuildKit export under ../shared/fixtures opens through openCacheSource, and its summary,
 * per-record result sizes and orphans equal numbers computed here straight from the raw JSON (and
 * pinned as literals), never through the model's own code.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheSummary, CacheView } from '../../../shared/cache/view-types';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES, fixture } from '../../helpers/fixtures';
import { blobPath, cleanTempDirs, tempDir } from './layout-kit';

after(cleanTempDirs);

const CONFIG_MT = 'application/vnd.buildkit.cacheconfig.v0';

interface RawLayer {
  blob: string;
  parent?: number;
}
interface RawRecord {
  digest: string;
  inputs?: { link: number; selector?: string }[][];
  layers?: { layer: number; createdAt: string }[];
  chains?: { layers: number[]; createdAt: string }[];
}
interface RawConfig {
  layers?: RawLayer[];
  records?: RawRecord[];
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** The raw documents of a layout generation, found by tag or digest without any of the engine's code. */
function rawGeneration(dir: string, pick: { tag?: string; digest?: string }) {
  const index = readJson(join(dir, 'index.json'));
  const digest: string = pick.digest ?? index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === (pick.tag ?? 'latest')).digest;
  const manifest = readJson(blobPath(dir, digest));
  const layerDescs: { digest: string; size: number }[] = manifest.layers ?? manifest.manifests.filter((d: { mediaType: string }) => d.mediaType !== CONFIG_MT);
  const configDesc = manifest.config ?? manifest.manifests.filter((d: { mediaType: string }) => d.mediaType === CONFIG_MT).at(-1);
  const config: RawConfig = readJson(blobPath(dir, configDesc.digest));
  const sizes = new Map(layerDescs.map((d) => [d.digest, d.size]));
  return { digest, manifest, configDesc, config, sizes, present: (b: string) => existsSync(blobPath(dir, b)) };
}

/** The summary's definitions, applied to raw JSON: a missing `parent` key means 0. */
function rawSummary(config: RawConfig, sizes: Map<string, number>, present: (blob: string) => boolean): CacheSummary {
  const layers = config.layers ?? [];
  const records = config.records ?? [];
  const blobs = [...new Set(layers.map((l) => l.blob))];
  return {
    layerEntries: layers.length,
    uniqueBlobs: blobs.length,
    records: records.length,
    recordsWithResults: records.filter((r) => (r.layers?.length ?? 0) + (r.chains?.length ?? 0) > 0).length,
    chainRoots: layers.filter((l) => (l.parent ?? 0) === -1).length,
    sourceRecords: records.filter((r) => (r.inputs?.length ?? 0) === 0).length,
    missingBlobs: blobs.filter((b) => !present(b)).length,
    totalBytes: blobs.reduce((sum, b) => sum + (sizes.get(b) ?? 0), 0),
  };
}

/** resultSize by the definition: descriptor sizes over the resolved stack of the newest result (0 without one). */
function rawResultSizes(config: RawConfig, sizes: Map<string, number>): number[] {
  const layers = config.layers ?? [];
  const stack = (i: number): number[] => ((layers[i].parent ?? 0) === -1 ? [i] : [...stack(layers[i].parent ?? 0), i]);
  return (config.records ?? []).map((r) => {
    const results = r.layers ?? [];
    if (results.length === 0) return 0;
    const newest = results.reduce((a, b) => (b.createdAt > a.createdAt ? b : a));
    const blobs = stack(newest.layer).map((i) => layers[i].blob);
    return blobs.every((b) => sizes.has(b)) ? blobs.reduce((s, b) => s + sizes.get(b)!, 0) : 0;
  });
}

/** Blob files no index.json entry reaches (following manifests to their config and layers). */
function rawOrphans(dir: string): { digest: string; size: number }[] {
  const reachable = new Set<string>();
  for (const m of readJson(join(dir, 'index.json')).manifests) {
    reachable.add(m.digest);
    if (!existsSync(blobPath(dir, m.digest))) continue;
    const body = readJson(blobPath(dir, m.digest));
    for (const d of [body.config, ...(body.layers ?? []), ...(body.manifests ?? [])]) if (d) reachable.add(d.digest);
  }
  return readdirSync(join(dir, 'blobs', 'sha256'))
    .map((hex) => `sha256:${hex}`)
    .filter((d) => !reachable.has(d))
    .map((digest) => ({ digest, size: statSync(blobPath(dir, digest)).size }));
}

function missingBlobsTxt(fixtureRoot: string): Set<string> {
  const file = join(fixtureRoot, 'MISSING_BLOBS.txt');
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => `sha256:${line.split(/\s+/)[0].split('/').pop()}`),
  );
}

async function open(source: string): Promise<CacheView> {
  return viewOf(await openCacheSource(source));
}

async function rejects(source: string, code: string, ...parts: (string | RegExp)[]): Promise<CacheError> {
  let caught: unknown;
  try {
    await openCacheSource(source);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CacheError, `expected a CacheError for ${source}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `message ${JSON.stringify(caught.message)} should include ${JSON.stringify(p)}`);
    else assert.match(caught.message, p);
  }
  return caught;
}

const LAYOUTS = [
  { name: 'dto', dir: fixture.dto, root: join(FIXTURES, 'dto-pattern-local-image-manifest'), variant: 'image-manifest', pinned: { layerEntries: 21, uniqueBlobs: 18, records: 14, recordsWithResults: 7, chainRoots: 1, sourceRecords: 7, missingBlobs: 9, totalBytes: 347400920 } },
  { name: 'fullcycle', dir: fixture.fullcycle, root: join(FIXTURES, 'fullcycle-local-image-manifest'), variant: 'image-manifest', pinned: { layerEntries: 10, uniqueBlobs: 10, records: 9, recordsWithResults: 5, chainRoots: 1, sourceRecords: 4, missingBlobs: 5, totalBytes: 107233628 } },
  { name: 'drone', dir: fixture.drone, root: join(FIXTURES, 'drone-buildkit-local-oci-index-2021'), variant: 'index', pinned: { layerEntries: 3, uniqueBlobs: 3, records: 14, recordsWithResults: 2, chainRoots: 1, sourceRecords: 5, missingBlobs: 2, totalBytes: 3521348 } },
  { name: 'margo', dir: fixture.margo, root: join(FIXTURES, 'margo-sandbox-local-image-manifest'), variant: 'image-manifest', pinned: { layerEntries: 8, uniqueBlobs: 8, records: 26, recordsWithResults: 7, chainRoots: 1, sourceRecords: 12, missingBlobs: 8, totalBytes: 90763587 } },
] as const;

describe('real layouts open, and their numbers match the raw JSON', () => {
  for (const l of LAYOUTS) {
    it(`${l.name}: summary, result sizes, digests, missing blobs`, async () => {
      const view = await open(l.dir);
      const raw = rawGeneration(l.dir, {});
      assert.deepEqual(view.summary, rawSummary(raw.config, raw.sizes, raw.present));
      assert.deepEqual(view.summary, l.pinned);
      assert.equal(view.variant, l.variant);
      assert.equal(view.manifest?.digest, raw.digest);
      assert.equal(view.config.digest, raw.configDesc.digest);
      assert.equal(view.config.size, raw.configDesc.size);
      assert.deepEqual(
        view.records.map((r) => r.resultSize),
        rawResultSizes(raw.config, raw.sizes),
      );
      assert.deepEqual(
        view.records.map((r) => r.digest),
        (raw.config.records ?? []).map((r) => r.digest),
      );
      assert.deepEqual(view.warnings, [], 'a real export has nothing to warn about');
      // What the view calls missing is what MISSING_BLOBS.txt lists (margo ships JSON blobs only, and no list).
      const missing = view.layers.filter((row) => !row.present).map((row) => row.blob);
      const listed = missingBlobsTxt(l.root);
      if (listed.size > 0) for (const b of missing) assert.ok(listed.has(b), `${b} is missing but not in MISSING_BLOBS.txt`);
    });
  }

  it('fullcycle and drone (one generation each): the missing blobs are exactly MISSING_BLOBS.txt', async () => {
    for (const l of [LAYOUTS[1], LAYOUTS[2]]) {
      const view = await open(l.dir);
      assert.deepEqual(new Set(view.layers.filter((r) => !r.present).map((r) => r.blob)), missingBlobsTxt(l.root));
    }
  });

  it('dto: 4f4fb700… at 4 chain positions, duplicate record digests, 3 orphaned manifests and their bytes', async () => {
    const view = await open(fixture.dto);
    const empty = 'sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1';
    assert.deepEqual(view.layers.filter((r) => r.blob === empty).map((r) => r.index), [3, 4, 5, 6]);
    assert.ok(view.layers.filter((r) => r.blob === empty).every((r) => r.blobUses === 4 && r.size === 32));
    // One result stack holds the empty layer at several positions; resultSize counts each position.
    const deep = view.records.find((r) => r.stack.filter((i) => view.layers[i].blob === empty).length > 1);
    assert.ok(deep, 'some result stack repeats the empty layer');
    const digests = view.records.map((r) => r.digest);
    const dup = 'sha256:807b3e8722c68572736f54d83fd741a5b1d69ccbef218fae52b4149a56d232ce';
    assert.deepEqual(
      digests.flatMap((d, i) => (d === dup ? [i] : [])),
      [8, 9],
    );
    assert.equal(new Set(digests).size, digests.length - 1, 'exactly one duplicated record digest');
    // Records are keyed by index: the two share a digest but not their inputs or results.
    assert.notDeepEqual(view.records[8].inputs, view.records[9].inputs);
    const expected = rawOrphans(fixture.dto);
    assert.deepEqual(
      view.orphans?.items.map((o) => ({ digest: o.digest, size: o.size })).sort((a, b) => a.digest.localeCompare(b.digest)),
      expected.sort((a, b) => a.digest.localeCompare(b.digest)),
    );
    assert.equal(view.orphans?.bytes, expected.reduce((s, o) => s + o.size, 0));
    assert.equal(view.orphans?.bytes, 38131);
    assert.deepEqual(view.orphans?.items.filter((o) => o.kind === 'manifest').map((o) => o.digest).sort(), [
      'sha256:2fefebfcef3ec3b34bf787cf8a8c936d12f5448eca6ac14c7cb775ea035dbd04',
      'sha256:6f73415abf94f92a7a305dc8b3be32fd81dbe9dd170359be1cc6bb26835be8a3',
      'sha256:780702ecaed709e1c053d44599f4f93fc0189a1b4ae6d1e89d648635f6d08ef5',
    ]);
  });

  it('dto: every generation opens by digest, and together they miss exactly MISSING_BLOBS.txt', async () => {
    const view = await open(fixture.dto);
    const manifests = [view.manifest!.digest!, ...view.orphans!.items.filter((o) => o.kind === 'manifest').map((o) => o.digest)];
    const missing = new Set<string>();
    for (const digest of manifests) {
      const g = await open(`${fixture.dto}@${digest}`);
      const raw = rawGeneration(fixture.dto, { digest });
      assert.equal(g.manifest?.digest, digest);
      assert.deepEqual(g.layout, { dir: fixture.dto, tag: null, digest });
      assert.deepEqual(g.summary, rawSummary(raw.config, raw.sizes, raw.present));
      for (const r of g.layers) if (!r.present) missing.add(r.blob);
    }
    assert.deepEqual(missing, missingBlobsTxt(join(FIXTURES, 'dto-pattern-local-image-manifest')));
  });

  it('drone: index form with no top-level mediaType in index.json, no oci-layout, parents pointing forward', async () => {
    assert.equal(readJson(join(fixture.drone, 'index.json')).mediaType, undefined);
    assert.equal(existsSync(join(fixture.drone, 'oci-layout')), false);
    const view = await open(fixture.drone);
    assert.equal(view.manifest?.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(view.manifest?.family, 'oci');
    assert.deepEqual(
      view.layers.map((r) => r.parent),
      [-1, 2, 0],
    );
    // records[7]'s result is layer 1, whose parent (2) comes after it: the stack is 0, 2, 1.
    assert.deepEqual(view.records[7].stack, [0, 2, 1]);
    assert.deepEqual(view.records[11].stack, [0, 2]);
    assert.deepEqual(view.chain.roots, [0]);
    assert.deepEqual(view.chain.children, [[2], [], [1]]);
    assert.deepEqual(view.orphans, { items: [], bytes: 0 });
  });

  it('margo: inputs with selectors, duplicate digests, one orphaned generation', async () => {
    const view = await open(fixture.margo);
    const raw = rawGeneration(fixture.margo, {});
    assert.deepEqual(
      view.records.map((r) => r.inputs),
      (raw.config.records ?? []).map((r) => (r.inputs ?? []).map((slot) => slot.map((x) => ({ link: x.link, selector: x.selector ?? null })))),
    );
    assert.deepEqual(view.records[4].inputs[1], [
      { link: 13, selector: null },
      { link: 20, selector: 'sha256:eaa49a77065d68c8c43b6831aee495ca19667588af3be77af0046afd2c3b5e62' },
      { link: 21, selector: 'sha256:eaa49a77065d68c8c43b6831aee495ca19667588af3be77af0046afd2c3b5e62' },
    ]);
    const digests = view.records.map((r) => r.digest);
    assert.equal(digests.length - new Set(digests).size, 2, 'two duplicated digests');
    assert.deepEqual(
      view.orphans?.items.filter((o) => o.kind === 'manifest').map((o) => o.digest),
      ['sha256:3fee9c115eeee4f85d5f6ea28ffc47985bb201634e2651be96c7aab7d9a71286'],
    );
    assert.equal(view.orphans?.bytes, rawOrphans(fixture.margo).reduce((s, o) => s + o.size, 0));
  });

  it('DIR:tag opens the same generation as DIR', async () => {
    const a = await open(fixture.margo);
    const b = await open(`${fixture.margo}:latest`);
    assert.deepEqual(b.summary, a.summary);
    assert.deepEqual(b.layout, { dir: fixture.margo, tag: 'latest', digest: null });
  });
});

describe('sources that are not layouts', () => {
  it('inline cache in an image config: records equal the decoded moby.buildkit.cache.v0', async () => {
    const view = await open(fixture.inlineConfig);
    const decoded: RawRecord[] = readJson(join(FIXTURES, 'inline-cache-image-config-eksclustergames', 'moby.buildkit.cache.v0.decoded.json'));
    const image = readJson(fixture.inlineConfig);
    assert.equal(view.variant, 'inline');
    assert.deepEqual(
      view.records.map((r) => ({ digest: r.digest, inputs: r.inputs, results: r.results })),
      decoded.map((r) => ({
        digest: r.digest,
        inputs: (r.inputs ?? []).map((slot) => slot.map((x) => ({ link: x.link, selector: x.selector ?? null }))),
        results: r.layers ?? [],
      })),
    );
    // Layers are the image's layers (by diffID here: only the config is available), parent i-1.
    assert.deepEqual(
      view.layers.map((r) => [r.blob, r.parent]),
      image.rootfs.diff_ids.map((d: string, i: number) => [d, i - 1]),
    );
    const diffIds: string[] = image.rootfs.diff_ids;
    assert.deepEqual(view.summary, { layerEntries: diffIds.length, uniqueBlobs: new Set(diffIds).size, records: decoded.length, recordsWithResults: decoded.filter((r) => r.layers?.length).length, chainRoots: 1, sourceRecords: decoded.filter((r) => (r.inputs?.length ?? 0) === 0).length, missingBlobs: diffIds.length, totalBytes: 0 });
    assert.deepEqual(view.summary, { layerEntries: 2, uniqueBlobs: 2, records: 3, recordsWithResults: 1, chainRoots: 1, sourceRecords: 2, missingBlobs: 2, totalBytes: 0 });
    assert.deepEqual(view.records[2].stack, [0, 1]);
    assert.deepEqual(view.warnings.map((w) => w.code), ['inline-config-only']);
  });

  it('a bare cache config (the GitLab test payload): layers without results, parent omitted means 0', async () => {
    const view = await open(fixture.gitlabConfig);
    const raw: RawConfig = readJson(fixture.gitlabConfig);
    assert.equal(view.variant, 'config-only');
    assert.deepEqual(view.summary, rawSummary(raw, new Map(), () => false));
    assert.deepEqual(view.summary, { layerEntries: 2, uniqueBlobs: 2, records: 2, recordsWithResults: 0, chainRoots: 1, sourceRecords: 2, missingBlobs: 2, totalBytes: 0 });
    assert.deepEqual(view.layers.map((r) => r.parent), [-1, 0]);
    assert.deepEqual(view.chain.children, [[1], []]);
  });
});

describe('sources that fail, with a clear error', () => {
  for (const sub of ['saasLMS/.buildx-cache', 'spec-kit/.buildx-cache', 'spec-kit/.buildx-cache/base', 'spec-kit/.buildx-cache/tools']) {
    it(`index-json-only/${sub}: missing-blob naming the manifest digest`, async () => {
      const dir = join(FIXTURES, 'index-json-only', sub);
      const digest: string = readJson(join(dir, 'index.json')).manifests[0].digest;
      const err = await rejects(dir, 'missing-blob', digest, join(dir, 'index.json'));
      assert.equal(err.details?.digest, digest);
    });
  }

  it('an unknown tag lists the tags that exist', async () => {
    const err = await rejects(`${fixture.dto}:nope`, 'unknown-tag', 'nope', 'tags: latest', join(fixture.dto, 'index.json'));
    assert.deepEqual(err.details?.tags, ['latest']);
  });

  it('a tag or digest after a path that is not a directory', async () => {
    await rejects(`${fixture.gitlabConfig}:latest`, 'invalid-source', 'is not a directory');
    await rejects(`${fixture.gitlabConfig}@sha256:${'a'.repeat(64)}`, 'invalid-source', 'is not a directory');
  });

  it('a directory that is not a layout, and a path that does not exist', async () => {
    const dir = tempDir();
    await rejects(dir, 'invalid-source', 'is not an OCI layout', join(dir, 'index.json'));
    await rejects(join(dir, 'nothing-here'), 'not-found', 'nothing-here');
  });

  it('a malformed index.json: the error names the file and the position', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,\n "manifests":[{"digest": }]}');
    const err = await rejects(dir, 'invalid-json', join(dir, 'index.json'), /line 2, column \d+/);
    assert.equal(err.message.includes('\n'), false, 'one line');
  });

  it('an index.json whose manifests is not an array', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":{"digest":"x"}}');
    await rejects(dir, 'invalid-manifest', join(dir, 'index.json'), 'manifests', 'expected an array, got object');
  });

  it('a traversal digest is refused before it becomes a path', async () => {
    for (const bad of ['sha256:../../etc', 'sha256:..%2f..', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}/`, 'md5:d41d8cd98f00b204e9800998ecf8427e']) {
      await rejects(`${fixture.dto}@${bad}`, 'invalid-digest');
    }
  });

  it('a manifest blob that exists only in a copy without its config: missing-blob naming the config digest', async () => {
    const dir = tempDir();
    const digest = readJson(join(fixture.margo, 'index.json')).manifests[0].digest as string;
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    copyFileSync(join(fixture.margo, 'index.json'), join(dir, 'index.json'));
    copyFileSync(blobPath(fixture.margo, digest), blobPath(dir, digest));
    await rejects(dir, 'missing-blob', 'sha256:49e0121fb6118202067d45aece7bade82e8813368de36cd9375ddeb0b082b961', 'cache config');
  });
});
