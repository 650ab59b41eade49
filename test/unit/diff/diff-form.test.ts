/**
 * A form change is a difference (issue 8, item 9): index vs image manifest, OCI vs Docker media types.
 * The diff reports it in its result, the CLI's text and --json, and exits 1 as diffoci does, even when
 * blobs, records and results are the same (the same cache re-exported in another form).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandIo } from '../../../electron/cli/io';
import { main } from '../../../electron/cli/main';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { diffCaches } from '../../../shared/diff/diff-caches';
import type { CacheDiff } from '../../../shared/diff/types';
import { FIXTURES } from '../../helpers/fixtures';

const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const IMAGE_MANIFEST = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const DOCKER_LIST = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');

function capture(): CommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTty: false };
}

async function diffOf(a: string, b: string): Promise<CacheDiff> {
  return diffCaches((await openCacheSource(a)).model, (await openCacheSource(b)).model);
}

describe('diff: form changes', () => {
  it('real BuildKit exports of one build: index, image manifest, Docker manifest list', async () => {
    const ab = await diffOf(INDEX, IMAGE_MANIFEST);
    assert.deepEqual(ab.form.changes, ['manifest form: index → image-manifest']);
    assert.deepEqual([ab.form.a.variant, ab.form.a.mediaTypes, ab.form.b.variant, ab.form.b.mediaTypes], ['index', 'oci', 'image-manifest', 'oci']);
    const bc = await diffOf(IMAGE_MANIFEST, DOCKER_LIST);
    assert.deepEqual(bc.form.changes, ['manifest form: image-manifest → index', 'media types: OCI → Docker']);
    assert.equal(bc.form.b.manifestMediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.deepEqual(bc.form.b.layerMediaTypes, ['application/vnd.docker.image.rootfs.diff.tar.gzip']);
    const ac = await diffOf(INDEX, DOCKER_LIST);
    assert.deepEqual(ac.form.changes, ['media types: OCI → Docker']);
    for (const d of [ab, bc, ac]) assert.equal(d.form.changed, true);
    const same = await diffOf(DOCKER_LIST, DOCKER_LIST);
    assert.deepEqual([same.form.changed, same.form.changes, same.identical], [false, [], true]);
  });

  it('the CLI names the form change in its text and its JSON', async () => {
    const text = capture();
    assert.equal(await main(['diff', IMAGE_MANIFEST, DOCKER_LIST], text), 1);
    assert.match(text.stdout.join('\n'), /^form changed:\n {2}manifest form: image-manifest → index\n {2}media types: OCI → Docker$/m);
    const json = capture();
    assert.equal(await main(['diff', INDEX, IMAGE_MANIFEST, '--json'], json), 1);
    const out = JSON.parse(json.stdout[0]) as CacheDiff;
    assert.equal(out.form.changed, true);
    assert.deepEqual(out.form.changes, ['manifest form: index → image-manifest']);
  });

  describe('the same cache re-exported in another form (same blobs, records and results)', () => {
    let dir = '';
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cachescope-diff-form-'));
      // Cachescope's own exporter, with BuildKit's options: nothing converted, only the packaging changes.
      const forms: [string, string[]][] = [
        ['index', ['--opt', 'image-manifest=false']],
        ['docker', ['--opt', 'image-manifest=false', '--opt', 'oci-mediatypes=false']],
      ];
      for (const [name, opts] of forms) assert.equal(await main(['export', IMAGE_MANIFEST, join(dir, name), ...opts, '--json'], capture()), 0, name);
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('is not "identical" and exits 1, as diffoci', async () => {
      for (const [b, changes] of [
        [join(dir, 'index'), ['manifest form: image-manifest → index']],
        [join(dir, 'docker'), ['manifest form: image-manifest → index', 'media types: OCI → Docker']],
      ] as const) {
        const d = await diffOf(IMAGE_MANIFEST, b);
        // Only the form differs: every blob is on both sides.
        assert.ok(d.blobs.every((r) => r.side === 'both'), 'the same blobs');
        assert.deepEqual([d.newRecords, d.goneRecords, d.resultChanged, d.divergences], [[], [], [], []]);
        assert.deepEqual(d.form.changes, changes);
        assert.equal(d.identical, false);
        const io = capture();
        assert.equal(await main(['diff', IMAGE_MANIFEST, b], io), 1);
        const report = io.stdout.join('\n');
        assert.match(report, /^different$/m);
        assert.doesNotMatch(report, /identical/);
        for (const c of changes) assert.ok(report.includes(`  ${c}`), c);
      }
    });

    it('OCI index against Docker manifest list: media types only', async () => {
      const io = capture();
      assert.equal(await main(['diff', join(dir, 'index'), join(dir, 'docker'), '--json'], io), 1);
      const out = JSON.parse(io.stdout[0]) as CacheDiff;
      assert.deepEqual([out.identical, out.form.changes], [false, ['media types: OCI → Docker']]);
    });
  });
});
