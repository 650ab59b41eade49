/**
 * The engine's diff against an independent oracle (raw-oracle.ts: raw JSON, naive matching, the
 * rules written out) on every pair of generations available: every generation of every real layout
 * fixture against every other of the same folder (and itself), the real BuildKit v0.24 exports of
 * one build against each other (other forms and compressions), and a 38-generation history written
 * the way BuildKit writes a long-lived local cache folder. Nothing here is pinned by hand.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CacheModel } from '../../../shared/cache/model';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { listGenerations } from '../../../electron/engine/sources/generations';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES, fixture } from '../../helpers/fixtures';
import { engineView, oracleDiff, oracleSeesChange, readRawGeneration } from './raw-oracle';
import type { RawCache } from './raw-oracle';
import { paramsOf, writeHistory } from './synthetic-history';

interface Generation {
  name: string;
  model: CacheModel;
  raw: RawCache;
}

async function generationsOf(dir: string, label: string, digests?: string[]): Promise<Generation[]> {
  const list = digests ?? (await listGenerations(dir)).map((g) => g.digest);
  return Promise.all(
    list.map(async (digest) => ({
      name: `${label}@${digest.slice(7, 19)}`,
      model: (await openCacheSource(`${dir}@${digest}`)).model,
      raw: await readRawGeneration(dir, digest),
    })),
  );
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

const V024 = ['index-gzip', 'image-manifest-gzip', 'docker-list-gzip', 'estargz', 'mixed-gzip-zstd', 'uncompressed', 'mode-min'].map((f) => `buildkit-v0.24-${f}`);

/** Compares every ordered pair (self included); returns how many pairs had a cache miss to explain. */
function checkAllPairs(gens: Generation[]): number {
  let withMisses = 0;
  for (const a of gens) {
    for (const b of gens) {
      const d = diffCaches(a.model, b.model);
      const o = oracleDiff(a.raw, b.raw);
      assert.deepEqual(engineView(d), o, `${a.name} → ${b.name}`);
      // Whatever else holds, a pair the oracle sees any change in is not "identical".
      if (oracleSeesChange(o)) assert.equal(d.identical, false, `${a.name} → ${b.name} is not identical`);
      if (a === b) assert.equal(d.identical, true, `${a.name} against itself`);
      if (o.divergences.length > 0) withMisses++;
    }
  }
  return withMisses;
}

describe('diff against an independent oracle, every pair of generations', () => {
  it('dto-pattern: all 4 generations pairwise', async () => {
    const gens = await generationsOf(fixture.dto, 'dto');
    assert.equal(gens.length, 4);
    assert.ok(checkAllPairs(gens) >= 4, 'some pairs have cache misses to explain');
  });

  it('margo-sandbox: both generations pairwise', async () => {
    const gens = await generationsOf(fixture.margo, 'margo');
    assert.equal(gens.length, 2);
    checkAllPairs(gens);
  });

  it('single-generation layouts against themselves (fullcycle, drone)', async () => {
    checkAllPairs(await generationsOf(fixture.fullcycle, 'fullcycle'));
    checkAllPairs(await generationsOf(fixture.drone, 'drone'));
  });

  it('BuildKit v0.24 exports of one build in 7 forms and compressions, pairwise', async () => {
    const gens = (await Promise.all(V024.map((f) => generationsOf(join(FIXTURES, f), f)))).flat();
    assert.equal(gens.length, V024.length);
    checkAllPairs(gens);
  });

  describe('a 38-generation local cache folder', () => {
    let dir = '';
    let gens: Generation[] = [];
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cachescope-history-'));
      const digests = await writeHistory(dir, 38);
      gens = await generationsOf(dir, 'history', digests);
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('lists 38 generations, 37 of them orphaned', async () => {
      const listed = await listGenerations(dir);
      assert.equal(listed.length, 38);
      assert.equal(listed.filter((g) => g.orphan).length, 37);
    });

    it("an older build against the latest: issue 8's shape, named at the changed content checksum", () => {
      // Build 35 had another LABEL (two new keys above `RUN mvn package`) and other sources than build 37.
      const [a, b] = [gens[35].model, gens[37].model];
      const d = diffCaches(a, b);
      assert.equal(d.divergences.length, 1);
      const v = d.divergences[0];
      const digestOf = (i: number) => b.norm.records[i].digest;
      const name = (i: number) => (['copy src@0', 'run mvn package@0', 'label build=12@0', 'entrypoint 12@0'] as const).find((n) => digestOf(i) === sha256(n));
      assert.equal(name(v.leaf), 'entrypoint 12@0');
      assert.equal(name(v.record), 'copy src@0');
      assert.deepEqual([v.slot, v.kind, v.digestA, v.digestB], [1, 'content-checksum', sha256(`src checksum ${paramsOf(35).src}@-1`), sha256('src checksum 37@-1')]);
      assert.deepEqual(v.rebuiltRecords.map(name).sort(), ['copy src@0', 'entrypoint 12@0', 'label build=12@0', 'run mvn package@0']);
      // One layer each, exactly the content new in the latest build.
      assert.deepEqual([v.rebuiltLayers, v.rebuiltBytes], [4, d.summary.bytesOnlyB]);
      assert.equal(d.summary.blobsOnlyB, 4);
      assert.match(v.explanation, /^input 1 of record #\d+ changed: content checksum of its files \(no selector\) sha256:\w{12}… → sha256:\w{12}…; 4 layers, \d+ MB rebuilt above it$/);
    });

    it('all 38 × 38 pairs agree with the oracle', () => {
      assert.ok(checkAllPairs(gens) > 38 * 30, 'almost every pair has a miss');
    });
  });
});
