/**
 * A push refused before any upload (the HEAD check, the upload POST) is explained like a refused
 * manifest: the registry's own words, then `meaning:` and `fix:`. An anonymous CLI push to the
 * htpasswd setup of a real distribution 2.8 meets its 401 at the first HEAD; a 403 on that HEAD (a
 * registry that lets the account see but not write) says "denied"; a 401 on the upload POST alone too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { Clock } from '../../../electron/engine/registry/retry';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, Fault, RunningRegistry } from '../../helpers/registry/index';

const instantClock: Clock = { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 };
const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');

/** The CLI with stdout and stderr apart. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('push refusals before the upload, explained', () => {
  let registry: RunningRegistry;
  let open: RunningRegistry;
  let tmp: string;
  const proxies: CountingProxy[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-advice-'));
    [registry, open] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry()]);
  });
  after(async () => {
    for (const p of proxies) await p.stop();
    await registry?.stop();
    await open?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('an anonymous CLI push to a registry that needs a login: 401 at the HEAD, the registry\'s words, meaning and "log in first"', async () => {
    const dockerConfig = join(tmp, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: {} }));
    const env = { PATH: process.env.PATH, HOME: join(tmp, 'home'), DOCKER_CONFIG: dockerConfig, CACHESCOPE_CACHE_DIR: join(tmp, 'cli-cache'), XDG_CACHE_HOME: join(tmp, 'xdg'), CACHESCOPE_CLI: 'source' };
    const r = await runCli(['export', FIXTURE, `${registry.host}/anon/cache:t`], env);
    assert.notEqual(r.code, 0, 'the push fails');
    // A HEAD answer has no body: the registry's words are its status line, verbatim.
    assert.match(r.stderr, /HEAD blob 127\.0\.0\.1:\d+\/anon\/cache@sha256:[0-9a-f]{64}: 401 Unauthorized\n/, r.stderr);
    assert.match(r.stderr, new RegExp(`\\n\\s*meaning: ${registry.host.replace(/\./g, '\\.')} wants credentials to push to anon/cache`), r.stderr);
    assert.match(r.stderr, new RegExp(`\\n\\s*fix: log in first: cachescope login ${registry.host.replace(/\./g, '\\.')}`), r.stderr);
    const sent = registry.requests().filter((q) => q.method !== 'HEAD' && q.method !== 'GET');
    assert.deepEqual(sent, [], 'nothing was uploaded');
  });

  async function pushThrough(faults: { method: string; path: RegExp; times: number; fault: Fault }[], repo: string): Promise<Error> {
    const proxy = await startProxy(open, { faults });
    proxies.push(proxy);
    const client = new RegistryClient({ env: {}, clock: instantClock, retry: { maxRetries: 1 } });
    try {
      const src = await openCacheSource(FIXTURE);
      await runExport({ opened: src, dest: 'unused', options: {}, registry: { ...parseRegistryDestination(`${proxy.host}/${repo}:t`)!, client, stateDir: null, historyFile: null, concurrency: 1 }, verifyMemo: null });
    } catch (err) {
      return err as Error;
    } finally {
      client.close();
    }
    assert.fail('the push succeeded');
  }

  it('403 DENIED on the HEAD check: the registry\'s words, "denies this account write access", ask for push permission', async () => {
    const err = await pushThrough([{ method: 'HEAD', path: /\/blobs\/sha256:/, times: Infinity, fault: { kind: 'status', status: 403 } }], 'denied/cache');
    assert.match(err.message, /HEAD blob .*: 403 Forbidden\n/);
    assert.match(err.message, /\n {2}meaning: .* denies this account write access to denied\/cache/);
    assert.match(err.message, /\n {2}fix: ask for write \(push\) permission/);
  });

  it('401 on the upload POST (HEAD allowed): explained as a missing login', async () => {
    const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    const err = await pushThrough([{ method: 'POST', path: /\/blobs\/uploads\/$/, times: Infinity, fault: { kind: 'status', status: 401, body } }], 'post/cache');
    assert.match(err.message, /POST blob upload .*401.*UNAUTHORIZED: authentication required/s);
    assert.match(err.message, /\n {2}fix: log in first: cachescope login /);
  });
});
