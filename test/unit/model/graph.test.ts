/**
 * The graph on hand-built configs, with exact expected arrays: layer chains (forward parents, loops),
 * OR input slots with selectors, dependents, roots and leaves, result stacks through parents vs
 * `chains` as listed, sizes and shared bytes, multi-platform roots, and a layout's orphans.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { toView } from '../../../shared/cache/model';
import { buildGraph } from '../../../shared/cache/graph';
import { parseCacheConfig } from '../../../shared/cache/parse-config';
import type { CacheView } from '../../../shared/cache/view-types';
import type { Descriptor } from '../../../shared/oci/types';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { MT, blobPath, cleanTempDirs, configModel, fakeDigest, sha256, tagged, writeBlob, writeCacheLayout, writeIndex } from './layout-kit';

after(cleanTempDirs);

const T = '2026-03-04T05:06:07.8Z';
const B = [0, 1, 2, 3, 4, 5, 6].map((i) => fakeDigest(`g${i}`));
const SEL = sha256('/');

function view(config: unknown, sizes: Record<string, number>): CacheView {
  return toView(configModel(config, sizes, 'g.json'), { present: () => true, orphans: null, layout: null });
}

describe('layer chains', () => {
  it('parents may point forward; each entry resolves to its stack, base first', () => {
    // 0 -> 3 -> 1 -> -1, 2 -> 0, 4 -> 1
    const layers = [{ blob: B[0], parent: 3 }, { blob: B[1], parent: -1 }, { blob: B[2] }, { blob: B[3], parent: 1 }, { blob: B[4], parent: 1 }];
    const g = buildGraph(parseCacheConfig({ layers }, 'g.json'), new Map<string, Descriptor>(), 'g.json');
    assert.deepEqual(g.layerStacks, [[1, 3, 0], [1], [1, 3, 0, 2], [1, 3], [1, 4]]);
    assert.deepEqual(g.layerProblems, [null, null, null, null, null]);
  });

  it('loops and out-of-range parents give null stacks with the reason, and everything above them too', () => {
    const layers = [{ blob: B[0], parent: -1 }, { blob: B[1], parent: 2 }, { blob: B[2], parent: 1 }, { blob: B[3], parent: 2 }, { blob: B[4], parent: 99 }, { blob: B[5], parent: 4 }];
    const g = buildGraph(parseCacheConfig({ layers }, 'g.json'), new Map(), 'g.json');
    assert.deepEqual(g.layerStacks, [[0], null, null, null, null, null]);
    assert.deepEqual(
      g.layerProblems.map((p) => p?.replace(/ \(.*/, '') ?? null),
      [null, 'invalid looping layer', 'invalid looping layer', 'invalid looping layer', 'invalid layer index 99', 'invalid layer index 99'],
    );
  });

  it('the chain tree: roots (one per platform), children, records ending at each entry, detached entries', () => {
    // Two platforms share nothing: two roots. Entry 5 dangles.
    const layers = [{ blob: B[0], parent: -1 }, { blob: B[1] }, { blob: B[2], parent: -1 }, { blob: B[3], parent: 2 }, { blob: B[1], parent: 3 }, { blob: B[5], parent: 7 }];
    const records = [
      { digest: sha256('amd64'), layers: [{ layer: 1, createdAt: T }] },
      { digest: sha256('arm64'), layers: [{ layer: 4, createdAt: T }] },
      { digest: sha256('arm64 again'), layers: [{ layer: 4, createdAt: T }] },
    ];
    const v = view({ layers, records }, { [B[0]]: 1, [B[1]]: 2, [B[2]]: 4, [B[3]]: 8 });
    assert.deepEqual(v.chain.roots, [0, 2]);
    assert.deepEqual(v.chain.children, [[1], [], [3], [4], [], []]);
    assert.deepEqual(v.chain.recordsEndingAt, [[], [0], [], [], [1, 2], []]);
    assert.deepEqual(v.chain.detached, [5]);
    assert.equal(v.summary.chainRoots, 2);
    // Chain roots are layer entries; source records (no inputs) are another count: all three here.
    assert.equal(v.summary.sourceRecords, 3);
    assert.deepEqual(v.layers.map((l) => l.blobUses), [1, 2, 1, 1, 2, 1]);
    assert.deepEqual(v.layers.map((l) => l.parentBlob), [null, B[0], null, B[2], B[3], null]);
  });
});

