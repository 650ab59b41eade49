/** `verify --shallow` on a local layout: existence only (a stat per referenced blob), nothing hashed. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { verifyOpened } from '../../../electron/engine/store/verify-opened';
import { FIXTURES } from '../../helpers/fixtures';
import { writableCopy } from '../../helpers/layout-copy';

describe('verify --shallow on a local layout', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-verify-shallow-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('lists a missing blob and does not notice a corrupt one (nothing is read)', async () => {
    const dir = await writableCopy(join(FIXTURES, 'buildkit-v0.24-index-gzip'), join(tmp, 'cache'));
    const opened = await openCacheSource(dir);
    const blobs = [...new Set(opened.model.norm.layers.map((l) => l.blob))];
    await rm(join(dir, 'blobs', 'sha256', blobs[0].slice(7)));
    await writeFile(join(dir, 'blobs', 'sha256', blobs[1].slice(7)), 'not the layer');
    const shallow = await verifyOpened(opened, { shallow: true });
    assert.deepEqual(shallow.missing, [blobs[0]]);
    assert.deepEqual(shallow.problems, []);
    assert.equal(shallow.bytes, 0);
    // manifest + config + layers, one of them gone.
    assert.equal(shallow.checked, blobs.length + 2 - 1);
    const deep = await verifyOpened(opened, { scope: 'source' });
    // The deep run does read it: digest, size and diffID all disagree.
    assert.deepEqual([...new Set(deep.problems.map((p) => p.digest))], [blobs[1]]);
  });
});
