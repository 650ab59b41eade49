/**
 * Credentials and tokens against a real registry: htpasswd Basic and Bearer tokens from a real token
 * server, with docker's config (auths, credsStore and credHelpers through a real helper script on
 * PATH, DOCKER_AUTH_CONFIG, identity tokens). Secrets never appear in errors or request logs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { repositoryScope } from '../../../electron/engine/registry/auth';
import { DockerCredentialStore } from '../../../electron/engine/registry/credentials';
import { originOf } from '../../../electron/engine/registry/transport';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import type { FakeHelpers } from '../../helpers/credential-helper';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const layout = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const PASSWORD = 'alice-secret';

let base: string;
let helpers: FakeHelpers;
let n = 0;
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-regauth-'));
  await mkdir(join(base, 'bin'));
  helpers = await installCredentialHelpers(join(base, 'bin'), ['test', 'other']);
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A DOCKER_CONFIG dir holding `config`, and a client reading it (plus `extra` env). */
async function clientWith(config: unknown, extra: Record<string, string> = {}, options: RegistryClientOptions = {}) {
  const dir = join(base, `cfg-${n++}`);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const events: string[] = [];
  const env = { PATH: helpers.path, DOCKER_CONFIG: dir, ...extra };
  const client = new RegistryClient({ env, credentials: new DockerCredentialStore({ env }), onRequest: (e) => events.push(JSON.stringify(e)), ...options });
  return { client, events };
}

function assertNoSecret(texts: string[], ...secrets: string[]) {
  for (const t of texts) for (const s of secrets) assert.ok(!t.includes(s), `secret leaked into: ${t}`);
}

describe('a registry that asks for no auth', () => {
  it('never runs a credential helper', async () => {
    const reg = await startRegistry();
    try {
      await pushFixture(reg, layout, 'cache:latest');
      const before = (await helpers.calls()).length;
      const { client } = await clientWith({ credsStore: 'test' });
      await client.getManifest(`${reg.host}/cache:latest`);
      client.close();
      assert.equal((await helpers.calls()).length, before);
    } finally {
      await reg.stop();
    }
  });
});

describe('htpasswd Basic auth with docker config auths', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    await pushFixture(reg, layout, 'cache:latest');
  });
  after(async () => {
    await reg?.stop();
  });

  it('reads with the auths entry', async () => {
    const { client } = await clientWith({ auths: { [reg.host]: { auth: b64(`alice:${PASSWORD}`) } } });
    const m = await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(await client.listTags({ registry: reg.host, repository: 'cache' }), ['latest']);
    client.close();
  });

  it('says the registry wants credentials when there are none, and never echoes a wrong password', async () => {
    const anon = await clientWith({});
    await assert.rejects(anon.client.getManifest(`${reg.host}/cache:latest`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'forbidden');
      assert.match(err.message, /401 Unauthorized: UNAUTHORIZED: authentication required/);
      return true;
    });
    anon.client.close();
    const wrong = 'wrong-password-123';
    const bad = await clientWith({ auths: { [reg.host]: { auth: b64(`alice:${wrong}`) } } });
    let message = '';
    await assert.rejects(bad.client.getManifest(`${reg.host}/cache:latest`), (err: unknown) => {
      assert.ok(err instanceof CacheError && err.code === 'forbidden');
      message = `${err.message} ${JSON.stringify(err.details)}`;
      return true;
    });
    assertNoSecret([message, ...bad.events], wrong, b64(`alice:${wrong}`));
    bad.client.close();
  });
});

