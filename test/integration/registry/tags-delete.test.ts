/**
 * `cachescope tags REPO --delete TAG [--force]` against real distribution 2.8 registries: with deletes
 * enabled the manifest goes (202) and its tag with it; a manifest other tags share is refused unless
 * --force (then every tag on it goes); with deletes disabled the registry's 405 UNSUPPORTED is shown
 * in its own words, and nothing is deleted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RegistryTagsResult } from '../../../shared/contract/requests';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';

const IMAGE_MANIFEST = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');

let tmp: string;
let env: NodeJS.ProcessEnv;

function cli(...args: string[]): Promise<CliRun> {
  return runCli(args, { env });
}

async function tagsOf(registry: RunningRegistry): Promise<string[]> {
  const out = await cli('tags', `${registry.host}/team/cache`, '--json');
  assert.equal(out.code, 0, out.stderr);
  return (JSON.parse(out.stdout) as RegistryTagsResult).rows.map((r) => r.tag).sort();
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-tags-delete-'));
  env = { ...process.env, DOCKER_CONFIG: join(tmp, 'docker'), XDG_CACHE_HOME: join(tmp, 'cache') };
});
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('deletes enabled', () => {
  let registry: RunningRegistry;
  let indexDigest: string;
  before(async () => {
    registry = await startRegistry({ deleteEnabled: true });
    indexDigest = (await pushFixture(registry, INDEX, 'team/cache:index')).digest;
    await pushFixture(registry, IMAGE_MANIFEST, 'team/cache:main');
    await pushFixture(registry, IMAGE_MANIFEST, 'team/cache:main-copy');
  });
  after(async () => registry?.stop());

  it('deletes a tag whose manifest no other tag shares: 202, and it is gone', async () => {
    registry.clearRequests();
    const out = await cli('tags', `${registry.host}/team/cache`, '--delete', 'index');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.trim(), `deleted manifest ${indexDigest} (tag index)`);
    const deletes = (await registry.settledRequests()).filter((r) => r.method === 'DELETE');
    assert.deepEqual(deletes.map((r) => [r.path, r.status]), [[`/v2/team/cache/manifests/${indexDigest}`, 202]]);
    assert.deepEqual(await tagsOf(registry), ['main', 'main-copy']);
  });

  it('refuses to delete a manifest other tags share, and deletes them all with --force', async () => {
    const refused = await cli('tags', `${registry.host}/team/cache`, '--delete', 'main', '--json');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /main: its manifest sha256:[0-9a-f]{64} is also tagged main-copy; deleting it would remove that tag too\. Not deleted/);
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'forbidden');
    assert.deepEqual(await tagsOf(registry), ['main', 'main-copy']);

    const forced = await cli('tags', `${registry.host}/team/cache`, '--delete', 'main', '--force', '--json');
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual((JSON.parse(forced.stdout) as { removedTags: string[] }).removedTags, ['main', 'main-copy']);
    assert.deepEqual(await tagsOf(registry), []);
  });

  it('says which tag does not exist', async () => {
    const out = await cli('tags', `${registry.host}/team/cache`, '--delete', 'nope');
    assert.equal(out.code, 1);
    assert.match(out.stderr, /has no tag "nope"/);
  });
});

describe('deletes disabled (the default)', () => {
  let registry: RunningRegistry;
  before(async () => {
    registry = await startRegistry();
    await pushFixture(registry, INDEX, 'team/cache:index');
  });
  after(async () => registry?.stop());

  it("shows the registry's 405 UNSUPPORTED verbatim and deletes nothing", async () => {
    const out = await cli('tags', `${registry.host}/team/cache`, '--delete', 'index');
    assert.equal(out.code, 1);
    assert.match(out.stderr, /405/);
    assert.match(out.stderr, /UNSUPPORTED: The operation is unsupported\./);
    assert.deepEqual(await tagsOf(registry), ['index']);
  });
});
