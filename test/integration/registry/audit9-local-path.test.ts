/**
 * Audit of issue 9's "a path that exists locally is never sent to a network", against a real
 * distribution 2.8 behind the counting proxy (the unit test in test/unit/sources uses a stand-in):
 * the CLI, run where a folder is named exactly like the registry reference, opens and exports the
 * folder and the proxy sees no request; run elsewhere, the same string opens the registry cache.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { it } from 'node:test';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { writableCopy } from '../../helpers/layout-copy';
import { pushFixture } from '../../helpers/registry/index';
import { registrySuite } from '../../helpers/registry/suite';

const exec = promisify(execFile);
const BIN = join(REPO, 'bin', 'cachescope.mjs');
const LAYOUT = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

const reg = registrySuite('audit9-local', {
  client: false,
  setup: async (s) => {
    await pushFixture(s.registry, LAYOUT, 'audit/local:tag');
  },
});

async function cli(cwd: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CACHESCOPE_CACHE_DIR: join(reg.tmp, 'cache'), DOCKER_CONFIG: join(reg.tmp, 'docker') } });
}

it('a folder named like the reference is opened and exported, and the registry gets no request', async () => {
  const ref = `${reg.proxy.host}/audit/local:tag`;
  const shadow = join(reg.tmp, 'shadow');
  await mkdir(join(shadow, reg.proxy.host, 'audit'), { recursive: true });
  await writableCopy(LAYOUT, join(shadow, ref));
  reg.proxy.clear();
  const local = JSON.parse((await cli(shadow, 'inspect', ref, '--json')).stdout) as { blobLocation?: string };
  assert.notEqual(local.blobLocation, 'registry');
  await cli(shadow, 'export', ref, join(reg.tmp, 'out'), '--json');
  assert.deepEqual(reg.proxy.requests(), [], 'nothing reached the registry');

  // The control: the same string where no such folder exists is the registry cache.
  const elsewhere = join(reg.tmp, 'elsewhere');
  await mkdir(elsewhere);
  const remote = JSON.parse((await cli(elsewhere, 'inspect', ref, '--json')).stdout) as { blobLocation?: string };
  assert.equal(remote.blobLocation, 'registry');
  assert.ok(reg.proxy.requests().some((r) => r.path === '/v2/audit/local/manifests/tag'));
});
