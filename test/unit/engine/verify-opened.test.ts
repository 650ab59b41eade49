/**
 * verifyOpened: what `verify` and the app's Verify button run. By default every blob in the layout
 * folder is hashed (the cache's own, other generations', orphans), and zstd layers are checked
 * against their diffIDs with the real zstd codec.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { verifyOpened } from '../../../electron/engine/store/verify-opened';
import { FIXTURES, fixture } from '../../helpers/fixtures';
import { addTaggedManifest, editTopManifest, putBlob, sha256Of, writableCopy } from '../../helpers/layout-copy';

const MIXED = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** The mixed fixture's blobs: one manifest, one cache config, seven layers (two zstd). */
const MIXED_BLOBS = 9;

let tmp: string;
let n = 0;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-verify-opened-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A copy of the mixed cache with a second tag, one clean orphan and one orphan whose bytes are not its name. */
async function crowdedCopy(): Promise<{ dir: string; other: string; cleanOrphan: string; corruptOrphan: string }> {
  const dir = await writableCopy(MIXED, join(tmp, `crowded-${n++}`));
  const other = await addTaggedManifest(dir, 'old', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Of('{}'), size: 2 }, layers: [] });
  await putBlob(dir, '{}');
  const cleanOrphan = await putBlob(dir, 'an orphan nothing references');
  const corruptOrphan = await putBlob(dir, 'bytes that are not what the name says', sha256Of('the original bytes'));
  return { dir, other, cleanOrphan, corruptOrphan };
}

describe('verifyOpened', () => {
  it('hashes every blob in the folder by default: other generations and orphans too, orphans named as such', async () => {
    const c = await crowdedCopy();
    const report = await verifyOpened(await openCacheSource(c.dir));
    assert.equal(report.scope, 'folder');
    // Nine of the cache, the "old" manifest and its empty config, two orphans.
    assert.equal(report.checked, MIXED_BLOBS + 4);
    assert.equal(report.others, 4);
    assert.deepEqual(new Set(report.orphans), new Set([c.cleanOrphan, c.corruptOrphan]));
    assert.deepEqual(report.missing, []);
    assert.equal(report.problems.length, 1);
    const p = report.problems[0];
    assert.equal(p.kind, 'digest-mismatch');
    assert.equal(p.digest, c.corruptOrphan);
    assert.equal(p.owner, 'orphan');
    assert.match(p.message, /content hashes to sha256:[0-9a-f]{64}, not sha256:/);
    assert.equal(report.ok, false);
  });

  it('scope "source" hashes only what the opened cache references', async () => {
    const c = await crowdedCopy();
    const report = await verifyOpened(await openCacheSource(c.dir), { scope: 'source' });
    assert.equal(report.scope, 'source');
    assert.equal(report.checked, MIXED_BLOBS);
    assert.equal(report.others, 0);
    assert.equal(report.orphans, null);
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
  });

  it('a real zstd layer whose descriptor carries a wrong diffID is diffid-mismatch (the zstd decompressor is wired in)', async () => {
    const dir = await writableCopy(MIXED, join(tmp, `zstd-diffid-${n++}`));
    const clean = await verifyOpened(await openCacheSource(dir));
    assert.deepEqual(clean.problems, []);
    let victim = '';
    await editTopManifest(dir, (m) => {
      const layers = m.layers as { mediaType: string; digest: string; annotations: Record<string, string> }[];
      const z = layers.find((l) => l.mediaType === ZSTD)!;
      victim = z.digest;
      z.annotations['containerd.io/uncompressed'] = sha256Of('not the tar inside');
    });
    const report = await verifyOpened(await openCacheSource(dir));
    assert.deepEqual(report.problems.map((p) => [p.kind, p.digest, p.owner]), [['diffid-mismatch', victim, 'source']]);
    assert.match(report.problems[0].message, /zstd layer decompresses to sha256:[0-9a-f]{64}, but its diffID/);
  });

  it('a fixture whose layers are absent reports them missing and its present blobs clean', async () => {
    const report = await verifyOpened(await openCacheSource(fixture.dto));
    assert.deepEqual(report.problems, []);
    assert.ok(report.missing.length > 0);
    assert.equal(report.ok, false);
    assert.ok(report.checked >= 2);
  });
});
