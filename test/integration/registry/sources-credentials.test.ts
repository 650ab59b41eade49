/**
 * Opening registry caches with docker's credentials, through the CLI process: `auths` (htpasswd
 * Basic), a `credsStore` helper and `credHelpers` (a real helper script on PATH), DOCKER_AUTH_CONFIG,
 * and an identity token from a real token server. No credential text appears in stdout, stderr or
 * --json output, also when the credentials are wrong.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { CacheView } from '../../../shared/cache/view-types';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import type { FakeHelpers } from '../../helpers/credential-helper';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const exec = promisify(execFile);
const BIN = join(REPO, 'bin', 'cachescope.mjs');
const LAYOUT = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const PASSWORD = 'alice-secret';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let tmp: string;
let helpers: FakeHelpers;
let n = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with a DOCKER_CONFIG holding `config` (plus `extra` env) and a fresh blob cache. */
async function cliWith(config: unknown, extra: Record<string, string>, ...args: string[]): Promise<Run> {
  const dir = join(tmp, `docker-${n++}`);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  // Only this test's docker settings: none of the runner's own DOCKER_AUTH_CONFIG.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: helpers.path, DOCKER_CONFIG: dir, XDG_CACHE_HOME: join(tmp, `cache-${n}`) };
  delete env.DOCKER_AUTH_CONFIG;
  Object.assign(env, extra);
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd: REPO, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Run;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function assertNoSecret(run: Run, ...secrets: string[]): void {
  for (const s of secrets) {
    assert.ok(!run.stdout.includes(s), `a credential leaked into stdout: ${s}`);
    assert.ok(!run.stderr.includes(s), `a credential leaked into stderr: ${s}`);
  }
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-sources-cred-'));
  await mkdir(join(tmp, 'bin'));
  helpers = await installCredentialHelpers(join(tmp, 'bin'), ['test', 'other']);
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('registry sources with htpasswd Basic auth', () => {
  let reg: RunningRegistry;
  const manifest = layoutManifest(LAYOUT);
  const secrets = [PASSWORD, b64(`alice:${PASSWORD}`)];
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    await pushFixture(reg, LAYOUT, 'team/cache:main');
  });
  after(async () => {
    await reg?.stop();
  });

  const opens = (run: Run) => {
    assert.equal(run.code, 0, run.stderr);
    const view = JSON.parse(run.stdout) as CacheView;
    assert.equal(view.manifest?.digest, manifest.digest);
    assert.equal(view.blobLocation, 'registry');
    assertNoSecret(run, ...secrets);
  };

  it('auths in config.json', async () => {
    opens(await cliWith({ auths: { [reg.host]: { auth: b64(`alice:${PASSWORD}`) } } }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json'));
  });

  it('a credsStore helper and a per-host credHelpers entry', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    opens(await cliWith({ credsStore: 'test' }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json'));
    opens(await cliWith({ credsStore: 'nonexistent', credHelpers: { [reg.host]: 'other' } }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json'));
    const calls = await helpers.calls();
    assert.ok(calls.some((c) => c.helper === 'docker-credential-test' && c.action === 'get' && c.input.trim() === reg.host));
    assert.ok(calls.some((c) => c.helper === 'docker-credential-other' && c.action === 'get' && c.input.trim() === reg.host));
  });

  it('DOCKER_AUTH_CONFIG, and verify through the blob cache with the same credentials', async () => {
    const extra = { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [reg.host]: { auth: b64(`alice:${PASSWORD}`) } } }) };
    opens(await cliWith({}, extra, 'inspect', `${reg.host}/team/cache:main`, '--json'));
    const verify = await cliWith({}, extra, 'verify', `${reg.host}/team/cache:main`, '--json');
    assert.equal(verify.code, 0, verify.stderr);
    const report = JSON.parse(verify.stdout) as { checked: number; ok: boolean };
    assert.ok(report.ok && report.checked > 1);
    assertNoSecret(verify, ...secrets);
  });

  it('wrong or missing credentials fail with the registry\'s words and no credential text', async () => {
    const wrong = 'wrong-pass-8472';
    const run = await cliWith({ auths: { [reg.host]: { auth: b64(`alice:${wrong}`) } } }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /401|UNAUTHORIZED|unauthorized/);
    assertNoSecret(run, wrong, b64(`alice:${wrong}`));
    const anonymous = await cliWith({}, {}, 'inspect', `${reg.host}/team/cache:main`);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /401|UNAUTHORIZED|unauthorized/);
  });
});

describe('registry sources with Bearer tokens and an identity token', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'token' });
    await pushFixture(reg, LAYOUT, 'team/cache:main');
  });
  after(async () => {
    await reg?.stop();
  });

  it('opens with an identitytoken (OAuth refresh grant) and never prints it', async () => {
    const refresh = reg.tokenServer!.issueRefreshToken('alice');
    reg.tokenServer!.clear();
    const run = await cliWith({ auths: { [reg.host]: { auth: b64('alice:'), identitytoken: refresh } } }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as CacheView).manifest?.digest, layoutManifest(LAYOUT).digest);
    assert.ok(reg.tokenServer!.requests().some((r) => r.grantType === 'refresh_token' && r.status === 200));
    assertNoSecret(run, refresh);
  });

  it('opens with a password through the token server', async () => {
    const run = await cliWith({ auths: { [reg.host]: { auth: b64(`alice:${PASSWORD}`) } } }, {}, 'inspect', `${reg.host}/team/cache:main`, '--json');
    assert.equal(run.code, 0, run.stderr);
    assertNoSecret(run, PASSWORD, b64(`alice:${PASSWORD}`));
  });
});
