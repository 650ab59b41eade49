import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { DockerCredentialStore } from '../../../electron/engine/registry/credentials';
import { scrub } from '../../../electron/engine/registry/registry-error';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import type { FakeHelpers } from '../../helpers/credential-helper';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker credentials (lookup order and helpers, as the docker CLI)', () => {
  let base: string;
  let helpers: FakeHelpers;
  let n = 0;
  const envFor = (configDir: string, extra: Record<string, string> = {}) => ({ PATH: helpers.path, DOCKER_CONFIG: configDir, ...extra });
  const configDir = async (config: unknown) => {
    const dir = join(base, `cfg-${n++}`);
    await mkdir(dir);
    if (config !== undefined) await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };
  const helperStore = (entries: Record<string, { Username: string; Secret: string }>) => helpers.setEntries(entries);
  const helperCalls = () => helpers.calls();

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-creds-'));
    const bin = join(base, 'bin');
    await mkdir(bin);
    helpers = await installCredentialHelpers(bin, ['test', 'other']);
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('reads auths: base64 user:pass, identitytoken and registrytoken; Hub aliases share one key', async () => {
    const dir = await configDir({
      auths: {
        'reg.example:5000': { auth: b64('alice:pa:ss') },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'id.example': { auth: b64('bob:'), identitytoken: 'refresh-123' },
        'https://tok.example/v2/': { registrytoken: 'reg-token-xyz' },
      },
    });
    const store = new DockerCredentialStore({ env: envFor(dir) });
    assert.deepEqual(await store.get('reg.example:5000'), { username: 'alice', password: 'pa:ss' });
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) assert.deepEqual(await store.get(hub), { username: 'hubuser', password: 'hubpass' }, hub);
    assert.deepEqual(await store.get('id.example'), { username: 'bob', password: '', identityToken: 'refresh-123' });
    assert.deepEqual(await store.get('tok.example'), { registryToken: 'reg-token-xyz' });
    assert.equal(await store.get('other.example'), null);
    assert.equal(await new DockerCredentialStore({ env: envFor(join(base, 'missing')) }).get('reg.example:5000'), null);
  });

  it('finds ~/.docker/config.json when DOCKER_CONFIG is unset', async () => {
    const home = join(base, `home-${n++}`);
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'h.example': { auth: b64('u:p') } } }));
    const store = new DockerCredentialStore({ env: { PATH: process.env.PATH }, home });
    assert.deepEqual(await store.get('h.example'), { username: 'u', password: 'p' });
  });

  it('asks the per-host credHelper before credsStore, and credsStore instead of auths', async () => {
    await helperStore({ 'reg.example': { Username: 'from-test', Secret: 's1' }, 'store.example': { Username: 'from-store', Secret: 's2' } });
    const dir = await configDir({
      credHelpers: { 'reg.example': 'test' },
      credsStore: 'other',
      auths: { 'reg.example': { auth: b64('file:ignored') }, 'store.example': { auth: b64('file:ignored') } },
    });
    const store = new DockerCredentialStore({ env: envFor(dir) });
    assert.deepEqual(await store.get('reg.example'), { username: 'from-test', password: 's1' });
    assert.deepEqual(await store.get('store.example'), { username: 'from-store', password: 's2' });
    const calls = (await helperCalls()).slice(-2);
    assert.deepEqual(calls.map((c) => [c.helper, c.action, c.input]), [
      ['docker-credential-test', 'get', 'reg.example'],
      ['docker-credential-other', 'get', 'store.example'],
    ]);
  });

  it('treats "credentials not found" as anonymous (the auths entry is not consulted, as in docker)', async () => {
    await helperStore({});
    const dir = await configDir({ credsStore: 'test', auths: { 'none.example': { auth: b64('file:ignored') } } });
    assert.equal(await new DockerCredentialStore({ env: envFor(dir) }).get('none.example'), null);
  });

  it('turns a helper Username of <token> into an identity token, and sends Hub as https://index.docker.io/v1/', async () => {
    await helperStore({ 'https://index.docker.io/v1/': { Username: '<token>', Secret: 'hub-refresh' } });
    const dir = await configDir({ credsStore: 'test' });
    assert.deepEqual(await new DockerCredentialStore({ env: envFor(dir) }).get('docker.io'), { identityToken: 'hub-refresh' });
    assert.equal((await helperCalls()).at(-1)!.input, 'https://index.docker.io/v1/');
  });

  it('DOCKER_AUTH_CONFIG wins for the hosts it names and falls back to the config for the rest', async () => {
    await helperStore({ 'b.example': { Username: 'helper-user', Secret: 'hs' } });
    const dir = await configDir({ credsStore: 'test', auths: { 'a.example': { auth: b64('file:x') } } });
    const env = envFor(dir, { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'a.example': { auth: b64('env:secret-env') } } }) });
    const store = new DockerCredentialStore({ env });
    assert.deepEqual(await store.get('a.example'), { username: 'env', password: 'secret-env' });
    assert.deepEqual(await store.get('b.example'), { username: 'helper-user', password: 'hs' });
    assert.deepEqual(await store.source('a.example'), { kind: 'env', variable: 'DOCKER_AUTH_CONFIG' });
  });

  it('reports a failing or missing helper by name, without any secret', async () => {
    const dir = await configDir({ credHelpers: { 'broken.example': 'test', 'gone.example': 'nosuch' } });
    const store = new DockerCredentialStore({ env: envFor(dir) });
    await assert.rejects(store.get('broken.example'), (err: unknown) => err instanceof CacheError && /docker-credential-test get for broken\.example failed \(exit 1\): keychain locked/.test(err.message));
    await assert.rejects(store.get('gone.example'), (err: unknown) => err instanceof CacheError && /docker-credential-nosuch was not found on PATH/.test(err.message));
  });

  it('names the file and field of a broken config', async () => {
    const dir = await configDir(undefined);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'x.example': { auth: b64('no-colon') } } }));
    await assert.rejects(new DockerCredentialStore({ env: envFor(dir) }).get('x.example'), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'invalid-config');
      assert.ok(err.message.includes(join(dir, 'config.json')));
      assert.match(err.message, /auths\["x\.example"\]\.auth/);
      return true;
    });
    await writeFile(join(dir, 'config.json'), '{ not json');
    await assert.rejects(new DockerCredentialStore({ env: envFor(dir) }).get('x.example'), (err: unknown) => err instanceof CacheError && err.code === 'invalid-json' && err.message.includes('config.json'));
  });

  it('stores and erases in auths (atomically, mode 0600, other settings kept) when no helper is configured', async () => {
    const dir = await configDir({ auths: { 'keep.example': { auth: b64('k:k') } }, psFormat: 'table' });
    const store = new DockerCredentialStore({ env: envFor(dir) });
    const where = await store.store('new.example:5000', { username: 'nu', password: 'np' });
    assert.deepEqual(where, { kind: 'file', file: join(dir, 'config.json') });
    const file = join(dir, 'config.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const written = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(written.psFormat, 'table');
    assert.deepEqual(written.auths['new.example:5000'], { auth: b64('nu:np') });
    assert.deepEqual(await store.get('new.example:5000'), { username: 'nu', password: 'np' });
    await store.erase('new.example:5000');
    assert.equal(await store.get('new.example:5000'), null);
    assert.deepEqual(Object.keys(JSON.parse(await readFile(file, 'utf8')).auths), ['keep.example']);
  });

  it('stores through the configured helper, leaving only an empty auths entry in the file', async () => {
    await helperStore({});
    const dir = await configDir({ credsStore: 'test' });
    const store = new DockerCredentialStore({ env: envFor(dir) });
    await store.store('docker.io', { username: 'hu', password: 'hp-secret' });
    const file = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(file.auths, { 'https://index.docker.io/v1/': {} });
    assert.ok(!JSON.stringify(file).includes('hp-secret'));
    assert.deepEqual(await store.get('index.docker.io'), { username: 'hu', password: 'hp-secret' });
    await store.erase('docker.io');
    assert.equal(await store.get('docker.io'), null);
    const actions = (await helperCalls()).slice(-4).map((c) => c.action);
    assert.deepEqual(actions, ['store', 'get', 'erase', 'get']);
  });

  it('scrubs secrets it has read from any text', async () => {
    const dir = await configDir({ auths: { 's.example': { auth: b64('user:very-secret-pass') } } });
    await new DockerCredentialStore({ env: envFor(dir) }).get('s.example');
    assert.equal(scrub('failed with very-secret-pass and https://u:p@h/x?sig=1'), 'failed with *** and https://***@h/x?…');
  });
});
