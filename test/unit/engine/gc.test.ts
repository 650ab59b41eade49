import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { openContentStore } from '../../../electron/engine/store/content-store';
import { acquireLock, readLockOwner } from '../../../electron/engine/store/file-lock';
import { collectGarbage, findOrphans } from '../../../electron/engine/store/gc';
import { putTag, readIndex, resolveTag } from '../../../electron/engine/store/layout-index';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FIXTURES = process.env.CACHESCOPE_FIXTURES ?? join(REPO, '..', 'shared', 'fixtures');
const DTO = join(FIXTURES, 'dto-pattern-local-image-manifest', '.docker-cache');
const MARGO = join(FIXTURES, 'margo-sandbox-local-image-manifest', '.buildx-cache');
const DRONE = join(FIXTURES, 'drone-buildkit-local-oci-index-2021', 'cache');
const FULLCYCLE = join(FIXTURES, 'fullcycle-local-image-manifest', 'docker-cache');

interface RawDescriptor {
  digest: string;
  mediaType: string;
  size: number;
}

/** Independent of gc.ts: what an image-manifest cache references (the manifest, its config, its layers). */
function referencedBy(dir: string, manifestDigest: string): Set<string> {
  const m = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as { config: RawDescriptor; layers: RawDescriptor[] };
  return new Set([manifestDigest, m.config.digest, ...m.layers.map((l) => l.digest)]);
}

function presentDigests(dir: string): string[] {
  return readdirSync(join(dir, 'blobs', 'sha256')).map((h) => `sha256:${h}`).sort();
}

/** dto's expected garbage, computed from the raw JSON: present blobs the tagged manifest does not reach. */
function dtoGarbage(): string[] {
  const index = JSON.parse(readFileSync(join(DTO, 'index.json'), 'utf8')) as { manifests: RawDescriptor[] };
  const live = referencedBy(DTO, index.manifests[0].digest);
  return presentDigests(DTO).filter((d) => !live.has(d));
}

