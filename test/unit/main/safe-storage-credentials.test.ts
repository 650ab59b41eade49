/**
 * GUI logins kept by main (electron/main/safe-storage-credentials.ts): with a real keyring the secret
 * is encrypted with safeStorage into one 0600 file under userData, written atomically, and read back
 * after a restart; without one (or with Linux's basic_text) it lives for the session only and nothing
 * is written; a configured docker helper takes it instead; docker's own DOCKER_AUTH_CONFIG and
 * `auths` still answer. The secret never appears in plain text (nor base64) in any file.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DockerCredentialStore } from '../../../electron/engine/registry/credentials';
import { SafeStorageCredentialStore } from '../../../electron/main/safe-storage-credentials';
import { installCredentialHelpers } from '../../helpers/credential-helper';
import { FakeSafeStorage } from '../../helpers/fake-electron';

const SECRET = 'S3cret-typed-in-the-form-7f1c';

/** Every file under `dir`, as bytes. */
function allFiles(dir: string): { file: string; bytes: Buffer }[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((file) => ({ file, bytes: readFileSync(file) }));
}

function assertNoSecretOnDisk(dir: string, secret = SECRET): void {
  const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(`alice:${secret}`).toString('base64')];
  for (const { file, bytes } of allFiles(dir)) {
    for (const form of forms) assert.ok(!bytes.includes(form), `${file} holds the secret (${form === secret ? 'plain' : 'base64'})`);
  }
}

