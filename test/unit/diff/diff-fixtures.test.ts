/**
 * The diff on real BuildKit data: the orphaned generations left in two real local cache folders,
 * diffed against their current (tag latest) manifest, and a generated cache against a copy of it,
 * rewritten on disk the way BuildKit writes configs, with one source record changed.
 *
 * The numbers are not pinned: every result is checked against the independent oracle
 * (raw-oracle.ts, reading the raw JSON), and what a user reads is checked against it (the record and
 * digests the explanation names, the cost it states, that the rebuilt bytes are the new content).
 *
 * dto-pattern (a Maven build: a build stage whose sources are copied in, a runtime stage that copies
 * the jar out). Three orphans; index.json's latest is cca1d753…, the newest.
 * - oldest (6f73415a…) → latest: the final record ba9787fd… (the COPY --from of the runtime stage)
 *   links a changed content checksum, but that checksum is of the build stage's output, itself a new
 *   key (4200c4c6…) over the COPY of the sources (d340c4b5…), whose slot 0 is the dependency step:
 *   a new key (24a7fcf7…, was d4b2aa3e…) over inputs A still has. That op's definition is the first
 *   change; everything above it (3 layers, the 3 blobs only in latest) was rebuilt.
 * - middle (780702ec…) → latest: the dependency step is unchanged; the walk goes down to d340c4b5…,
 *   whose slot 1 (the checksum of the copied sources) changed.
 * - 2fefebfc… → latest: the configs differ only in the order of the four layer entries of the empty
 *   layer 4f4fb700… (sort ties); same blobs, chains, records and results: identical.
 * margo-sandbox: one orphan (3fee9c11…), same layers and blobs as latest: nothing was rebuilt; latest
 * has keys that BuildKit added as extra alternatives (backlinks), so some keys changed links only.
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
import { diffBytes } from '../../../shared/diff/units';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { ImageManifest } from '../../../shared/oci/types';
import { listGenerations } from '../../../electron/engine/sources/generations';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generateCache, sha256Digest } from '../../../scripts/cache-generator/generate';
import { fixture } from '../../helpers/fixtures';
import { engineView, oracleDiff, oracleSeesChange, readRawGeneration } from './raw-oracle';
import type { OracleDiff } from './raw-oracle';

const DTO_OLDEST = 'sha256:6f73415abf94f92a7a305dc8b3be32fd81dbe9dd170359be1cc6bb26835be8a3';
const DTO_MIDDLE = 'sha256:780702ecaed709e1c053d44599f4f93fc0189a1b4ae6d1e89d648635f6d08ef5';
const DTO_SAME = 'sha256:2fefebfcef3ec3b34bf787cf8a8c936d12f5448eca6ac14c7cb775ea035dbd04';
const DTO_LATEST = 'sha256:cca1d75310a0c5b0ce0394ef19d4eaaa0bbde0bef5c8fa8f6bb0e99acedbbf18';
const MARGO_ORPHAN = 'sha256:3fee9c115eeee4f85d5f6ea28ffc47985bb201634e2651be96c7aab7d9a71286';

/** Diffs `dir@a` against `dir@b` with the engine, and checks it against the oracle on the raw JSON. */
async function checkedDiff(dir: string, a: string, b: string): Promise<{ d: CacheDiff; o: OracleDiff }> {
  const d = diffCaches((await openCacheSource(`${dir}@${a}`)).model, (await openCacheSource(`${dir}@${b}`)).model);
  const o = oracleDiff(await readRawGeneration(dir, a), await readRawGeneration(dir, b));
  assert.deepEqual(engineView(d), o);
  return { d, o };
}

const short = (digest: string) => `${digest.slice(0, 19)}…`;

