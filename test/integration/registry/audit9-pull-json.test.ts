/**
 * Audit of issue 9's pull, as a user runs it: `cachescope export <registry ref> DIR --json` against a
 * real distribution 2.8 with htpasswd, credentials from DOCKER_AUTH_CONFIG, layers on the download
 * threads. No credential text in stdout or stderr; every layer ends `done` (downloaded), and a second
 * pull into another folder takes every layer from the blob cache (`cached`) with no layer GET at all.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture } from '../../helpers/registry/index';
import { registrySuite } from '../../helpers/registry/suite';
import { runCli } from '../export/cli-process';
import type { CliOutcome } from '../export/cli-process';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

const reg = registrySuite('audit9-pull-json', {
  registry: { auth: 'htpasswd' },
  client: false,
  setup: async (s) => {
    await pushFixture(s.registry, FIXTURE, 'audit/json:cache');
  },
});

interface LayerLine {
  blob: string;
  state: string;
  origin?: string;
}

/** Each layer's last state in the run's `exportProgress` events. */
function lastStates(out: CliOutcome): Map<string, LayerLine> {
  const states = new Map<string, LayerLine>();
  for (const line of out.stdout.trim().split('\n')) {
    const e = JSON.parse(line) as { event: string; layers?: LayerLine[] };
    if (e.event === 'exportProgress') for (const l of e.layers ?? []) states.set(l.blob, l);
  }
  return states;
}

it('export --json from a registry with credentials: no secret printed, layers done, then cached', async () => {
  const [user, password] = Object.entries(reg.registry.users)[0];
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  const env = {
    DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [reg.proxy.host]: { auth: basic } } }),
    DOCKER_CONFIG: join(reg.tmp, 'no-docker-config'),
    CACHESCOPE_CACHE_DIR: join(reg.tmp, 'cache'),
    XDG_CACHE_HOME: join(reg.tmp, 'xdg'),
  };
  const layers = (layoutManifest(FIXTURE).json.layers as { digest: string }[]).map((l) => l.digest);
  const source = `${reg.proxy.host}/audit/json:cache`;
  reg.proxy.clear();
  const first = await runCli(['export', source, join(reg.tmp, 'out1'), '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  for (const s of [password, basic]) {
    assert.ok(!first.stdout.includes(s) && !first.stderr.includes(s), 'no credential text in the output');
  }
  const done = lastStates(first);
  for (const d of layers) {
    assert.equal(done.get(d)?.state, 'done', `${d}: ${JSON.stringify(done.get(d))}`);
    assert.equal(done.get(d)?.origin, 'downloaded');
    const gets = reg.proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(d));
    assert.equal(gets.length, 1, `one GET for ${d}`);
    assert.equal(gets[0].authorization, true);
  }
  assert.ok(await taggedManifest(join(reg.tmp, 'out1')));
  await assertAllBlobsVerified(join(reg.tmp, 'out1'));

  reg.proxy.clear();
  const second = await runCli(['export', source, join(reg.tmp, 'out2'), '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  const cached = lastStates(second);
  for (const d of layers) assert.equal(cached.get(d)?.origin, 'cached', `${d}: ${JSON.stringify(cached.get(d))}`);
  assert.deepEqual(reg.proxy.requests().filter((r) => r.method === 'GET' && layers.some((d) => r.path.endsWith(d))), [], 'no layer fetched again');
  await assertAllBlobsVerified(join(reg.tmp, 'out2'));
});
