/**
 * gc and the Orphans view, on what mutation testing (npm run mutate) found untested: the exact words
 * of gc's refusals, errors on folders that are not layouts, sha512 and odd entries under blobs/,
 * the report's counts, label files gc must leave alone, and the kind the Orphans view guesses.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { openContentStore } from '../../../electron/engine/store/content-store';
import { clearDeadIngests, collectGarbage, findOrphans } from '../../../electron/engine/store/gc';
import { acquireLease, leasesDir } from '../../../electron/engine/store/leases';
import { fixture } from '../../helpers/fixtures';
import { blobFile, copyFixture, presentDigests, readIndexJson, referencedBy, sha256 } from './gc-helpers';

let base: string;
let n = 0;
const scratch = () => join(base, `d-${n++}`);
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-gc-mutants-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha512 = (data: string) => `sha512:${createHash('sha512').update(data).digest('hex')}`;

/** Blobs written straight into blobs/ with no index.json: what a failed first export leaves. */
async function leftover(contents: (string | Buffer)[]): Promise<{ dir: string; digests: string[] }> {
  const dir = scratch();
  const store = await openContentStore(dir);
  const digests = [];
  for (const c of contents) digests.push((await store.writeBytes(Buffer.from(c))).digest);
  return { dir, digests: digests.sort() };
}

async function refusal(p: Promise<unknown>): Promise<CacheError> {
  let caught: unknown;
  await p.then(
    () => undefined,
    (e: unknown) => (caught = e),
  );
  assert.ok(caught instanceof CacheError, `expected a CacheError, got ${String(caught)}`);
  return caught;
}

describe('gc refuses a folder without index.json, saying how much is there', () => {
  it('small blobs are counted in bytes, and no lease is mentioned when none is held', async () => {
    const { dir } = await leftover(['layer one', 'layer two!']);
    const e = await refusal(collectGarbage(dir));
    assert.equal(e.code, 'invalid-source');
    assert.ok(e.message.startsWith(`${dir} has no index.json, so nothing says which of its 2 blob(s) (19 bytes) are in use; a first export that failed before tagging leaves this. Run gc with --no-index`), e.message);
    assert.deepEqual(e.details, { file: join(dir, 'index.json'), blobs: 2, bytes: 19 });
  });

  it('a megabyte and more is given in MiB with one decimal', async () => {
    const { dir } = await leftover([Buffer.alloc(3 << 19, 1)]);
    const e = await refusal(collectGarbage(dir, { dryRun: true }));
    assert.match(e.message, /its 1 blob\(s\) \(1\.5 MiB\) are in use/);
  });

  it('exactly 1 MiB is already given in MiB, one byte less still in bytes', async () => {
    const exact = await leftover([Buffer.alloc(1 << 20, 2)]);
    assert.match((await refusal(collectGarbage(exact.dir))).message, /\(1\.0 MiB\)/);
    const less = await leftover([Buffer.alloc((1 << 20) - 1, 3)]);
    assert.match((await refusal(collectGarbage(less.dir))).message, /\(1048575 bytes\)/);
  });

  it('names the running exports whose leases keep their blobs either way', async () => {
    const { dir, digests } = await leftover(['held blob', 'loose blob']);
    const lease = await acquireLease(dir, { purpose: 'a first export still running' });
    try {
      await lease.add([digests[0]]);
      const e = await refusal(collectGarbage(dir));
      assert.ok(e.message.includes(`are in use; a first export that failed before tagging leaves this; 1 running export(s) hold a lease on it (pid ${process.pid}), their blobs are kept either way. Run gc with --no-index`), e.message);
      assert.deepEqual(presentDigests(dir), digests);
    } finally {
      await lease.release();
    }
  });

  it('a refusal removes no expired lease either', async () => {
    const { dir } = await leftover(['a blob']);
    const lease = await acquireLease(dir, { purpose: 'x' });
    // A lease file of a process that is gone: same record, another pid that cannot be running.
    const [name] = await readdir(leasesDir(dir));
    const record = JSON.parse(readFileSync(join(leasesDir(dir), name), 'utf8')) as { process: { pid: number } };
    record.process.pid = 2 ** 22 + 1;
    await writeFile(join(leasesDir(dir), 'dead.json'), JSON.stringify(record));
    await lease.release();
    await refusal(collectGarbage(dir));
    assert.deepEqual(await readdir(leasesDir(dir)), ['dead.json']);
    const report = await collectGarbage(dir, { noIndex: true });
    assert.deepEqual(report.leases, { live: 0, expired: 1 });
    assert.deepEqual(await readdir(leasesDir(dir)), []);
  });

  it('an index.json that is there but malformed is an error naming it, never "no index.json", even with noIndex', async () => {
    const dir = await copyFixture(fixture.dto, scratch());
    const before = presentDigests(dir);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2 }));
    for (const noIndex of [false, true]) {
      const e = await refusal(collectGarbage(dir, { noIndex }));
      assert.equal(e.code, 'invalid-manifest');
      assert.match(e.message, /manifests: expected an array/);
    }
    await writeFile(join(dir, 'index.json'), '{not json');
    for (const noIndex of [false, true]) {
      const e = await refusal(collectGarbage(dir, { noIndex }));
      assert.notEqual(e.code, 'invalid-source');
      assert.ok(e.message.includes(join(dir, 'index.json')) && !e.message.includes('has no index.json'), e.message);
    }
    assert.deepEqual(presentDigests(dir), before);
  });
});

