/**
 * The entry file (electron/main/main.ts) is the one main-process file that imports 'electron', so
 * it cannot be imported under plain Node. It is bundled here exactly as the build does and run with
 * a fake 'electron' module, to check the wiring: what happens before `ready`, what after, and that a
 * real request travels from the window through the bindings to the real engine and back.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { APP_URL } from '../../../electron/main/app-protocol';
import { REQUEST_NAMES, requestChannel } from '../../../shared/contract/index';
import { FakeApp, FakeIpcMain, FakeProtocol, FakeSession, FakeWebContents } from '../../helpers/fake-electron';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const nodeRequire = createRequire(import.meta.url);

interface Harness {
  log: string[];
  app: FakeApp & { ready(): void };
  ipcMain: FakeIpcMain;
  protocol: FakeProtocol & { privileged: unknown[] };
  session: FakeSession;
  windows: FakeWindow[];
  dialogCalls: unknown[][];
}

class FakeWindow extends EventEmitter {
  static all: FakeWindow[] = [];
  readonly webContents: FakeWebContents;
  loaded: string | null = null;
  shown = false;
  constructor(
    readonly options: Record<string, unknown>,
    harness: Harness,
  ) {
    super();
    this.webContents = new FakeWebContents(100 + harness.windows.length);
    harness.windows.push(this);
    harness.log.push('window');
    // Electron announces every new webContents on the app before anything loads in it.
    harness.app.emit('web-contents-created', {}, this.webContents);
  }
  async loadURL(url: string): Promise<void> {
    this.loaded = url;
  }
  show(): void {
    this.shown = true;
  }
  isDestroyed(): boolean {
    return false;
  }
}

let bundle: string;

before(async () => {
  const out = await build({
    entryPoints: [join(REPO, 'electron/main/main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['electron', 'zstd-napi'],
    write: false,
    logLevel: 'silent',
  });
  bundle = out.outputFiles[0].text;
});

/** Runs the bundled entry with a fake electron; `lock` is what requestSingleInstanceLock answers. */
function start(options: { lock?: boolean; argv?: string[] } = {}): Harness {
  const log: string[] = [];
  let ready!: () => void;
  const whenReady = new Promise<void>((resolve) => (ready = resolve));
  const app = Object.assign(new FakeApp(), {
    isPackaged: false,
    ready: () => ready(),
    requestSingleInstanceLock: () => (log.push('lock'), options.lock ?? true),
    getVersion: () => '9.9.9',
    whenReady: () => whenReady,
    exit: (code: number) => log.push(`exit ${code}`),
  });
  const protocol = Object.assign(new FakeProtocol(), {
    privileged: [] as unknown[],
    registerSchemesAsPrivileged(schemes: unknown[]) {
      log.push('privileged');
      this.privileged.push(...schemes);
    },
  });
  const harness: Harness = { log, app, ipcMain: new FakeIpcMain(), protocol, session: new FakeSession(), windows: [], dialogCalls: [] };
  const originalHandle = protocol.handle.bind(protocol);
  protocol.handle = (scheme, handler) => (log.push(`handle ${scheme}`), originalHandle(scheme, handler));
  const BrowserWindow = class extends FakeWindow {
    constructor(opts: Record<string, unknown>) {
      super(opts, harness);
    }
    static getAllWindows() {
      return harness.windows;
    }
  };
  const electron = {
    app,
    BrowserWindow,
    ipcMain: harness.ipcMain,
    protocol,
    session: { defaultSession: harness.session },
    dialog: {
      showOpenDialog: async (...args: unknown[]) => {
        harness.dialogCalls.push(args);
        return { canceled: false, filePaths: ['/picked/dir'] };
      },
    },
  };
  const fakeProcess = Object.create(process, {
    argv: { value: options.argv ?? ['/usr/bin/electron', REPO] },
    platform: { value: 'linux' },
    resourcesPath: { value: '/nonexistent/resources' },
  }) as NodeJS.Process;
  const mainDir = join(REPO, 'dist/main');
  const module = { exports: {} };
  const run = new Function('require', 'module', 'exports', '__filename', '__dirname', 'process', bundle) as (...args: unknown[]) => void;
  run((id: string) => (id === 'electron' ? electron : nodeRequire(id)), module, module.exports, join(mainDir, 'main.cjs'), mainDir, fakeProcess);
  return harness;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the main entry, wired to a fake electron', () => {
  it('registers the app scheme as privileged before ready, and binds nothing until then', () => {
    const h = start();
    assert.deepEqual(h.log, ['privileged', 'lock']);
    assert.deepEqual(h.protocol.privileged, [{ scheme: 'app', privileges: { standard: true, secure: true } }]);
    assert.equal(h.ipcMain.handlers.size, 0);
    assert.equal(h.windows.length, 0);
    // Security rules are in place before any webContents can exist.
    assert.equal(h.app.listenerCount('web-contents-created'), 1);
    assert.ok(h.session.permissionRequest && h.session.headersListener);
  });

  it('on ready: serves app://, binds every request, then opens one hardened window on the app page', async () => {
    const h = start();
    h.app.ready();
    await settle();
    assert.deepEqual(h.log, ['privileged', 'lock', 'handle app', 'window']);
    assert.deepEqual([...h.ipcMain.handlers.keys()].sort(), REQUEST_NAMES.map(requestChannel).sort());
    const [win] = h.windows;
    assert.equal(win.loaded, APP_URL);
    const web = win.options.webPreferences as Record<string, unknown>;
    assert.equal(web.preload, join(REPO, 'dist/preload/preload.cjs'));
    assert.equal(web.sandbox, true);
    assert.equal(web.contextIsolation, true);
    assert.equal(win.shown, false);
    win.emit('ready-to-show');
    assert.equal(win.shown, true);
    assert.equal(win.webContents.fire('will-navigate', { url: 'https://evil.example/' }), true);
    assert.deepEqual(win.webContents.windowOpenHandler!({ url: 'https://evil.example/' }), { action: 'deny' });
    const page = await h.protocol.fetch(APP_URL);
    assert.ok(page.headers.get('content-security-policy'));
  });

  it('answers the window through the real engine, and nobody else', async () => {
    const h = start();
    h.app.ready();
    await settle();
    const [win] = h.windows;
    const frame = { url: APP_URL, parent: null };
    const startup = await h.ipcMain.invokeFrom(win.webContents.id, frame, requestChannel('getStartup'), {});
    assert.deepEqual(startup, { ok: true, value: { source: join(REPO, 'assets/demo-cache'), mode: 'electron', version: '9.9.9' } });
    const foreign = (await h.ipcMain.invokeFrom(999, frame, requestChannel('getStartup'), {})) as { ok: boolean; error: { code: string } };
    assert.equal(foreign.error.code, 'forbidden');
    const picked = await h.ipcMain.invokeFrom(win.webContents.id, frame, requestChannel('pickDirectory'), { title: 'Export to' });
    assert.deepEqual(picked, { ok: true, value: { path: '/picked/dir' } });
    const [, options] = h.dialogCalls[0] as [unknown, { title: string; properties: string[] }];
    assert.equal(options.title, 'Export to');
    assert.deepEqual(options.properties, ['openDirectory', 'createDirectory']);
  });

  it('opens the first non-flag argument instead of the demo', async () => {
    const h = start({ argv: ['/usr/bin/electron', REPO, '--enable-logging', '/caches/mine:v1'] });
    h.app.ready();
    await settle();
    const out = (await h.ipcMain.invokeFrom(h.windows[0].webContents.id, { url: APP_URL, parent: null }, requestChannel('getStartup'), {})) as { value: { source: string } };
    assert.equal(out.value.source, '/caches/mine:v1');
  });

  it('quits at once, opening nothing, when another instance holds the lock', async () => {
    const h = start({ lock: false });
    h.app.ready();
    await settle();
    assert.equal(h.app.quits, 1);
    assert.equal(h.windows.length, 0);
    assert.equal(h.ipcMain.handlers.size, 0);
  });

  it('quits when the last window closes (not on macOS), after disposing the engine', async () => {
    const h = start();
    h.app.ready();
    await settle();
    let quitted = false;
    h.app.on('will-quit', () => (quitted = true));
    h.app.emit('window-all-closed');
    assert.equal(h.app.quits, 1);
    await settle();
    assert.equal(quitted, true);
  });
});
