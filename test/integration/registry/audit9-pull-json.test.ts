/**
 * Audit of issue 9's pull, as a user runs it: `cachescope export <registry ref> DIR --json` against a
 * real distribution 2.8 with htpasswd, credentials from DOCKER_AUTH_CONFIG, layers on the download
 * threads. No credential text in stdout or stderr; every layer ends `done` (downloaded), and a second
 * pull into another folder takes every layer from the blob cache (`cached`) with no layer GET at all.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { runCli } from '../export/cli-process';
import type { CliOutcome } from '../export/cli-process';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;

before(async () => {
  registry = await startRegistry({ auth: 'htpasswd' });
  proxy = await startProxy(registry);
  work = await mkdtemp(join(tmpdir(), 'cachescope-audit9-pull-json-'));
  await pushFixture(registry, FIXTURE, 'audit/json:cache');
});
after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
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
  const [user, password] = Object.entries(registry.users)[0];
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  const env = {
    DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [proxy.host]: { auth: basic } } }),
    DOCKER_CONFIG: join(work, 'no-docker-config'),
    CACHESCOPE_CACHE_DIR: join(work, 'cache'),
    XDG_CACHE_HOME: join(work, 'xdg'),
  };
  const layers = (layoutManifest(FIXTURE).json.layers as { digest: string }[]).map((l) => l.digest);
  const source = `${proxy.host}/audit/json:cache`;
  proxy.clear();
  const first = await runCli(['export', source, join(work, 'out1'), '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  for (const s of [password, basic]) {
    assert.ok(!first.stdout.includes(s) && !first.stderr.includes(s), 'no credential text in the output');
  }
  const done = lastStates(first);
  for (const d of layers) {
    assert.equal(done.get(d)?.state, 'done', `${d}: ${JSON.stringify(done.get(d))}`);
    assert.equal(done.get(d)?.origin, 'downloaded');
    const gets = proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(d));
    assert.equal(gets.length, 1, `one GET for ${d}`);
    assert.equal(gets[0].authorization, true);
  }
  assert.ok(await taggedManifest(join(work, 'out1')));
  await assertAllBlobsVerified(join(work, 'out1'));

  proxy.clear();
  const second = await runCli(['export', source, join(work, 'out2'), '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  const cached = lastStates(second);
  for (const d of layers) assert.equal(cached.get(d)?.origin, 'cached', `${d}: ${JSON.stringify(cached.get(d))}`);
  assert.deepEqual(proxy.requests().filter((r) => r.method === 'GET' && layers.some((d) => r.path.endsWith(d))), [], 'no layer fetched again');
  await assertAllBlobsVerified(join(work, 'out2'));
});