describe('gc refuses when tagged manifests are absent, in words that fit the count', () => {
  async function withAbsent(count: number): Promise<{ dir: string; absent: string[]; garbage: number }> {
    const dir = await copyFixture(fixture.dto, scratch());
    const index = readIndexJson(dir);
    const live = referencedBy(dir, index.manifests[0].digest);
    const absent = Array.from({ length: count }, (_, i) => sha256(`a manifest that was never written ${i}`));
    const entries = absent.map((digest, i) => ({ mediaType: MANIFEST, digest, size: 100, annotations: { 'org.opencontainers.image.ref.name': `gone-${i}` } }));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ ...index, manifests: [...index.manifests, ...entries] }));
    return { dir, absent, garbage: presentDigests(dir).filter((d) => !live.has(d)).length };
  }

  it('one absent manifest: "is", "it references"', async () => {
    const { dir, absent, garbage } = await withAbsent(1);
    const e = await refusal(collectGarbage(dir));
    assert.equal(e.code, 'missing-blob');
    assert.match(e.message, new RegExp(`\\(${absent[0]}\\) is not in blobs/, so what it references is unknown and any of the ${garbage} unreferenced blob\\(s\\) may belong to it; restore the manifest`));
    assert.equal(e.details?.candidates, garbage);
    assert.equal((e.details?.unfollowed as string[]).length, 1);
  });

  it('two absent manifests: "are", "they reference"', async () => {
    const { dir, absent } = await withAbsent(2);
    const before = presentDigests(dir);
    const e = await refusal(collectGarbage(dir));
    assert.match(e.message, new RegExp(`\\(${absent[1]}\\) are not in blobs/, so what they reference is unknown`));
    assert.ok(e.message.includes(`(${absent[0]}), `), 'both are named, comma-separated');
    assert.deepEqual(presentDigests(dir), before);
  });
});

describe('gc on paths that are not layout folders', () => {
  it('a file is not a folder', async () => {
    const file = join(base, 'a-file');
    await writeFile(file, 'x');
    const e = await refusal(collectGarbage(file));
    assert.equal(e.code, 'invalid-source');
    assert.equal(e.message, `${file} is not a folder: gc works on an OCI layout folder`);
    assert.deepEqual(e.details, { path: file });
  });

  it('a path through a file is an io error naming it, not "no such folder"', async () => {
    const file = join(base, 'another-file');
    await writeFile(file, 'x');
    const e = await refusal(collectGarbage(join(file, 'cache')));
    assert.equal(e.code, 'io');
    assert.ok(e.message.startsWith(`cannot use ${join(file, 'cache')}: `), e.message);
    assert.deepEqual(e.details, { path: join(file, 'cache') });
  });

  it('a missing folder is "no such folder"', async () => {
    const dir = join(base, 'never-made');
    const e = await refusal(collectGarbage(dir));
    assert.equal(e.code, 'not-found');
    assert.equal(e.message, `${dir}: no such folder`);
    assert.deepEqual(e.details, { path: dir });
  });

  it('an empty folder (no index.json, no blobs/) is not a layout, naming the index.json it looked for', async () => {
    const dir = scratch();
    await mkdir(dir);
    const e = await refusal(collectGarbage(dir, { noIndex: true }));
    assert.equal(e.message, `${dir} is not an OCI layout: ${join(dir, 'index.json')} does not exist and there is no blobs/ folder`);
    assert.deepEqual(e.details, { file: join(dir, 'index.json') });
  });

  it('blobs that is a file, not a folder, is an io error naming it', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    await rm(join(dir, 'blobs'), { recursive: true });
    await writeFile(join(dir, 'blobs'), 'not a folder');
    for (const dryRun of [true, false]) {
      const e = await refusal(collectGarbage(dir, { dryRun }));
      assert.equal(e.code, 'io');
      assert.ok(e.message.startsWith(`cannot list ${join(dir, 'blobs')}: `), e.message);
    }
  });
});

