import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../../electron/cli/main';
import type { CommandIo } from '../../../electron/cli/io';
import { listGenerations } from '../../../electron/engine/generations';
import { openCacheSource } from '../../../electron/engine/open-cache';
import { assembleCache } from '../../../shared/cache/model';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { fixture } from '../../helpers/fixtures';
import { dg } from '../../helpers/model-builder';

function capture(): CommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

const DTO_OLDEST = 'sha256:6f73415abf94f92a7a305dc8b3be32fd81dbe9dd170359be1cc6bb26835be8a3';
const DTO_MIDDLE = 'sha256:780702ecaed709e1c053d44599f4f93fc0189a1b4ae6d1e89d648635f6d08ef5';
const DTO_SAME = 'sha256:2fefebfcef3ec3b34bf787cf8a8c936d12f5448eca6ac14c7cb775ea035dbd04';
const MARGO_ORPHAN = 'sha256:3fee9c115eeee4f85d5f6ea28ffc47985bb201634e2651be96c7aab7d9a71286';

async function diffSources(a: string, b: string) {
  return diffCaches((await openCacheSource(a)).model, (await openCacheSource(b)).model);
}

/*
 * Checked by hand once (cachescope diff, then reading both configs):
 * - dto oldest -> latest: the COPY record (#12, leaf) lost its cache because slot 1's content checksum
 *   changed (63a1630c… -> 295cd62e…): the build context changed. Its one new layer is 48 MB; 3 blobs
 *   (92.3 MiB) left, 3 arrived, 15 stayed; 72.1% of the latest result bytes were in the old cache.
 * - dto middle -> latest: the same leaf, but the first divergence is further down: record #13
 *   (d340c4b5…, 2 inputs) got another root in slot 1 (9fc64261… -> ac3ced56…).
 * - the third dto orphan has the same graph and blobs as latest: identical.
 * - margo orphan -> latest: every final result was reusable; 3 records were added (backlinks), 1 went.
 */
describe('diff on real caches (generations pinned after a check by hand)', () => {
  it('dto-pattern: the oldest generation vs latest names the build context checksum', async () => {
    const gens = await listGenerations(fixture.dto);
    assert.deepEqual(gens.filter((g) => g.orphan).map((g) => g.digest).sort(), [DTO_SAME, DTO_OLDEST, DTO_MIDDLE].sort());
    const d = await diffSources(`${fixture.dto}@${DTO_OLDEST}`, fixture.dto);
    assert.equal(d.identical, false);
    assert.deepEqual(
      [d.summary.blobsOnlyA, d.summary.blobsBoth, d.summary.blobsOnlyB, d.summary.recordsMatched, d.summary.recordsNew, d.summary.recordsGone],
      [3, 15, 3, 8, 6, 6],
    );
    assert.equal(d.summary.reusableShare.toFixed(3), '0.721');
    assert.equal(d.divergences.length, 1);
    assert.equal(
      d.divergences[0].explanation,
      'input 1 of record #12 changed: content checksum of its files (no selector) sha256:63a1630ca351… → sha256:295cd62e4a85…; 1 layer, 48 MB rebuilt above it',
    );
    assert.equal(d.divergences[0].kind, 'content-checksum');
  });

  it('dto-pattern: the middle generation diverged deeper, in record #13', async () => {
    const d = await diffSources(`${fixture.dto}@${DTO_MIDDLE}`, fixture.dto);
    assert.deepEqual(d.divergences.map((v) => [v.leaf, v.record, v.slot, v.digestA, v.digestB]), [
      [12, 13, 1, 'sha256:9fc642618636ba7ab9069ea91644fa7190bc87310871d47e5c7e8111fab7d196', 'sha256:ac3ced56f8bc9f0981596776215754fde014a8c2ddc1dd207e2ba0c8827d5375'],
    ]);
  });

  it('dto-pattern: an orphan with the same graph is identical; margo: every result reusable', async () => {
    assert.equal((await diffSources(`${fixture.dto}@${DTO_SAME}`, fixture.dto)).identical, true);
    const m = await diffSources(`${fixture.margo}@${MARGO_ORPHAN}`, fixture.margo);
    assert.deepEqual([m.summary.recordsNew, m.summary.recordsGone, m.summary.blobsBoth, m.divergences.length, m.summary.reusableShare], [3, 1, 8, 0, 1]);
  });

  describe('a generated cache against a copy with one source record changed', () => {
    let dir = '';
    after(async () => dir && rm(dir, { recursive: true, force: true }));
    it('names exactly that record', async () => {
      dir = await mkdtemp(join(tmpdir(), 'cachescope-diff-gen-'));
      await generateCache(dir, { seed: 7, stages: 4, layersPerStage: 2, layerBytes: 256, compression: 'gzip', form: 'image-manifest', withBlobs: false });
      const a = (await openCacheSource(dir)).model;
      // The first root that something links to: a source (e.g. the base image) whose key changes.
      const target = a.norm.records.findIndex((r, i) => r.inputs.length === 0 && a.graph.dependents[i].length > 0);
      assert.ok(target >= 0);
      const changed = dg('a different base image@0');
      const norm = { ...a.norm, records: a.norm.records.map((r, i) => (i === target ? { ...r, digest: changed } : r)) };
      const b = assembleCache({ source: 'copy', variant: a.variant, manifest: a.manifest, parsedManifest: a.parsedManifest, config: a.config, norm, configFile: 'copy' });
      const d = diffCaches(a, b);
      assert.ok(d.divergences.length > 0);
      for (const v of d.divergences) {
        assert.equal(v.digestB, changed, v.explanation);
        assert.equal(v.digestA, a.norm.records[target].digest);
        assert.ok(b.norm.records[v.record].inputs[v.slot].some((l) => l.link === target), 'the named slot links the changed record');
        assert.match(v.explanation, new RegExp(`${changed.slice(0, 19)}…`));
      }
    });
  });

  it('CLI: exit 0 same, 1 different, 2 error; --json is one object', async () => {
    const same = capture();
    assert.equal(await main(['diff', fixture.margo, fixture.margo, '--json'], same), 0);
    assert.equal(JSON.parse(same.stdout.join('')).identical, true);
    const diff = capture();
    assert.equal(await main(['diff', `${fixture.dto}@${DTO_OLDEST}`, fixture.dto], diff), 1);
    assert.match(diff.stdout.join('\n'), /why B missed the cache:\n {2}leaf #12: input 1 of record #12 changed: content checksum/);
    const bad = capture();
    assert.equal(await main(['diff', fixture.margo, '/no/such/cache', '--json'], bad), 2);
    assert.equal(JSON.parse(bad.stdout.join('')).error.code, 'not-found');
    assert.match(bad.stderr.join(''), /\/no\/such\/cache: no such file or directory/);
    assert.equal(await main(['diff', fixture.margo], capture()), 2);
  });
});