/** What the user reads for the one miss: the record, slot and digests the oracle found, and the cost. */
function assertExplains(d: CacheDiff, o: OracleDiff): void {
  assert.equal(d.divergences.length, 1);
  const [v, w] = [d.divergences[0], o.divergences[0]];
  const layers = `${w.rebuiltLayers} layer${w.rebuiltLayers === 1 ? '' : 's'}`;
  assert.ok(v.explanation.startsWith(`input ${w.slot} of record #${w.record} changed: `), v.explanation);
  assert.ok(v.explanation.includes(`${short(w.digestA!)} → ${short(w.digestB)}`), v.explanation);
  assert.ok(v.explanation.endsWith(`; ${layers}, ${diffBytes(w.rebuiltBytes)} rebuilt above it`), v.explanation);
}

describe('diff on real caches: orphaned generations against latest, checked by the oracle', () => {
  it('lists the orphans through listGenerations', async () => {
    const dto = await listGenerations(fixture.dto);
    assert.deepEqual(dto.filter((g) => !g.orphan).map((g) => g.digest), [DTO_LATEST]);
    assert.deepEqual(dto.filter((g) => g.orphan).map((g) => g.digest).sort(), [DTO_SAME, DTO_OLDEST, DTO_MIDDLE].sort());
    const margo = await listGenerations(fixture.margo);
    assert.deepEqual(margo.filter((g) => g.orphan).map((g) => g.digest), [MARGO_ORPHAN]);
  });

  it('dto-pattern, oldest → latest: the walk goes below the final record, through new keys, to the first change', async () => {
    const { d, o } = await checkedDiff(fixture.dto, DTO_OLDEST, DTO_LATEST);
    assert.equal(d.identical, false);
    assertExplains(d, o);
    const v = d.divergences[0];
    const b = (await openCacheSource(fixture.dto)).model;
    // The final result (nothing links to it) is the COPY --from of the runtime stage; the change is far below it.
    assert.equal(b.norm.records[v.leaf].digest.slice(0, 15), 'sha256:ba9787fd');
    assert.notEqual(v.record, v.leaf);
    assert.equal(v.kind, 'op', 'the dependency step\'s own definition changed');
    assert.equal(b.norm.records[v.record].digest.slice(0, 15), 'sha256:d340c4b5', 'named at the COPY of the sources, its slot 0');
    // Everything new in latest was rebuilt for that miss, and nothing else.
    assert.deepEqual([v.rebuiltLayers, v.rebuiltBytes], [d.summary.blobsOnlyB, d.summary.bytesOnlyB]);
  });

  it('dto-pattern, middle → latest: the walk goes down to the checksum of the copied sources', async () => {
    const { d, o } = await checkedDiff(fixture.dto, DTO_MIDDLE, DTO_LATEST);
    assertExplains(d, o);
    const v = d.divergences[0];
    assert.equal(v.kind, 'content-checksum');
    assert.match(v.explanation, /^input 1 of record #\d+ changed: content checksum of its files \(no selector\) /);
    assert.deepEqual([v.rebuiltLayers, v.rebuiltBytes], [d.summary.blobsOnlyB, d.summary.bytesOnlyB]);
  });

  it('dto-pattern: the orphan whose config differs only in layer order is identical', async () => {
    const a = await openCacheSource(`${fixture.dto}@${DTO_SAME}`);
    const b = await openCacheSource(fixture.dto);
    assert.notEqual(a.model.config.digest, b.model.config.digest, 'the config bytes differ');
    const { d, o } = await checkedDiff(fixture.dto, DTO_SAME, DTO_LATEST);
    assert.equal(oracleSeesChange(o), false);
    assert.equal(d.identical, true);
    assert.deepEqual(d.divergences, []);
  });

  it('margo-sandbox, orphan → latest: keys gained backlinks, every result is served', async () => {
    const latest = (await listGenerations(fixture.margo)).find((g) => !g.orphan)!.digest;
    const { d, o } = await checkedDiff(fixture.margo, MARGO_ORPHAN, latest);
    assert.equal(d.identical, false);
    assert.ok(o.linksChanged.length > 0, 'some keys changed links');
    assert.equal(o.blobsOnlyA + o.blobsOnlyB + o.resultChanged.length, 0, 'no content changed');
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