describe('Bearer tokens from a real token server', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'token', tokenOptions: { expiresIn: null } });
    await pushFixture(reg, layout, 'cache:latest');
    await pushFixture(reg, layout, 'other:latest');
  });
  after(async () => {
    await reg?.stop();
  });
  const tokens = () => reg.tokenServer!.requests();

  it('gets credentials from the credsStore helper and asks for exactly the pull scope', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    reg.tokenServer!.clear();
    const { client, events } = await clientWith({ credsStore: 'test' });
    await client.getManifest(`${reg.host}/cache:latest`);
    const t = tokens();
    assert.equal(t.length, 1);
    assert.deepEqual({ credentials: t[0].credentials, account: t[0].account, scopes: t[0].scopes, status: t[0].status }, { credentials: 'basic', account: 'alice', scopes: ['repository:cache:pull'], status: 200 });
    assert.deepEqual((await helpers.calls()).at(-1), { helper: 'docker-credential-test', action: 'get', input: reg.host });
    assertNoSecret(events, PASSWORD);
    client.close();
  });

  it('asks the per-host credHelper rather than credsStore', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    const { client } = await clientWith({ credsStore: 'nonexistent', credHelpers: { [reg.host]: 'other' } });
    await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal((await helpers.calls()).at(-1)!.helper, 'docker-credential-other');
    client.close();
  });

  it('prefers DOCKER_AUTH_CONFIG over the config file', async () => {
    reg.tokenServer!.clear();
    const { client } = await clientWith(
      { auths: { [reg.host]: { auth: b64('alice:stale-file-password') } } },
      { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { [reg.host]: { auth: b64(`alice:${PASSWORD}`) } } }) },
    );
    await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal(tokens().at(-1)!.status, 200);
    client.close();
  });

  it('trades an identity token through the OAuth POST (refresh_token grant)', async () => {
    reg.tokenServer!.clear();
    const refresh = reg.tokenServer!.issueRefreshToken('alice');
    const { client, events } = await clientWith({ auths: { [reg.host]: { auth: b64('alice:'), identitytoken: refresh } } });
    await client.getManifest(`${reg.host}/cache:latest`);
    const t = tokens();
    assert.equal(t.length, 1);
    assert.deepEqual({ method: t[0].method, grantType: t[0].grantType, clientId: t[0].clientId, scopes: t[0].scopes }, { method: 'POST', grantType: 'refresh_token', clientId: 'cachescope', scopes: ['repository:cache:pull'] });
    assertNoSecret(events, refresh);
    client.close();
  });

  it('falls back to GET when the token server answers the POST with 404 (as GCR does)', async () => {
    const strict = await startRegistry({ auth: 'token', tokenOptions: { allowPost: false } });
    try {
      await pushFixture(strict, layout, 'cache:latest');
      strict.tokenServer!.clear();
      const { client } = await clientWith({ auths: { [strict.host]: { auth: b64(`alice:${PASSWORD}`), identitytoken: 'some-refresh-token' } } });
      await client.getManifest(`${strict.host}/cache:latest`);
      assert.deepEqual(strict.tokenServer!.requests().map((r) => [r.method, r.status]), [['POST', 404], ['GET', 200]]);
      client.close();
    } finally {
      await strict.stop();
    }
  });

  it('never reuses a token for another repository', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    reg.tokenServer!.clear();
    const { client } = await clientWith({ credsStore: 'test' });
    await client.getManifest(`${reg.host}/cache:latest`);
    await client.getManifest(`${reg.host}/cache:latest`);
    await client.getManifest(`${reg.host}/other:latest`);
    assert.deepEqual(tokens().map((t) => t.scopes), [['repository:cache:pull'], ['repository:other:pull']]);
    client.close();
  });

  it('keeps a token 60 s when expires_in is absent, then fetches a new one (fake clock)', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    let now = Date.now();
    const { client } = await clientWith({ credsStore: 'test' }, {}, { clock: { now: () => now } });
    reg.tokenServer!.clear();
    await client.getManifest(`${reg.host}/cache:latest`);
    now += 59_000;
    await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal(tokens().length, 1);
    now += 2_000;
    await client.getManifest(`${reg.host}/cache:latest`);
    assert.equal(tokens().length, 2);
    client.close();
  });

  it('answers a 401 on a cached token with one fresh token', async () => {
    await helpers.setEntries({ [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    const { client } = await clientWith({ credsStore: 'test' });
    await client.ping(reg.host);
    const url = new URL(`http://${reg.host}/`);
    const scopes = [repositoryScope('cache', 'pull')];
    // A token the registry will refuse for this repository (issued for no access at all).
    client.auth.tokens.set(originOf(url), scopes, { token: reg.tokenServer!.issueToken('alice', []), expiresIn: 300 });
    reg.tokenServer!.clear();
    const m = await client.getManifest(`${reg.host}/cache:latest`);
    assert.ok(m.bytes.length > 0);
    assert.equal(tokens().length, 1);
    client.close();
  });

  it("reports insufficient_scope with the registry's words when the token server grants nothing", async () => {
    reg.tokenServer!.clear();
    const { client } = await clientWith({});
    await assert.rejects(client.getManifest(`${reg.host}/cache:latest`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'forbidden');
      assert.match(err.message, /401 Unauthorized: UNAUTHORIZED: authentication required.*\(insufficient_scope\)/);
      return true;
    });
    const t = tokens();
    assert.deepEqual([t.length, t[0].credentials, t[0].granted], [1, 'none', []]);
    client.close();
  });

  it('shows the token server refusal for a wrong password without the password', async () => {
    const wrong = 'not-the-password-42';
    const { client, events } = await clientWith({ auths: { [reg.host]: { auth: b64(`alice:${wrong}`) } } });
    let text = '';
    await assert.rejects(client.getManifest(`${reg.host}/cache:latest`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'forbidden');
      assert.match(err.message, /401 Unauthorized: UNAUTHORIZED: invalid username or password/);
      text = `${err.message} ${JSON.stringify(err.details)}`;
      return true;
    });
    assertNoSecret([text, ...events], wrong, b64(`alice:${wrong}`));
    client.close();
  });
});
