/**
 * `cachescope export` to a registry known to refuse the index form warns before pushing (stderr, and
 * a `pushWarnings` event first in --json), then, pushed anyway, the refusal is explained. The registry
 * is a real distribution 2.8 behind the strict proxy imitating Harbor, named
 * `harbor.cachescope.test:<port>` through a forward proxy that maps test names to 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { imitateRegistry, startForwardProxy, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, ForwardProxy, RunningRegistry } from '../../helpers/registry/index';

const BIN = join(REPO, 'bin', 'cachescope.mjs');
const TEST_DOMAIN = '.cachescope.test';

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('pre-push warnings in the CLI', () => {
  let registry: RunningRegistry;
  let strict: CountingProxy;
  let forward: ForwardProxy;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let host: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-warnings-'));
    registry = await startRegistry();
    strict = await startProxy(registry, { faults: imitateRegistry('harbor') });
    forward = await startForwardProxy({ resolve: (h) => (h.endsWith(TEST_DOMAIN) ? '127.0.0.1' : h) });
    host = `harbor${TEST_DOMAIN}:${strict.port}`;
    const docker = join(tmp, 'docker');
    await mkdir(docker, { recursive: true });
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: {} }));
    env = {
      ...process.env,
      DOCKER_CONFIG: docker,
      CACHESCOPE_CACHE_DIR: join(tmp, 'cache'),
      XDG_CACHE_HOME: join(tmp, 'xdg'),
      CACHESCOPE_CLI: 'source',
      HTTP_PROXY: forward.url,
      HTTPS_PROXY: forward.url,
      NO_PROXY: '',
      http_proxy: forward.url,
      https_proxy: forward.url,
      no_proxy: '',
    };
  });
  after(async () => {
    await forward?.stop();
    await strict?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('the index form to a Harbor host: warned first (stderr and --json), then the 404 is explained', async () => {
    const src = join(FIXTURES, 'buildkit-v0.24-index-gzip');
    const r = await cli(['export', src, `${host}/proj/cache:main`, '--opt', 'image-manifest=false', '--opt', 'registry.insecure=true', '--json'], env);
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`cachescope export: warning: ${host.replace(/\./g, '\\.')} is Harbor, which refuses the index form of a cache manifest`));
    assert.match(r.stderr, /\n {2}fix: image-manifest=true/);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; warnings?: { kind: string }[] });
    assert.equal(events[0].event, 'pushWarnings', 'the warnings come before any progress');
    assert.deepEqual(events[0].warnings!.map((w) => w.kind), ['index-form']);
    // Pushed anyway: Harbor's answer, what it means and the fix.
    assert.match(r.stderr, /404/);
    assert.match(r.stderr, /meaning: this registry does not accept the index form/);
    assert.ok(strict.requests().some((q) => q.method === 'PUT' && q.path.includes('/manifests/main') && q.status === 404));
    assert.ok(forward.requests().length > 0, 'the test name went through the forward proxy');
  });

  it('the image-manifest form to the same host: no warning, and it is accepted', async () => {
    const src = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
    const r = await cli(['export', src, `${host}/proj/cache:ok`, '--opt', 'registry.insecure=true', '--json'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.ok(!r.stdout.includes('"pushWarnings"'));
  });
});