describe('records', () => {
  // 0, 1: source records (no inputs). 2 <- 0. 3 <- (2 | 1 via selector) and 0. 4 <- 3. 5 <- 3 (twice in one slot).
  const records = [
    { digest: sha256('src') },
    { digest: sha256('ctx@-1') },
    { digest: sha256('base'), inputs: [[{ link: 0 }]] },
    { digest: sha256('copy'), inputs: [[{ link: 2 }, { selector: SEL, link: 1 }], [{ link: 0 }]] },
    { digest: sha256('run'), inputs: [[{ link: 3 }]] },
    { digest: sha256('run'), inputs: [[{ link: 3 }, { selector: SEL, link: 3 }]] },
  ];

  it('inputs are OR slots with selectors; dependents, source records and leaves by index (digests repeat)', () => {
    const v = view({ records }, {});
    assert.deepEqual(v.records[3].inputs, [
      [
        { link: 2, selector: null },
        { link: 1, selector: SEL },
      ],
      [{ link: 0, selector: null }],
    ]);
    assert.deepEqual(
      v.records.map((r) => r.dependents),
      [[2, 3], [3], [3], [4, 5], [], []],
    );
    assert.deepEqual(
      v.records.map((r) => r.isSource),
      [true, true, false, false, false, false],
    );
    assert.deepEqual(
      v.records.map((r) => r.isLeaf),
      [false, false, false, false, true, true],
    );
    assert.equal(v.records[4].digest, v.records[5].digest);
  });

  it("`layers` results resolve through parents; `chains` results are taken as listed; sizes and shared bytes", () => {
    const layers = [{ blob: B[0], parent: -1 }, { blob: B[1] }, { blob: B[2], parent: 1 }, { blob: B[3], parent: -1 }, { blob: B[0], parent: 3 }];
    const sizes = { [B[0]]: 10, [B[1]]: 200, [B[2]]: 3000, [B[3]]: 40000 };
    const v = view(
      {
        layers,
        records: [
          { digest: sha256('a'), layers: [{ layer: 2, createdAt: T }] },
          // As listed: 2 then 3, without following 2's parents.
          { digest: sha256('b'), chains: [{ layers: [2, 3], createdAt: T }] },
          { digest: sha256('c'), layers: [{ layer: 4, createdAt: T }] },
          { digest: sha256('d') },
          // The same blob twice in one stack counts twice in resultSize, once in sharedBytes.
          { digest: sha256('e'), chains: [{ layers: [0, 4], createdAt: T }] },
        ],
      },
      sizes,
    );
    assert.deepEqual(
      v.records.map((r) => r.stack),
      [[0, 1, 2], [2, 3], [3, 4], [], [0, 4]],
    );
    assert.deepEqual(
      v.records.map((r) => r.resultSize),
      [3210, 43000, 40010, 0, 20],
    );
    // a: B0,B1,B2 — B0 (c, e) and B2 (b) are shared: 10 + 3000. b: B2 (a), B3 (c): 43000.
    // c: B3 (b), B0 (a, e): 40010. e: B0 only: 10.
    assert.deepEqual(
      v.records.map((r) => r.sharedBytes),
      [3010, 43000, 40010, 0, 10],
    );
    assert.deepEqual(
      v.records.map((r) => r.shownResult),
      [{ kind: 'layers', index: 0 }, { kind: 'chains', index: 0 }, { kind: 'layers', index: 0 }, null, { kind: 'chains', index: 0 }],
    );
    assert.deepEqual(v.summary, { layerEntries: 5, uniqueBlobs: 4, records: 5, recordsWithResults: 4, chainRoots: 2, sourceRecords: 5, missingBlobs: 0, totalBytes: 43210 });
  });

  it('a record graph 100k deep and a chain 2000 deep: no recursion, no stack overflow', () => {
    const n = 100_000;
    const deep = Array.from({ length: n }, (_, i) => ({ digest: sha256(`r${i % 7}`), inputs: i === 0 ? undefined : [[{ link: i - 1 }]] }));
    const layers = Array.from({ length: 2000 }, (_, i) => ({ blob: B[i % 4], parent: i - 1 }));
    const sizes = { [B[0]]: 1, [B[1]]: 1, [B[2]]: 1, [B[3]]: 1 };
    const v = view({ layers, records: [...deep, { digest: sha256('top'), layers: [{ layer: 1999, createdAt: T }], inputs: [[{ link: n - 1 }]] }] }, sizes);
    assert.equal(v.records[n].stack.length, 2000);
    assert.equal(v.records[n].resultSize, 2000);
    assert.deepEqual(v.records[n - 1].dependents, [n]);
    // 100k entries in one chain would need 5e9 stack positions: refused up front, not an out-of-memory crash.
    const huge = Array.from({ length: 100_000 }, (_, i) => ({ blob: B[i % 4], parent: i - 1 }));
    assert.throws(() => view({ layers: huge }, sizes), (err: unknown) => err instanceof CacheError && err.code === 'too-large' && /5000050000 positions/.test(err.message));
  });
});

