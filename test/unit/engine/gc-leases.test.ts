/**
 * gc and leases, with holders in real processes: a leased blob is kept however old it is, and
 * deleted once its lease is released or its process is gone. Also the left-overs gc clears: ingest
 * files of dead writers, stale labels, and a folder a failed first export left without index.json.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { openContentStore } from '../../../electron/engine/store/content-store';
import { collectGarbage, findOrphans } from '../../../electron/engine/store/gc';
import { acquireLease, leasesDir } from '../../../electron/engine/store/leases';
import { fixture } from '../../helpers/fixtures';
import { copyFixture, presentDigests, sha256 } from './gc-helpers';
import { kill, startHolder } from './lease-helpers';

let base: string;
let n = 0;
const scratch = () => join(base, `d-${n++}`);
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-gc-lease-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('gc keeps leased blobs', () => {
  it('a blob leased by a running process is kept; once that process is killed, gc deletes it and the lease', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const store = await openContentStore(dir);
    const blob = Buffer.from('{"layers":[],"records":[]}');
    const { child, file } = await startHolder(dir, [sha256(blob)]);
    try {
      await store.writeBytes(blob);
      const first = await collectGarbage(dir);
      assert.deepEqual(first.leased, [{ digest: sha256(blob), size: blob.length }]);
      assert.ok(!first.deleted.some((d) => d.digest === sha256(blob)));
      assert.ok(await store.has(sha256(blob)));
      assert.deepEqual(first.leases, { live: 1, expired: 0 });
    } finally {
      await kill(child);
    }
    const dry = await collectGarbage(dir, { dryRun: true });
    assert.ok(dry.deleted.some((d) => d.digest === sha256(blob)), 'the dry run plans to delete it');
    assert.ok(existsSync(file), 'a dry run leaves the expired lease');
    const second = await collectGarbage(dir);
    assert.deepEqual(second.deleted.map((d) => d.digest), [sha256(blob)]);
    assert.deepEqual(second.leases, { live: 0, expired: 1 });
    assert.equal(existsSync(file), false, 'the expired lease was removed');
  });

  it('an in-process lease: kept while held, deleted after release', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const lease = await acquireLease(dir, { purpose: 'test' });
    const store = await openContentStore(dir, { beforePublish: (d) => lease.add([d]) });
    const { digest } = await store.writeBytes(Buffer.from('written under a lease'));
    const garbage = (await collectGarbage(dir, { dryRun: true })).deleted.map((d) => d.digest);
    assert.ok(!garbage.includes(digest));
    assert.deepEqual((await collectGarbage(dir)).leased.map((d) => d.digest), [digest]);
    assert.ok((await findOrphans(dir)).items.every((i) => i.digest !== digest), 'the Orphans view does not offer it either');
    await lease.release();
    assert.deepEqual((await collectGarbage(dir)).deleted.map((d) => d.digest), [digest]);
  });
});

describe('gc clears what dead exports leave', () => {
  it('ingest files whose writer is gone are removed; those of live or leased writers and foreign names are kept', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const { child } = await startHolder(dir, []);
    try {
      const dead = await deadPid();
      const ingest = join(dir, 'ingest');
      await mkdir(ingest, { recursive: true });
      const names = {
        dead: [`cachescope-${dead}-0a1b2c3d4e5f6071`, `cachescope-${dead}-0a1b2c3d4e5f6072.link`, `cachescope-${dead}-0a1b2c3d4e5f6073.copy`],
        live: [`cachescope-${child.pid}-0a1b2c3d4e5f6074`, `cachescope-${process.pid}-0a1b2c3d4e5f6075`],
        foreign: ['containerd-ingest-ref', 'notes.txt'],
      };
      for (const name of [...names.dead, ...names.live, ...names.foreign]) await writeFile(join(ingest, name), 'partial');
      const dry = await collectGarbage(dir, { dryRun: true });
      assert.deepEqual(dry.ingest, [...names.dead].sort());
      assert.equal((await readdir(ingest)).length, 7, 'a dry run removes nothing');
      const real = await collectGarbage(dir);
      assert.deepEqual(real.ingest, [...names.dead].sort());
      assert.deepEqual((await readdir(ingest)).sort(), [...names.live, ...names.foreign].sort());
    } finally {
      await kill(child);
    }
    // The holder is gone now: its ingest file goes too.
    assert.equal((await collectGarbage(dir)).ingest.length, 1);
  });

  it('labels of deleted or absent blobs are dropped; a variant label stays while its variant exists', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const store = await openContentStore(dir);
    const absentSource = sha256('a source blob that lives in another layout');
    const variant = await store.writeBytes(Buffer.from('a converted variant, tagged nowhere'));
    const present = presentDigests(dir)[0];
    const variantOf = (d: string) => JSON.stringify({ digest: d, size: 1, diffID: sha256('x') });
    await store.setLabel(absentSource, 'cachescope.io/variant.zstd', variantOf(variant.digest));
    await store.setLabel(absentSource, 'cachescope.io/variant.gzip', variantOf(present));
    await store.setLabel(absentSource, 'containerd.io/uncompressed', sha256('y'));
    await store.setLabel(present, 'containerd.io/uncompressed', sha256('z'));
    await store.setLabel(sha256('nothing'), 'containerd.io/uncompressed', sha256('w'));
    const dry = await collectGarbage(dir, { dryRun: true });
    assert.equal(dry.labels, 3, 'the dry run counts what it would drop');
    assert.equal(Object.keys(await store.getLabels(absentSource)).length, 3, 'and drops nothing');
    const report = await collectGarbage(dir);
    assert.deepEqual(report.deleted.map((d) => d.digest), [variant.digest]);
    // zstd variant (deleted), the absent source's own label, and the label of a blob that never was.
    assert.equal(report.labels, 3);
    assert.deepEqual(await store.getLabels(absentSource), { 'cachescope.io/variant.gzip': variantOf(present) });
    assert.deepEqual(await store.getLabels(present), { 'containerd.io/uncompressed': sha256('z') });
    assert.deepEqual(await store.getLabels(sha256('nothing')), {});
    assert.equal((await collectGarbage(dir)).labels, 0, 'nothing left to drop');
  });
});

describe('a folder without index.json (a failed first export)', () => {
  async function leftover(): Promise<{ dir: string; digests: string[] }> {
    const dir = scratch();
    const store = await openContentStore(dir);
    const digests = [];
    for (const text of ['layer one', 'layer two']) digests.push((await store.writeBytes(Buffer.from(text))).digest);
    return { dir, digests: digests.sort() };
  }

  it('is refused, saying what is there and what to do, and nothing is deleted', async () => {
    const { dir, digests } = await leftover();
    for (const dryRun of [true, false]) {
      await assert.rejects(collectGarbage(dir, { dryRun }), (e: unknown) => e instanceof CacheError && e.code === 'invalid-source' && /no index\.json/.test(e.message) && /2 blob\(s\)/.test(e.message) && e.message.includes('--no-index'));
    }
    assert.deepEqual(presentDigests(dir), digests);
  });

  it('with noIndex every blob no running export holds is garbage', async () => {
    const { dir, digests } = await leftover();
    const lease = await acquireLease(dir, { purpose: 'a first export still running' });
    await lease.add([digests[0]]);
    const dry = await collectGarbage(dir, { dryRun: true, noIndex: true });
    assert.equal(dry.noIndex, true);
    assert.deepEqual(dry.deleted.map((d) => d.digest), [digests[1]]);
    assert.deepEqual(presentDigests(dir), digests);
    const real = await collectGarbage(dir, { noIndex: true });
    assert.deepEqual(real.deleted.map((d) => d.digest), [digests[1]]);
    assert.deepEqual(real.leased.map((d) => d.digest), [digests[0]]);
    await lease.release();
    assert.deepEqual((await collectGarbage(dir, { noIndex: true })).deleted.map((d) => d.digest), [digests[0]]);
    assert.deepEqual(await readdir(leasesDir(dir)), []);
  });

  it('a folder with neither index.json nor blobs/ is not a layout, flag or not', async () => {
    const dir = scratch();
    await mkdir(dir);
    for (const noIndex of [false, true]) {
      await assert.rejects(collectGarbage(dir, { noIndex }), (e: unknown) => e instanceof CacheError && e.code === 'invalid-source' && /not an OCI layout/.test(e.message));
    }
    await assert.rejects(collectGarbage(join(dir, 'nope')), (e: unknown) => e instanceof CacheError && e.code === 'not-found');
  });
});
