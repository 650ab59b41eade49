/** inspect reads index.json with the same reader as gc and export: a symlinked index.json is refused, naming the file. */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { fixture } from '../../helpers/fixtures';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('a symlinked index.json', () => {
  it('is refused by inspect, naming the file, while the real file beside it opens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cachescope-index-link-'));
    dirs.push(dir);
    await cp(fixture.margo, dir, { recursive: true });
    await rename(join(dir, 'index.json'), join(dir, 'real-index.json'));
    await symlink(join(dir, 'real-index.json'), join(dir, 'index.json'));
    await assert.rejects(openCacheSource(dir), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.match(err.message, /index\.json is a symbolic link/);
      assert.ok(err.message.includes(join(dir, 'index.json')));
      return true;
    });
    await rm(join(dir, 'index.json'));
    await rename(join(dir, 'real-index.json'), join(dir, 'index.json'));
    const opened = await openCacheSource(dir);
    assert.ok(opened.model.norm.layers.length > 0);
  });
});