describe("a layout's orphans: what BuildKit's reset=true would delete", () => {
  it('an older generation (manifest, config, a layer only it used) is listed with its bytes', async () => {
    const config = { layers: [{ blob: B[0], parent: -1 }], records: [{ digest: sha256('x'), layers: [{ layer: 0, createdAt: T }] }] };
    const current = writeCacheLayout({ config });
    const dir = current.dir;
    // An older generation in the same folder whose layer blob is present and used by nobody else.
    const oldLayer = writeBlob(dir, 'old layer bytes', MT.ociGzip);
    const oldConfig = writeBlob(dir, JSON.stringify({ layers: [{ blob: oldLayer.digest, parent: -1 }], records: [] }), MT.cacheConfig);
    const oldManifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: oldConfig, layers: [oldLayer] }), MT.ociManifest);
    // The current generation's layer is present too, and stays reachable.
    writeFileSync(blobPath(dir, B[0]), 'not really the layer');
    writeIndex(dir, [tagged(current.manifest)]);
    const v = await viewOf(await openCacheSource(dir));
    const sorted = (v.orphans?.items ?? []).map((o) => ({ ...o })).sort((a, b) => a.digest.localeCompare(b.digest));
    assert.deepEqual(
      sorted,
      [
        { digest: oldLayer.digest, size: oldLayer.size, kind: 'layer' },
        { digest: oldConfig.digest, size: oldConfig.size, kind: 'config' },
        { digest: oldManifest.digest, size: oldManifest.size, kind: 'manifest' },
      ].sort((a, b) => a.digest.localeCompare(b.digest)),
    );
    assert.equal(v.orphans?.bytes, oldLayer.size + oldConfig.size + oldManifest.size);
    assert.equal(v.summary.missingBlobs, 0);
    // Opening the older generation by digest does not change what the folder's index.json makes garbage.
    const old = await viewOf(await openCacheSource(`${dir}@${oldManifest.digest}`));
    assert.equal(old.orphans?.bytes, v.orphans?.bytes);
    assert.deepEqual(old.summary, { layerEntries: 1, uniqueBlobs: 1, records: 0, recordsWithResults: 0, chainRoots: 1, sourceRecords: 0, missingBlobs: 0, totalBytes: oldLayer.size });
  });
});
