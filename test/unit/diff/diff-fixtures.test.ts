/**
 * The diff on real BuildKit data: the orphaned generations left in two real local cache folders,
 * diffed against their current (tag latest) manifest, and a generated cache against a copy of it,
 * rewritten on disk the way BuildKit writes configs, with one source record changed.
 *
 * Checked by hand once (`cachescope diff DIR@<orphan> DIR`, then reading both configs side by side):
 *
 * dto-pattern (a Maven build: a build stage whose sources are copied in, a runtime stage that copies
 * the jar out). Three orphans; index.json's latest is cca1d753…, the newest.
 * - oldest (6f73415a…) → latest: the final record ba9787fd… (#12 in latest, the COPY --from of the
 *   runtime stage) links in slot 1 the content checksum of what it copies (63a1630c… then, 295cd62e…
 *   now) and the build stage's output 4200c4c6… with selector cec893…. The oldest cache has no
 *   4200c4c6… at all (its build stage was another op, 01a2c421…), so the walk cannot go further down
 *   and the changed checksum is the answer. Rebuilt above it: only ba9787fd…'s own top layer
 *   fc1ffdf6… (48,372,659 bytes), the rest of its stack is base layers A has. Blob for blob: 3 left
 *   (11ed2c7f…, 4a2c4991…, aa99086c…), 3 arrived (2c896521…, fc1ffdf6…, fc260610…), 15 stayed; 8
 *   records matched (the base image, WORKDIR and dependency-download steps), 6 new, 6 gone.
 * - middle (780702ec…) → latest: here A does have 4200c4c6… (with other inputs), so the walk follows
 *   it to d340c4b5… (#13, COPY of the sources onto the dependency layer): its slot 0 (24a7fcf7…)
 *   still matches, its slot 1 went from 9fc64261… to ac3ced56…: a root linked without selector in a
 *   COPY's source slot, the checksum of the copied sources (the build context's own key is random and
 *   never exported). Rebuilt above it: #13, #5 (4200c4c6…, the build) and #12: 3 layers, 96,761,187
 *   bytes, exactly the 3 blobs only in latest. 9 records matched, 5 new, 5 gone.
 * - 2fefebfc… → latest: the configs differ only in the order of the four layer entries of the empty
 *   layer 4f4fb700… (sort ties); same blobs, chains, records and results: identical.
 * margo-sandbox: one orphan (3fee9c11…), same layers and blobs as latest, same createdAt everywhere:
 * nothing was rebuilt. Latest has 3 more keys: root 41df1be4…, op 0b7ec3a1… over it (#1) and
 * ed195c70… over that (#21), which BuildKit added as extra alternatives (backlinks) to the slots of
 * 393f2de1… and 68281547…; every slot still shares an alternative with the orphan, so those keys are
 * the same keys with changed links, and every final result is served (no divergence). The orphan's
 * unlinked root e083d5c7… is gone.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheConfig } from '../../../shared/cache/config-types';
import { marshalConfig, marshalIndex, marshalManifest } from '../../../shared/cache/serialize';
import { sortConfig } from '../../../shared/cache/sort-config';
import { diffCaches } from '../../../shared/diff/diff-caches';
import type { CacheDiff } from '../../../shared/diff/types';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { ImageManifest } from '../../../shared/oci/types';
import { listGenerations } from '../../../electron/engine/generations';
import { openCacheSource } from '../../../electron/engine/open-cache';
import { generateCache, sha256Digest } from '../../../scripts/cache-generator/generate';
import { fixture } from '../../helpers/fixtures';

const DTO_OLDEST = 'sha256:6f73415abf94f92a7a305dc8b3be32fd81dbe9dd170359be1cc6bb26835be8a3';
const DTO_MIDDLE = 'sha256:780702ecaed709e1c053d44599f4f93fc0189a1b4ae6d1e89d648635f6d08ef5';
const DTO_SAME = 'sha256:2fefebfcef3ec3b34bf787cf8a8c936d12f5448eca6ac14c7cb775ea035dbd04';
const DTO_LATEST = 'sha256:cca1d75310a0c5b0ce0394ef19d4eaaa0bbde0bef5c8fa8f6bb0e99acedbbf18';
const MARGO_ORPHAN = 'sha256:3fee9c115eeee4f85d5f6ea28ffc47985bb201634e2651be96c7aab7d9a71286';

async function diffSources(a: string, b: string): Promise<CacheDiff> {
  return diffCaches((await openCacheSource(a)).model, (await openCacheSource(b)).model);
}

function counts(d: CacheDiff): Record<string, number> {
  const s = d.summary;
  return {
    blobsOnlyA: s.blobsOnlyA,
    blobsBoth: s.blobsBoth,
    blobsOnlyB: s.blobsOnlyB,
    bytesOnlyA: s.bytesOnlyA,
    bytesBoth: s.bytesBoth,
    bytesOnlyB: s.bytesOnlyB,
    recompressed: s.recompressed,
    recordsMatched: s.recordsMatched,
    recordsNew: s.recordsNew,
    recordsGone: s.recordsGone,
    recordsResultChanged: s.recordsResultChanged,
    recordsLinksChanged: s.recordsLinksChanged,
    chainsBoth: s.chainsBoth,
    chainsOnlyA: s.chainsOnlyA,
    chainsOnlyB: s.chainsOnlyB,
  };
}

describe('diff on real caches: orphaned generations against latest (pinned after a check by hand)', () => {
  it('lists the orphans through listGenerations', async () => {
    const dto = await listGenerations(fixture.dto);
    assert.deepEqual(dto.filter((g) => !g.orphan).map((g) => g.digest), [DTO_LATEST]);
    assert.deepEqual(dto.filter((g) => g.orphan).map((g) => g.digest).sort(), [DTO_SAME, DTO_OLDEST, DTO_MIDDLE].sort());
    const margo = await listGenerations(fixture.margo);
    assert.deepEqual(margo.filter((g) => g.orphan).map((g) => g.digest), [MARGO_ORPHAN]);
  });

  it('dto-pattern, oldest → latest: the content checksum copied by the final record changed', async () => {
    const d = await diffSources(`${fixture.dto}@${DTO_OLDEST}`, fixture.dto);
    assert.equal(d.identical, false);
    assert.deepEqual(counts(d), {
      blobsOnlyA: 3,
      blobsBoth: 15,
      blobsOnlyB: 3,
      bytesOnlyA: 96_761_232,
      bytesBoth: 250_639_733,
      bytesOnlyB: 96_761_187,
      recompressed: 0,
      recordsMatched: 8,
      recordsNew: 6,
      recordsGone: 6,
      recordsResultChanged: 0,
      recordsLinksChanged: 0,
      chainsBoth: 18,
      chainsOnlyA: 3,
      chainsOnlyB: 3,
    });
    assert.deepEqual(d.newRecords, [1, 2, 5, 10, 12, 13]);
    assert.deepEqual(d.goneRecords, [0, 4, 9, 11, 12, 13]);
    // B's results use all 18 of its blobs; A holds 15 of them: 72.1 % of the bytes.
    assert.deepEqual([d.summary.reusableBytes, d.summary.resultBytesB], [250_639_733, 347_400_920]);
    assert.equal(d.summary.reusableShare, 250_639_733 / 347_400_920);
    assert.equal(d.divergences.length, 1);
    const v = d.divergences[0];
    assert.deepEqual(
      [v.leaf, v.record, v.slot, v.selector, v.recordA, v.kind, v.rebuiltRecords, v.rebuiltLayers, v.rebuiltBytes],
      [12, 12, 1, null, 11, 'content-checksum', [12], 1, 48_372_659],
    );
    assert.equal(
      v.explanation,
      'input 1 of record #12 changed: content checksum of its files (no selector) sha256:63a1630ca351… → sha256:295cd62e4a85…; 1 layer, 48 MB rebuilt above it',
    );
  });

  it('dto-pattern, middle → latest: the walk goes down to the checksum of the copied sources (#13)', async () => {
    const d = await diffSources(`${fixture.dto}@${DTO_MIDDLE}`, fixture.dto);
    assert.deepEqual([d.summary.recordsMatched, d.summary.recordsNew, d.summary.recordsGone, d.summary.blobsOnlyB, d.summary.bytesOnlyB], [9, 5, 5, 3, 96_761_187]);
    assert.deepEqual(d.divergences.map((v) => [v.leaf, v.record, v.slot, v.recordA, v.kind, v.digestA, v.digestB, v.rebuiltRecords, v.rebuiltLayers, v.rebuiltBytes]), [
      [
        12,
        13,
        1,
        13,
        'content-checksum',
        'sha256:9fc642618636ba7ab9069ea91644fa7190bc87310871d47e5c7e8111fab7d196',
        'sha256:ac3ced56f8bc9f0981596776215754fde014a8c2ddc1dd207e2ba0c8827d5375',
        [5, 12, 13],
        3,
        96_761_187,
      ],
    ]);
    assert.equal(
      d.divergences[0].explanation,
      'input 1 of record #13 changed: content checksum of its files (no selector) sha256:9fc642618636… → sha256:ac3ced56f8bc…; 3 layers, 97 MB rebuilt above it',
    );
  });

  it('dto-pattern: the orphan whose config differs only in layer order is identical', async () => {
    const a = await openCacheSource(`${fixture.dto}@${DTO_SAME}`);
    const b = await openCacheSource(fixture.dto);
    assert.notEqual(a.model.config.digest, b.model.config.digest, 'the config bytes differ');
    const d = diffCaches(a.model, b.model);
    assert.equal(d.identical, true);
    assert.deepEqual([d.summary.blobsBoth, d.summary.bytesBoth, d.summary.chainsBoth, d.summary.recordsMatched, d.divergences.length], [18, 347_400_920, 21, 14, 0]);
  });

  it('margo-sandbox, orphan → latest: keys gained backlinks, every result is served', async () => {
    const d = await diffSources(`${fixture.margo}@${MARGO_ORPHAN}`, fixture.margo);
    assert.equal(d.identical, false);
    assert.deepEqual(counts(d), {
      blobsOnlyA: 0,
      blobsBoth: 8,
      blobsOnlyB: 0,
      bytesOnlyA: 0,
      bytesBoth: 90_763_587,
      bytesOnlyB: 0,
      recompressed: 0,
      recordsMatched: 23,
      recordsNew: 3,
      recordsGone: 1,
      recordsResultChanged: 0,
      recordsLinksChanged: 2,
      chainsBoth: 8,
      chainsOnlyA: 0,
      chainsOnlyB: 0,
    });
    assert.deepEqual(d.newRecords, [1, 6, 21]);
    assert.deepEqual(d.goneRecords, [17]);
    assert.deepEqual(d.linksChanged, [{ a: 3, b: 4 }, { a: 7, b: 9 }]);
    assert.deepEqual(d.divergences, []);
    assert.equal(d.summary.reusableShare, 1);
  });
});

describe('diff on a generated cache against a copy with one source record changed', () => {
  let dir = '';
  let copy = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachescope-diff-gen-'));
    copy = `${dir}-copy`;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(copy, { recursive: true, force: true });
  });

  it('names exactly that record, in every final result built on it', async () => {
    const gen = await generateCache(dir, { seed: 7, stages: 3, layersPerStage: 4, layerBytes: 256, compression: 'gzip', form: 'image-manifest', withBlobs: false });
    await cp(dir, copy, { recursive: true });
    // The base image: the root the first op of every stage runs on (slot 0, no selector).
    const records = gen.config.records ?? [];
    const base = records.findIndex((r) => !r.inputs && records.some((o) => o.inputs?.[0].some((l) => l.link === records.indexOf(r) && !l.selector)));
    assert.ok(base >= 0, 'the generated cache has a base image root');
    const oldDigest = records[base].digest!;
    const newDigest = sha256Digest('docker-image://docker.io/library/alpine:3.21@0');
    // Rewrite the copy as BuildKit would have written it: the changed record, sortConfig, Go's JSON,
    // a new config blob, a manifest pointing at it, index.json pointing at the manifest.
    const edited: CacheConfig = sortConfig({ ...gen.config, records: records.map((r, i) => (i === base ? { ...r, digest: newDigest } : r)) });
    const configJson = marshalConfig(edited);
    const configDesc = { mediaType: MediaType.cacheConfigV0, digest: sha256Digest(configJson), size: Buffer.byteLength(configJson) };
    const manifestJson = marshalManifest({ ...(gen.manifest as ImageManifest), config: configDesc });
    const manifestDesc = { mediaType: MediaType.ociManifest, digest: sha256Digest(manifestJson), size: Buffer.byteLength(manifestJson) };
    const blob = (d: string) => join(copy, 'blobs', 'sha256', d.slice('sha256:'.length));
    await writeFile(blob(configDesc.digest), configJson);
    await writeFile(blob(manifestDesc.digest), manifestJson);
    await writeFile(join(copy, 'index.json'), marshalIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...manifestDesc, annotations: { [Annotation.refName]: 'latest' } }] }));
    assert.ok((await readFile(join(copy, 'index.json'), 'utf8')).includes(manifestDesc.digest));

    const a = (await openCacheSource(dir)).model;
    const b = (await openCacheSource(copy)).model;
    const changed = b.norm.records.findIndex((r) => r.digest === newDigest);
    assert.ok(changed >= 0);
    const d = diffCaches(a, b);
    assert.equal(d.identical, false);
    assert.deepEqual(d.newRecords.filter((i) => b.norm.records[i].inputs.length === 0), [changed], 'the only new root is the changed one');
    assert.equal(d.summary.blobsOnlyA + d.summary.blobsOnlyB, 0, 'the layers did not change');
    // Every final result that A cannot serve is explained, and always by that record.
    const unmatchedLeaves = b.graph.dependents.flatMap((deps, i) => (deps.length === 0 && d.newRecords.includes(i) ? [i] : []));
    assert.ok(unmatchedLeaves.length > 0);
    assert.deepEqual(d.divergences.map((v) => v.leaf), unmatchedLeaves);
    for (const v of d.divergences) {
      assert.deepEqual([v.slot, v.kind, v.digestA, v.digestB, v.selector], [0, 'source', oldDigest, newDigest, null], v.explanation);
      assert.ok(b.norm.records[v.record].inputs[0].some((l) => l.link === changed), 'the named slot links the changed record');
      assert.match(v.explanation, new RegExp(`^input 0 of record #${v.record} changed: source record ${oldDigest.slice(0, 19)}… → ${newDigest.slice(0, 19)}…; 0 layers, 0 B rebuilt above it$`));
    }
  });
});
