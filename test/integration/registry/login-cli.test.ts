/**
 * `cachescope login` / `logout` against real distribution 2.8 registries (htpasswd Basic, and Bearer
 * tokens from the test token server): credentials are checked first, then stored as `docker login`
 * stores them: in config.json `auths` (mode 0600), or through a credsStore helper (a real
 * docker-credential-* script on PATH) with only an empty `auths` entry left in the file. The stored
 * login then works for `tags`; logout erases it. No password appears in any output.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../../helpers/fixtures';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const BIN = join(REPO, 'bin', 'cachescope.mjs');
const INDEX = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const PASSWORD = 'pa55-Wörd-s3cret-value';
const WRONG = 'wrong-Passw0rd-guess';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Everything any run printed, to grep for secrets at the end. */
const printed: string[] = [];

function cli(env: NodeJS.ProcessEnv, args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      printed.push(stdout, stderr);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

async function readConfig(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cachescope-login-'));
});
after(async () => {
  for (const text of printed) {
    assert.ok(!text.includes(PASSWORD), `the password was printed: ${text}`);
    assert.ok(!text.includes(WRONG), `a wrong password was printed: ${text}`);
    assert.ok(!text.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')), 'the auth string was printed');
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

for (const auth of ['htpasswd', 'token'] as const) {
  describe(`login with ${auth === 'htpasswd' ? 'htpasswd Basic' : 'Bearer tokens from the token server'}, stored in auths`, () => {
    let registry: RunningRegistry;
    let env: NodeJS.ProcessEnv;
    let dockerConfig: string;
    before(async () => {
      registry = await startRegistry({ auth, users: { alice: PASSWORD } });
      await pushFixture(registry, INDEX, 'team/cache:index', { username: 'alice', password: PASSWORD });
      dockerConfig = join(tmp, `docker-${auth}`);
      env = { ...process.env, DOCKER_CONFIG: dockerConfig, XDG_CACHE_HOME: join(tmp, 'cache') };
    });
    after(async () => registry?.stop());

    it('refuses a wrong password, says why, and stores nothing', async () => {
      const out = await cli(env, ['login', registry.host, '-u', 'alice', '--password-stdin'], `${WRONG}\n`);
      assert.equal(out.code, 1);
      assert.match(out.stderr, new RegExp(`login to ${registry.host.replace(/\./g, '\\.')} failed: the registry refused these credentials`));
      await assert.rejects(stat(join(dockerConfig, 'config.json')), { code: 'ENOENT' });
    });

    it('without a login, the repository is refused', async () => {
      const out = await cli(env, ['tags', `${registry.host}/team/cache`]);
      assert.equal(out.code, 1);
      assert.match(out.stderr, /401|UNAUTHORIZED|denied/i);
    });

    it('checks the password, stores it in auths (0600), and tags then works', async () => {
      const out = await cli(env, ['login', registry.host, '-u', 'alice', '--password-stdin'], `${PASSWORD}\n`);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, `logged in to ${registry.host} as alice\ncredentials stored in ${join(dockerConfig, 'config.json')}\n`);
      const file = join(dockerConfig, 'config.json');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const config = await readConfig(dockerConfig);
      // The trailing newline of --password-stdin is not part of the password, as in docker.
      assert.deepEqual(config.auths, { [registry.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } });
      const tags = await cli(env, ['tags', `${registry.host}/team/cache`, '--json']);
      assert.equal(tags.code, 0, tags.stderr);
      assert.match(tags.stdout, /"tag":"index"/);
    });

    it('logout erases the entry; the repository is refused again', async () => {
      const out = await cli(env, ['logout', registry.host]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), `removed login credentials for ${registry.host}`);
      assert.deepEqual((await readConfig(dockerConfig)).auths, {});
      const tags = await cli(env, ['tags', `${registry.host}/team/cache`]);
      assert.equal(tags.code, 1);
      const again = await cli(env, ['logout', registry.host]);
      assert.equal(again.stdout.trim(), `not logged in to ${registry.host}`);
    });
  });
}

describe('login through a credsStore helper', () => {
  let registry: RunningRegistry;
  let env: NodeJS.ProcessEnv;
  let dockerConfig: string;
  let helpers: Awaited<ReturnType<typeof installCredentialHelpers>>;
  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
    await pushFixture(registry, INDEX, 'team/cache:index', { username: 'alice', password: PASSWORD });
    const bin = join(tmp, 'helper-bin');
    await mkdir(bin, { recursive: true });
    helpers = await installCredentialHelpers(bin, ['cachescope-test']);
    dockerConfig = join(tmp, 'docker-helper');
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'cachescope-test', psFormat: 'table {{.ID}}' }));
    env = { ...process.env, PATH: helpers.path, DOCKER_CONFIG: dockerConfig, XDG_CACHE_HOME: join(tmp, 'cache') };
  });
  after(async () => registry?.stop());

  it('stores the secret in the helper, leaves an empty auths entry, keeps other settings, and tags works', async () => {
    const out = await cli(env, ['login', registry.host, '-u', 'alice', '--password-stdin', '--json'], PASSWORD);
    assert.equal(out.code, 0, out.stderr);
    const answer = JSON.parse(out.stdout) as { loggedInAs: string; storedIn: { kind: string; helper: string; setting: string } };
    assert.equal(answer.loggedInAs, 'alice');
    assert.deepEqual([answer.storedIn.kind, answer.storedIn.helper, answer.storedIn.setting], ['helper', 'cachescope-test', 'credsStore']);
    const stores = (await helpers.calls()).filter((c) => c.action === 'store');
    assert.equal(stores.length, 1);
    assert.deepEqual(JSON.parse(stores[0].input), { ServerURL: registry.host, Username: 'alice', Secret: PASSWORD });
    const config = await readConfig(dockerConfig);
    assert.deepEqual(config, { credsStore: 'cachescope-test', psFormat: 'table {{.ID}}', auths: { [registry.host]: {} } });
    assert.ok(!(await readFile(join(dockerConfig, 'config.json'), 'utf8')).includes(PASSWORD));
    const tags = await cli(env, ['tags', `${registry.host}/team/cache`, '--json']);
    assert.equal(tags.code, 0, tags.stderr);
  });

  it('logout erases it through the helper', async () => {
    const out = await cli(env, ['logout', registry.host]);
    assert.equal(out.code, 0, out.stderr);
    const erases = (await helpers.calls()).filter((c) => c.action === 'erase');
    assert.deepEqual(erases.map((c) => c.input.trim()), [registry.host]);
    assert.deepEqual((await readConfig(dockerConfig)).auths, {});
    const tags = await cli(env, ['tags', `${registry.host}/team/cache`]);
    assert.equal(tags.code, 1);
  });

  it('refuses a password given on the command line, naming --password-stdin', async () => {
    const out = await cli(env, ['login', registry.host, '-u', 'alice', '-p', PASSWORD]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /a password on the command line is refused .*use --password-stdin/);
  });
});