describe('what gc lists under blobs/', () => {
  it('sha512 blobs are blobs too: unreachable ones are deleted, sorted, with their sizes', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const before = presentDigests(dir);
    const texts = ['zeta', 'alpha', 'mid'];
    await mkdir(join(dir, 'blobs', 'sha512'));
    for (const t of texts) await writeFile(join(dir, 'blobs', 'sha512', sha512(t).slice(7)), t);
    const report = await collectGarbage(dir);
    const expected512 = texts.map((t) => ({ digest: sha512(t), size: t.length })).sort((a, b) => (a.digest < b.digest ? -1 : 1));
    // margo's orphaned generation (sha256, so listed first) then the sha512 blobs, each folder sorted.
    const got = report.deleted;
    assert.deepEqual(got.slice(-3), expected512);
    const sha256s = got.slice(0, -3).map((d) => d.digest);
    assert.deepEqual(sha256s, [...sha256s].sort());
    assert.equal(report.bytes, got.reduce((a, d) => a + d.size, 0));
    assert.equal(report.blobs, got.length);
    assert.equal(report.dryRun, false);
    assert.equal(report.noIndex, false);
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha512')), []);
    assert.deepEqual(presentDigests(dir), before.filter((d) => !sha256s.includes(d)));
    assert.deepEqual(report.skipped, []);
  });

  it('blobs/sha256 that is a file is skipped, not read and not deleted', async () => {
    const dir = scratch();
    await mkdir(join(dir, 'blobs'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'sha256'), 'x');
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const report = await collectGarbage(dir);
    assert.deepEqual(report.skipped, ['blobs/sha256']);
    assert.equal(report.blobs, 0);
    assert.ok(existsSync(join(dir, 'blobs', 'sha256')));
  });

  it('a symbolic link named like a digest is skipped and kept', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const { symlink } = await import('node:fs/promises');
    const target = join(base, `target-${n}`);
    await writeFile(target, 'linked');
    const link = blobFile(dir, sha256('linked'));
    await symlink(target, link);
    const report = await collectGarbage(dir);
    assert.ok(report.skipped.includes(`blobs/sha256/${sha256('linked').slice(7)}`));
    assert.ok(!report.deleted.some((d) => d.digest === sha256('linked')));
    assert.ok(existsSync(link) && existsSync(target));
  });

  it('the report counts what the tagged manifest reaches', async () => {
    const dir = await copyFixture(fixture.dto, scratch());
    const live = referencedBy(dir, readIndexJson(dir).manifests[0].digest);
    const report = await collectGarbage(dir, { dryRun: true });
    assert.equal(report.reachable, live.size);
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.leases, { live: 0, expired: 0 });
  });
});

