/**
 * The GUI login through the real main entry (electron/main/main.ts bundled as the build does, run on
 * fake Electron objects with a safeStorage that really encrypts) against a real htpasswd registry:
 * the window's login answer says only who is logged in; the secret lands encrypted in userData (0600),
 * never in plain text on disk, in any IPC answer or in any log line; the engine uses it (tags of a
 * registry that needs auth list); a wrong password is refused without echoing it; logout forgets it.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { APP_URL } from '../../../electron/main/app-protocol';
import { requestChannel } from '../../../shared/contract/index';
import { FakeApp, FakeIpcMain, FakeProtocol, FakeSafeStorage, FakeSession, FakeWebContents } from '../../helpers/fake-electron';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { pushFixture, startRegistry } from '../../helpers/registry/index';
import type { RunningRegistry } from '../../helpers/registry/index';

const nodeRequire = createRequire(import.meta.url);
const PASSWORD = 'Gui-Typed-Secret-93b1e';

/** Every byte written to stdout/stderr while `work` runs (console included). */
async function capture<T>(work: () => Promise<T>, into: string[]): Promise<T> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const keep = (chunk: unknown) => void into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => (keep(chunk), out(chunk as string, ...(rest as [])))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => (keep(chunk), err(chunk as string, ...(rest as [])))) as typeof process.stderr.write;
  try {
    return await work();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

describe('GUI login through main: safeStorage, never plain text', () => {
  let tmp: string;
  let registry: RunningRegistry;
  let userData: string;
  let ipcMain: FakeIpcMain;
  let senderId: number;
  const safeStorage = new FakeSafeStorage();
  const logs: string[] = [];
  const answers: string[] = [];
  const saved: Record<string, string | undefined> = {};

  const invoke = async (name: string, params: unknown) => {
    const answer = await capture(() => ipcMain.invokeFrom(senderId, { url: APP_URL, parent: null }, requestChannel(name as never), params), logs);
    answers.push(JSON.stringify(answer));
    return answer as { ok: boolean; value?: Record<string, unknown>; error?: { code: string; message: string } };
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-login-safe-storage-'));
    registry = await startRegistry({ auth: 'htpasswd', users: { alice: PASSWORD } });
    await pushFixture(registry, join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'), 'team/cache:v1');
    userData = join(tmp, 'userData');
    // main's docker lookup reads the process environment: an empty docker config, caches in tmp.
    for (const key of ['DOCKER_CONFIG', 'DOCKER_AUTH_CONFIG', 'CACHESCOPE_CACHE_DIR']) saved[key] = process.env[key];
    process.env.DOCKER_CONFIG = join(tmp, 'docker');
    delete process.env.DOCKER_AUTH_CONFIG;
    process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'cache');
    await mkdir(process.env.DOCKER_CONFIG, { recursive: true });

    const bundle = (await build({ entryPoints: [join(REPO, 'electron/main/main.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['electron', 'zstd-napi'], write: false, logLevel: 'silent' })).outputFiles[0].text;
    let ready!: () => void;
    const whenReady = new Promise<void>((resolve) => (ready = resolve));
    ipcMain = new FakeIpcMain();
    const windows: { webContents: FakeWebContents }[] = [];
    const app = Object.assign(new FakeApp(), {
      isPackaged: false,
      requestSingleInstanceLock: () => true,
      getVersion: () => '9.9.9',
      whenReady: () => whenReady,
      exit: () => undefined,
      getPath: (name: string) => {
        assert.equal(name, 'userData');
        return userData;
      },
    });
    const BrowserWindow = class extends EventEmitter {
      readonly webContents = new FakeWebContents(200 + windows.length);
      constructor() {
        super();
        windows.push(this);
        app.emit('web-contents-created', {}, this.webContents);
      }
      async loadURL(): Promise<void> {}
      show(): void {}
      isDestroyed(): boolean {
        return false;
      }
      static getAllWindows() {
        return windows;
      }
    };
    const electron = {
      app,
      BrowserWindow,
      ipcMain,
      safeStorage,
      protocol: Object.assign(new FakeProtocol(), { registerSchemesAsPrivileged: () => undefined }),
      session: { defaultSession: new FakeSession() },
      dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
    };
    const fakeProcess = Object.create(process, { argv: { value: ['/usr/bin/electron', REPO] }, platform: { value: 'linux' }, resourcesPath: { value: '/nonexistent' } }) as NodeJS.Process;
    const mainDir = join(REPO, 'dist/main');
    const module = { exports: {} };
    const run = new Function('require', 'module', 'exports', '__filename', '__dirname', 'process', bundle) as (...args: unknown[]) => void;
    run((id: string) => (id === 'electron' ? electron : nodeRequire(id)), module, module.exports, join(mainDir, 'main.cjs'), mainDir, fakeProcess);
    ready();
    await new Promise((resolve) => setImmediate(resolve));
    senderId = windows[0].webContents.id;
  });
  after(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a wrong password is refused, and the answer does not echo it', async () => {
    const answer = await invoke('registryLogin', { registry: registry.host, username: 'alice', password: `${PASSWORD}-wrong` });
    assert.equal(answer.ok, false);
    assert.ok(!JSON.stringify(answer).includes(`${PASSWORD}-wrong`));
    assert.ok(!existsSync(join(userData, 'registry-credentials.json')));
  });

  it('login answers only "logged in as", stores the secret encrypted in userData, and the engine uses it', async () => {
    const answer = await invoke('registryLogin', { registry: registry.host, username: 'alice', password: PASSWORD });
    assert.deepEqual(answer, { ok: true, value: { loggedInAs: 'alice' } });
    assert.ok(safeStorage.calls.includes('encryptString'));
    const file = join(userData, 'registry-credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(await invoke('registryStatus', { registry: registry.host }), { ok: true, value: { loggedInAs: 'alice' } });
    // The registry needs auth for tags: listing works only with the stored credentials.
    const tags = await invoke('listRegistryTags', { repository: `${registry.host}/team/cache` });
    assert.equal(tags.ok, true, JSON.stringify(tags));
    assert.ok(JSON.stringify(tags.value).includes('"v1"'));
    // And a registry cache opens through the same store.
    const opened = await invoke('openCache', { source: `${registry.host}/team/cache:v1` });
    assert.equal(opened.ok, true, JSON.stringify(opened.error));
  });

  it('the secret is nowhere in plain text: not on disk, not in an IPC answer, not in a log line', () => {
    const forms = [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(`alice:${PASSWORD}`).toString('base64')];
    const files = [userData, process.env.DOCKER_CONFIG!, process.env.CACHESCOPE_CACHE_DIR!]
      .filter((d) => existsSync(d))
      .flatMap((d) => (readdirSync(d, { recursive: true }) as string[]).map((f) => join(d, f)))
      .filter((f) => statSync(f).isFile());
    assert.ok(files.some((f) => f.endsWith('registry-credentials.json')));
    for (const f of files) for (const form of forms) assert.ok(!readFileSync(f).includes(form), `${f} holds the secret`);
    for (const text of [...answers, ...logs]) for (const form of forms) assert.ok(!text.includes(form), 'the secret in an answer or log');
    assert.ok(answers.length >= 4);
  });

  it('logout forgets it: status says nobody, the file no longer holds the entry', async () => {
    const out = await invoke('registryLogout', { registry: registry.host });
    assert.deepEqual(out, { ok: true, value: { loggedOut: true } });
    assert.deepEqual(await invoke('registryStatus', { registry: registry.host }), { ok: true, value: { loggedInAs: null } });
    const entries = JSON.parse(readFileSync(join(userData, 'registry-credentials.json'), 'utf8')) as { entries: Record<string, string> };
    assert.deepEqual(entries.entries, {});
  });
});