describe('gc and orphans', () => {
  let base: string;
  let n = 0;
  /** A writable copy of a read-only fixture, with its timestamps (so its blobs are older than any gc). */
  const copyFixture = async (src: string) => {
    const dest = join(base, `copy-${n++}`);
    await cp(src, dest, { recursive: true, preserveTimestamps: true });
    const fix = async (p: string) => {
      const st = await stat(p);
      await chmod(p, st.isDirectory() ? 0o755 : 0o644);
      if (st.isDirectory()) for (const e of await readdir(p)) await fix(join(p, e));
    };
    await fix(dest);
    return dest;
  };
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-gc-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('the dto fixture has 3 orphaned manifests whose unreachable blobs are 8 files', () => {
    const garbage = dtoGarbage();
    const manifests = garbage.filter((d) => readFileSync(join(DTO, 'blobs', 'sha256', d.slice(7)), 'utf8').startsWith('{"schemaVersion":2'));
    assert.equal(manifests.length, 3);
    assert.equal(garbage.length, 8);
  });

  it('dry run reports exactly the unreachable blobs with their real sizes and deletes nothing', async () => {
    const dir = await copyFixture(DTO);
    const before = presentDigests(dir);
    const report = await collectGarbage(dir, { dryRun: true });
    const expected = dtoGarbage();
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.deleted.map((d) => d.digest).sort(), expected);
    assert.equal(report.blobs, expected.length);
    const sizes = expected.map((d) => readFileSync(join(DTO, 'blobs', 'sha256', d.slice(7))).length);
    assert.equal(report.bytes, sizes.reduce((a, b) => a + b, 0));
    for (const d of report.deleted) assert.equal(d.size, readFileSync(join(DTO, 'blobs', 'sha256', d.digest.slice(7))).length);
    assert.deepEqual(presentDigests(dir), before);
    assert.equal(existsSync(join(dir, 'index.json.lock')), false);
  });

  it('a dry run writes nothing at all, so it works on the read-only fixture itself and does not wait for the lock', async () => {
    const mtime = (await stat(DTO)).mtimeMs;
    const report = await collectGarbage(DTO, { dryRun: true, timeoutMs: 1 });
    assert.deepEqual(report.deleted.map((d) => d.digest).sort(), dtoGarbage());
    assert.equal((await stat(DTO)).mtimeMs, mtime, 'the fixture directory was not modified (no lock file created)');
  });

  it('a real run deletes exactly those, and the layout still opens with everything it references', async () => {
    const dir = await copyFixture(DTO);
    const expected = dtoGarbage();
    const before = presentDigests(dir);
    const report = await collectGarbage(dir, { dryRun: false });
    assert.deepEqual(report.deleted.map((d) => d.digest).sort(), expected);
    assert.deepEqual(presentDigests(dir), before.filter((d) => !expected.includes(d)));

    const index = await readIndex(dir);
    const manifest = resolveTag(index, 'latest');
    const m = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', manifest.digest.slice(7)), 'utf8')) as { config: RawDescriptor; layers: RawDescriptor[] };
    assert.ok(existsSync(join(dir, 'blobs', 'sha256', m.config.digest.slice(7))), 'config kept');
    const presentBefore = new Set(before);
    for (const l of m.layers) if (presentBefore.has(l.digest)) assert.ok(existsSync(join(dir, 'blobs', 'sha256', l.digest.slice(7))), `layer ${l.digest} kept`);

    // Idempotent: nothing left to collect, nothing orphaned.
    assert.equal((await collectGarbage(dir)).blobs, 0);
    assert.deepEqual((await findOrphans(dir)).items, []);
  });

  it('a putTag during gc waits for gc, and cannot tag blobs gc has just deleted', async () => {
    for (let round = 0; round < 4; round++) await putTagRacingGc();
  });

  async function putTagRacingGc(): Promise<void> {
    const dir = await copyFixture(DTO);
    const orphan = dtoGarbage().find((d) => readFileSync(join(DTO, 'blobs', 'sha256', d.slice(7)), 'utf8').startsWith('{"schemaVersion":2'))!;
    const orphanDesc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: orphan, size: readFileSync(join(DTO, 'blobs', 'sha256', orphan.slice(7))).length };
    const indexBefore = await readFile(join(dir, 'index.json'), 'utf8');

    const held = await acquireLock(join(dir, 'index.json.lock'));
    const gc = collectGarbage(dir);
    await new Promise((r) => setTimeout(r, 30));
    await held.release();
    // gc now holds the lock (or is about to): wait until it does, then try to tag the orphan.
    for (let i = 0; i < 200 && (await readLockOwner(join(dir, 'index.json.lock'))) === null; i++) await new Promise((r) => setTimeout(r, 1));
    const tagging = putTag(dir, 'old', orphanDesc, { requireBlobs: [orphan] });
    const report = await gc;
    const outcome = await tagging.then(
      () => 'tagged',
      (e: unknown) => (e instanceof CacheError ? e.code : String(e)),
    );
    if (report.deleted.some((d) => d.digest === orphan)) {
      // gc ran first: the tag must be refused, and index.json must not point at a deleted blob.
      assert.equal(outcome, 'missing-blob');
      assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), indexBefore);
    } else {
      // putTag won the race: then gc saw the new tag and kept the manifest and all it reaches.
      assert.equal(outcome, 'tagged');
      for (const d of referencedBy(dir, orphan)) if (presentDigests(DTO).includes(d)) assert.ok(existsSync(join(dir, 'blobs', 'sha256', d.slice(7))), d);
    }
    // Either way, everything index.json reaches and that existed is still there.
    const index = await readIndex(dir);
    for (const e of index.manifests) for (const d of referencedBy(dir, e.digest)) if (presentDigests(DTO).includes(d)) assert.ok(existsSync(join(dir, 'blobs', 'sha256', d.slice(7))), d);
  }

  it('gc and a putTag queued on the same held lock both complete, and the tag lands', async () => {
    const dir = await copyFixture(DTO);
    const index = await readIndex(dir);
    const live = resolveTag(index, 'latest');
    const held = await acquireLock(join(dir, 'index.json.lock'));
    const gc = collectGarbage(dir);
    const tagging = putTag(dir, 'also', live, { requireBlobs: [live.digest] });
    let tagged = false;
    void tagging.then(() => (tagged = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(tagged, false, 'putTag waits for the lock');
    await held.release();
    await Promise.all([gc, tagging]);
    assert.equal(resolveTag(await readIndex(dir), 'also').digest, live.digest);
  });

  it('skips (and never deletes) files under blobs/ that are not digests', async () => {
    const dir = await copyFixture(MARGO);
    const odd = ['blobs/sha256/not-a-digest', `blobs/sha256/${'A'.repeat(64)}`, 'blobs/md5/d41d8cd98f00b204e9800998ecf8427e', 'blobs/sha256/.hidden'];
    for (const p of odd) {
      await mkdir(dirname(join(dir, p)), { recursive: true });
      await writeFile(join(dir, p), 'x');
    }
    await mkdir(join(dir, 'blobs', 'sha256', 'b'.repeat(64)));
    const report = await collectGarbage(dir);
    assert.deepEqual(report.skipped.sort(), ['blobs/md5', `blobs/sha256/${'A'.repeat(64)}`, 'blobs/sha256/.hidden', `blobs/sha256/${'b'.repeat(64)}`, 'blobs/sha256/not-a-digest'].sort());
    for (const p of odd) assert.ok(existsSync(join(dir, p)), `${p} kept`);
    // margo's one orphaned generation: its manifest and config.
    assert.equal(report.blobs, 2);
  });

  it('refuses to run without index.json (it would delete everything) and leaves the folder alone', async () => {
    const dir = await copyFixture(DTO);
    await rm(join(dir, 'index.json'));
    const before = presentDigests(dir);
    await assert.rejects(collectGarbage(dir), (e: unknown) => e instanceof CacheError && e.code === 'invalid-source' && e.message.includes('index.json'));
    assert.deepEqual(presentDigests(dir), before);
  });

  it('refuses to guess when a reachable manifest cannot be read', async () => {
    const dir = await copyFixture(DTO);
    const live = resolveTag(await readIndex(dir), 'latest');
    const file = join(dir, 'blobs', 'sha256', live.digest.slice(7));
    await writeFile(file, '{not json');
    const before = presentDigests(dir);
    await assert.rejects(collectGarbage(dir), (e: unknown) => e instanceof CacheError && e.code === 'invalid-manifest' && e.message.includes(live.digest));
    assert.deepEqual(presentDigests(dir), before);
    // findOrphans still answers, and says why.
    const orphans = await findOrphans(dir);
    assert.equal(orphans.problems.length, 1);
  });

  it('follows an index-variant cache (layers and config listed in manifests[])', async () => {
    const dir = await copyFixture(DRONE);
    const report = await collectGarbage(dir, { dryRun: true });
    assert.equal(report.blobs, 0);
    assert.equal(report.reachable > presentDigests(dir).length, true, 'absent layers are reachable but absent, which is fine');
  });

  it('removes the labels of deleted blobs', async () => {
    const dir = await copyFixture(FULLCYCLE);
    const store = await openContentStore(dir);
    const { digest } = await store.writeBytes(Buffer.from('old variant'));
    await store.setLabel(digest, 'k', 'v');
    const report = await collectGarbage(dir);
    assert.deepEqual(report.deleted.map((d) => d.digest), [digest]);
    assert.equal(await store.getLabel(digest, 'k'), null);
  });

  it('findOrphans on the read-only fixtures: kinds guessed from content, nothing written', async () => {
    const dto = await findOrphans(DTO);
    assert.deepEqual(dto.items.map((i) => i.digest).sort(), dtoGarbage());
    const kinds = dto.items.reduce<Record<string, number>>((acc, i) => ({ ...acc, [i.kind]: (acc[i.kind] ?? 0) + 1 }), {});
    assert.deepEqual(kinds, { manifest: 3, config: 3, layer: 2 });
    assert.equal(dto.bytes, dto.items.reduce((a, i) => a + i.size, 0));
    const margo = await findOrphans(MARGO);
    assert.deepEqual(margo.items.map((i) => i.kind).sort(), ['config', 'manifest']);
    assert.deepEqual((await findOrphans(DRONE)).items, []);
    assert.deepEqual((await findOrphans(FULLCYCLE)).items, []);
    assert.equal(existsSync(join(DTO, 'index.json.lock')), false);

    const noIndex = join(base, 'no-index');
    await mkdir(join(noIndex, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(noIndex, 'blobs', 'sha256', createHash('sha256').update('x').digest('hex')), 'x');
    assert.deepEqual(await findOrphans(noIndex), { items: [], bytes: 0, skipped: [], noIndex: true, problems: [] });
  });

  it('honours an abort signal', async () => {
    const dir = await copyFixture(DTO);
    await assert.rejects(collectGarbage(dir, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(existsSync(join(dir, 'index.json.lock')), false);
    assert.equal(presentDigests(dir).length, presentDigests(DTO).length);
  });
});