describe('label files gc leaves alone', () => {
  const labelsDir = (dir: string, alg: string) => join(dir, '.cachescope', 'labels', alg);

  it('unreadable, non-string, foreign-folder and non-.json label files are neither counted nor touched', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const absent = sha256('a blob that is not here').slice(7);
    const files: Record<string, string> = {
      [join(labelsDir(dir, 'sha256'), `${absent}.json`)]: '{not json',
      [join(labelsDir(dir, 'sha256'), `${sha256('b').slice(7)}.json`)]: JSON.stringify({ k: 1 }),
      [join(labelsDir(dir, 'sha256'), `${sha256('c').slice(7)}.json`)]: JSON.stringify(['x']),
      [join(labelsDir(dir, 'sha256'), `${sha256('d').slice(7)}.txt`)]: JSON.stringify({ k: 'v' }),
      [join(labelsDir(dir, 'sha256'), 'not-a-digest.json')]: JSON.stringify({ k: 'v' }),
      [join(labelsDir(dir, 'md5'), 'd41d8cd98f00b204e9800998ecf8427e.json')]: JSON.stringify({ k: 'v' }),
    };
    for (const [file, text] of Object.entries(files)) {
      await mkdir(join(file, '..'), { recursive: true });
      await writeFile(file, text);
    }
    for (const dryRun of [true, false]) assert.equal((await collectGarbage(dir, { dryRun })).labels, 0);
    for (const [file, text] of Object.entries(files)) assert.equal(readFileSync(file, 'utf8'), text, file);
  });

  it('a variant label whose value is not JSON, or names no digest, is dropped; the rest of the file stays', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const store = await openContentStore(dir);
    const present = presentDigests(dir)[0];
    await store.setLabel(present, 'cachescope.io/variant.zstd', 'not json');
    await store.setLabel(present, 'cachescope.io/variant.gzip', JSON.stringify({ digest: 'sha256:short' }));
    await store.setLabel(present, 'cachescope.io/variant.estargz', JSON.stringify({ digest: present }));
    await store.setLabel(present, 'containerd.io/uncompressed', sha256('u'));
    const dry = await collectGarbage(dir, { dryRun: true });
    assert.equal(dry.labels, 2);
    assert.equal(Object.keys(await store.getLabels(present)).length, 4);
    assert.equal((await collectGarbage(dir)).labels, 2);
    assert.deepEqual(await store.getLabels(present), { 'cachescope.io/variant.estargz': JSON.stringify({ digest: present }), 'containerd.io/uncompressed': sha256('u') });
  });

  it('a file of only variant labels on an absent source stays while a variant exists and goes with the last one', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const store = await openContentStore(dir);
    const source = sha256('source elsewhere');
    const present = presentDigests(dir)[0];
    await store.setLabel(source, 'cachescope.io/variant.gzip', JSON.stringify({ digest: present }));
    assert.equal((await collectGarbage(dir)).labels, 0);
    assert.deepEqual(Object.keys(await store.getLabels(source)), ['cachescope.io/variant.gzip']);
    const file = join(labelsDir(dir, 'sha256'), `${source.slice(7)}.json`);
    assert.ok(existsSync(file));
    const gone = sha256('a variant that was deleted');
    await store.setLabel(source, 'cachescope.io/variant.gzip', JSON.stringify({ digest: gone }));
    assert.equal((await collectGarbage(dir)).labels, 1);
    assert.equal(existsSync(file), false, 'an empty label file is removed');
  });

  it('a leased blob that is not on disk yet keeps its labels', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const store = await openContentStore(dir);
    const coming = sha256('being written by an export');
    await store.setLabel(coming, 'containerd.io/uncompressed', sha256('v'));
    const lease = await acquireLease(dir, { purpose: 'export' });
    try {
      await lease.add([coming]);
      assert.equal((await collectGarbage(dir)).labels, 0);
      assert.deepEqual(await store.getLabels(coming), { 'containerd.io/uncompressed': sha256('v') });
    } finally {
      await lease.release();
    }
    assert.equal((await collectGarbage(dir)).labels, 1);
  });
});

describe('the kind the Orphans view guesses', () => {
  async function kinds(blobs: Record<string, string | Buffer>): Promise<Record<string, string>> {
    const dir = await copyFixture(fixture.margo, scratch());
    const names: Record<string, string> = {};
    for (const [label, content] of Object.entries(blobs)) {
      const digest = sha256(content);
      await writeFile(blobFile(dir, digest), content);
      names[digest] = label;
    }
    const orphans = await findOrphans(dir);
    const out: Record<string, string> = {};
    for (const i of orphans.items) if (names[i.digest]) out[names[i.digest]] = i.kind;
    assert.equal(orphans.bytes, orphans.items.reduce((a, i) => a + i.size, 0));
    return out;
  }

  it('from content: manifests, cache configs, layers and the rest', async () => {
    const got = await kinds({
      empty: '',
      manifest: JSON.stringify({ schemaVersion: 2, config: { digest: sha256('c'), size: 1 }, layers: [] }),
      index: JSON.stringify({ schemaVersion: 2, manifests: [] }),
      configNoDigest: JSON.stringify({ config: { Env: [] } }),
      configDigestNotString: JSON.stringify({ config: { digest: 5 } }),
      configNull: JSON.stringify({ config: null, other: 1 }),
      layersConfig: JSON.stringify({ layers: [] }),
      recordsConfig: JSON.stringify({ records: [] }),
      itemsConfig: JSON.stringify({ Items: [] }),
      itemsNotArray: JSON.stringify({ Items: 'x' }),
      emptyObject: '{}',
      notJson: '{ tar bytes that start with a brace',
      binary: Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]),
      leadingSpace: ' {"layers":[]}',
    });
    assert.deepEqual(got, {
      empty: 'unknown',
      manifest: 'manifest',
      index: 'manifest',
      configNoDigest: 'unknown',
      configDigestNotString: 'unknown',
      configNull: 'unknown',
      layersConfig: 'config',
      recordsConfig: 'config',
      itemsConfig: 'config',
      itemsNotArray: 'unknown',
      emptyObject: 'unknown',
      notJson: 'layer',
      binary: 'layer',
      leadingSpace: 'layer',
    });
  });

  it('a blob larger than gc follows is a layer, unread, even if it is JSON', async () => {
    const big = `{"manifests":[],"pad":"${'x'.repeat(4 << 20)}"}`;
    const atLimit = `{"manifests":[],"pad":"${'y'.repeat((4 << 20) - 25)}"}`;
    assert.equal(Buffer.byteLength(atLimit), 4 << 20);
    assert.deepEqual(await kinds({ big, atLimit }), { big: 'layer', atLimit: 'manifest' });
  });
});