describe('SafeStorageCredentialStore', () => {
  let tmp: string;
  let n = 0;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-safe-storage-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** A fresh userData and DOCKER_CONFIG; `restart()` builds a new store over the same files (a new app run). */
  async function setup(env: NodeJS.ProcessEnv = {}) {
    const dir = join(tmp, `case-${++n}`);
    const userData = join(dir, 'userData');
    const dockerConfig = join(dir, 'docker');
    const safeStorage = new FakeSafeStorage();
    const make = () =>
      new SafeStorageCredentialStore({
        safeStorage,
        file: () => join(userData, 'registry-credentials.json'),
        docker: new DockerCredentialStore({ env: { DOCKER_CONFIG: dockerConfig, PATH: process.env.PATH, ...env }, home: join(dir, 'home') }),
      });
    return { dir, userData, dockerConfig, safeStorage, store: make(), restart: make, file: join(userData, 'registry-credentials.json') };
  }

  it('with a keyring: encrypted into a 0600 file under userData, read back after a restart, never in plain text', async () => {
    const s = await setup();
    const where = await s.store.store('registry.example:5000', { username: 'alice', password: SECRET });
    assert.deepEqual(where, { kind: 'file', file: s.file });
    assert.ok(s.safeStorage.calls.includes('encryptString'));
    assert.equal(statSync(s.file).mode & 0o777, 0o600);
    // Atomic: no temp file is left beside it.
    assert.deepEqual(readdirSync(s.userData), ['registry-credentials.json']);
    assertNoSecretOnDisk(s.dir);
    assert.ok(!readFileSync(s.file, 'utf8').includes('alice'), 'the user name is inside the ciphertext too');
    assert.ok(!existsSync(join(s.dockerConfig, 'config.json')), 'docker config untouched');

    const again = s.restart();
    assert.deepEqual(await again.get('registry.example:5000'), { username: 'alice', password: SECRET });
    assert.deepEqual(await again.source('registry.example:5000'), { kind: 'file', file: s.file });
    assert.equal(await again.get('other.example'), null);

    // A second registry and a re-login both land (one queue for read-modify-write).
    await Promise.all([again.store('b.example', { username: 'bob', password: `${SECRET}-b` }), again.store('registry.example:5000', { username: 'alice', password: `${SECRET}-2` })]);
    const third = s.restart();
    assert.equal((await third.get('b.example'))?.password, `${SECRET}-b`);
    assert.equal((await third.get('registry.example:5000'))?.password, `${SECRET}-2`);
    assertNoSecretOnDisk(s.dir);
    assertNoSecretOnDisk(s.dir, `${SECRET}-b`);

    await third.erase('registry.example:5000');
    assert.equal(await s.restart().get('registry.example:5000'), null);
    assert.equal((await s.restart().get('b.example'))?.username, 'bob');
  });

  it('without encryption: kept for this session only, nothing written', async () => {
    const s = await setup();
    s.safeStorage.available = false;
    assert.deepEqual(await s.store.store('registry.example:5000', { username: 'alice', password: SECRET }), { kind: 'static' });
    assert.equal(s.safeStorage.calls.includes('encryptString'), false);
    assert.deepEqual(await s.store.get('registry.example:5000'), { username: 'alice', password: SECRET });
    assert.deepEqual(allFiles(s.dir), []);
    assert.equal(await s.restart().get('registry.example:5000'), null);
  });

  it("Linux's basic_text backend (a public key) counts as no encryption", async () => {
    const s = await setup();
    s.safeStorage.backend = 'basic_text';
    assert.deepEqual(await s.store.store('registry.example:5000', { username: 'alice', password: SECRET }), { kind: 'static' });
    assert.deepEqual(allFiles(s.dir), []);
  });

  it('a configured docker helper takes the secret; safeStorage is not used', async () => {
    const s = await setup();
    const bin = join(s.dir, 'helper-bin');
    await mkdir(bin, { recursive: true });
    const helper = await installCredentialHelpers(bin, ['cstest']);
    await mkdir(s.dockerConfig, { recursive: true });
    await writeFile(join(s.dockerConfig, 'config.json'), JSON.stringify({ credsStore: 'cstest' }));
    const withHelper = new SafeStorageCredentialStore({
      safeStorage: s.safeStorage,
      file: s.file,
      docker: new DockerCredentialStore({ env: { DOCKER_CONFIG: s.dockerConfig, PATH: helper.path } }),
    });
    const where = await withHelper.store('registry.example:5000', { username: 'alice', password: SECRET });
    assert.equal(where.kind, 'helper');
    assert.equal(s.safeStorage.calls.includes('encryptString'), false);
    assert.ok(!existsSync(s.file));
    assert.deepEqual(await withHelper.get('registry.example:5000'), { username: 'alice', password: SECRET });
    // The helper's own store is the helper's business; docker's config.json and userData stay clean.
    assertNoSecretOnDisk(s.dockerConfig);
    assertNoSecretOnDisk(s.userData);
    await withHelper.erase('registry.example:5000');
    assert.equal(await withHelper.get('registry.example:5000'), null);
  });

  it("docker's own credentials still answer: DOCKER_AUTH_CONFIG first, config.json auths last", async () => {
    const auth = Buffer.from('carol:from-docker').toString('base64');
    const s = await setup({ DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'env.example': { auth } } }) });
    await s.store.store('env.example', { username: 'alice', password: SECRET });
    // DOCKER_AUTH_CONFIG overrides, as in docker.
    assert.deepEqual(await s.store.get('env.example'), { username: 'carol', password: 'from-docker' });
    await mkdir(s.dockerConfig, { recursive: true });
    await writeFile(join(s.dockerConfig, 'config.json'), JSON.stringify({ auths: { 'cli.example': { auth: Buffer.from('dave:cli-login').toString('base64') } } }));
    assert.deepEqual(await s.store.get('cli.example'), { username: 'dave', password: 'cli-login' });
    // A GUI login for the same registry wins over the older CLI entry until logout, which removes both.
    await s.store.store('cli.example', { username: 'alice', password: SECRET });
    assert.equal((await s.store.get('cli.example'))?.username, 'alice');
    await s.store.erase('cli.example');
    assert.equal(await s.store.get('cli.example'), null);
  });

  it('an unreadable credentials file does not take docker credentials away; a login names it', async () => {
    const s = await setup();
    await mkdir(s.userData, { recursive: true });
    await writeFile(s.file, 'not json');
    assert.equal(await s.store.get('registry.example:5000'), null);
    await assert.rejects(s.store.store('registry.example:5000', { username: 'alice', password: SECRET }), (err: Error) => {
      assert.match(err.message, /registry-credentials\.json is not a Cachescope credentials file/);
      assert.ok(!err.message.includes(SECRET));
      return true;
    });
  });

  it('an entry from another keyring (decryption fails) counts as none', async () => {
    const s = await setup();
    await s.store.store('registry.example:5000', { username: 'alice', password: SECRET });
    const other = new SafeStorageCredentialStore({ safeStorage: new FakeSafeStorage(), file: s.file, docker: new DockerCredentialStore({ env: { DOCKER_CONFIG: s.dockerConfig } }) });
    assert.equal(await other.get('registry.example:5000'), null);
  });
});