describe('findOrphans', () => {
  it('still answers with a lease file it cannot read (the Orphans view is read-only)', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    await mkdir(leasesDir(dir), { recursive: true });
    await writeFile(join(leasesDir(dir), 'broken.json'), '{not json');
    const orphans = await findOrphans(dir);
    assert.deepEqual(orphans.items.map((i) => i.kind).sort(), ['config', 'manifest']);
    assert.equal(orphans.noIndex, false);
    assert.deepEqual(orphans.problems, []);
    // gc itself refuses: it cannot tell what that lease protects.
    await assert.rejects(collectGarbage(dir), (e: unknown) => e instanceof CacheError && e.code === 'invalid-json');
  });

  it('lists what it skipped under blobs/', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    await writeFile(join(dir, 'blobs', 'sha256', 'not-a-digest'), 'x');
    const orphans = await findOrphans(dir);
    assert.deepEqual(orphans.skipped, ['blobs/sha256/not-a-digest']);
  });
});

describe('an abort stops the listing of blobs/', () => {
  it('gc --no-index --dry-run and findOrphans on a layout with nothing tagged stop on an aborted signal', async () => {
    const { dir, digests } = await leftover(['one', 'two']);
    await assert.rejects(collectGarbage(dir, { dryRun: true, noIndex: true, signal: AbortSignal.abort() }), { name: 'AbortError' });
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await assert.rejects(findOrphans(dir, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    await assert.rejects(collectGarbage(dir, { dryRun: true, signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.deepEqual(presentDigests(dir), digests);
    assert.equal((await findOrphans(dir)).items.length, 2);
  });
});

describe('ingest leftovers: only our own names, whole', () => {
  it('names that merely contain or extend our pattern are foreign and kept; a dead writer\'s folder goes whole', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const dead = 2 ** 22 + 1; // above any pid_max: never running
    const ingest = join(dir, 'ingest');
    await mkdir(ingest, { recursive: true });
    const foreign = [`old-cachescope-${dead}-0a1b`, `cachescope-${dead}-0a1b.link~`, `cachescope-${dead}-0a1bZZ`];
    for (const name of foreign) await writeFile(join(ingest, name), 'partial');
    const folder = `cachescope-${dead}-0a1b2c`;
    await mkdir(join(ingest, folder, 'sub'), { recursive: true });
    await writeFile(join(ingest, folder, 'sub', 'part'), 'x');
    const report = await collectGarbage(dir);
    assert.deepEqual(report.ingest, [folder]);
    assert.deepEqual((await readdir(ingest)).sort(), [...foreign].sort());
  });
});

describe('added after the measured run (not in its score)', () => {
  it('clearDeadIngests (run by an export before it starts) really deletes a dead writer\'s ingest file', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    const name = `cachescope-${2 ** 22 + 1}-0a1b`;
    await mkdir(join(dir, 'ingest'), { recursive: true });
    await writeFile(join(dir, 'ingest', name), 'partial');
    assert.deepEqual(await clearDeadIngests(dir), [name]);
    assert.deepEqual(await readdir(join(dir, 'ingest')), []);
  });

  it('findOrphans on a malformed index.json is an error naming it, not "no index"', async () => {
    const dir = await copyFixture(fixture.margo, scratch());
    await writeFile(join(dir, 'index.json'), '{not json');
    await assert.rejects(findOrphans(dir), (e: unknown) => e instanceof CacheError && e.message.includes(join(dir, 'index.json')));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: 'x' }));
    await assert.rejects(findOrphans(dir), (e: unknown) => e instanceof CacheError && /manifests/.test(e.message));
  });

  it('a label file mixing string and non-string values is left alone', async () => {
    const dir = await copyFixture(fixture.fullcycle, scratch());
    const file = join(dir, '.cachescope', 'labels', 'sha256', `${sha256('absent').slice(7)}.json`);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, JSON.stringify({ a: 'v', b: 1 }));
    assert.equal((await collectGarbage(dir)).labels, 0);
    assert.equal(readFileSync(file, 'utf8'), JSON.stringify({ a: 'v', b: 1 }));
  });
});
