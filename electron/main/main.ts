/**
 * The Electron entry: the only main-process file that imports 'electron'. It wires the real objects
 * into the tested pieces — window options, security rules, app protocol, IPC bindings — and runs
 * the engine in this process. Keep logic out of here: nothing in this file runs under the tests.
 */
import { BrowserWindow, app, dialog, ipcMain, protocol, safeStorage, session } from 'electron';
import type { OpenDialogOptions } from 'electron';
import { join } from 'node:path';
import type { EventSink } from '../../shared/contract/index';
import { DockerCredentialStore } from '../engine/registry/credentials';
import { createService } from '../engine/service';
import { APP_SCHEME_PRIVILEGES, APP_URL, registerAppProtocol } from './app-protocol';
import { bindIpc, forwardEvents, handlersWith } from './ipc';
import { SafeStorageCredentialStore } from './safe-storage-credentials';
import { applySecurity, trustedSenderCheck } from './security';
import { disposeBeforeQuit, startupSource } from './startup';
import { windowOptions } from './window-options';

// esbuild bundles this file to dist/main/main.cjs; its siblings are dist/preload and dist/renderer.
const rendererDir = join(__dirname, '..', 'renderer');
const preloadPath = join(__dirname, '..', 'preload', 'preload.cjs');

// Privileged schemes are fixed when the app starts, so this must run before `ready`.
protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);

if (!app.requestSingleInstanceLock()) {
  // Another Cachescope is running; it is focused by its own 'second-instance' handler.
  app.quit();
} else {
  start();
}

function start(): void {
  let window: BrowserWindow | null = null;
  let sink: EventSink | null = null;

  const service = createService({
    startupSource: startupSource({ argv: process.argv, isPackaged: app.isPackaged, resourcesPath: process.resourcesPath, mainDir: __dirname }),
    mode: 'electron',
    version: app.getVersion(),
    // Events raised while no window is open (an export finishing after it closed) are dropped.
    emit: (event, payload) => sink?.(event, payload),
    // GUI logins: docker's helper when one is configured, else safeStorage-encrypted in userData (read lazily: after ready).
    credentials: new SafeStorageCredentialStore({
      safeStorage,
      file: () => join(app.getPath('userData'), 'registry-credentials.json'),
      docker: new DockerCredentialStore(),
    }),
  });

  // The engine's own pickDirectory answers null (browser mode has no native picker); Electron has one.
  const handlers = handlersWith(service, {
    async pickDirectory({ title }) {
      const options: OpenDialogOptions = { title: title ?? 'Choose a folder', properties: ['openDirectory', 'createDirectory'] };
      const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
      return { path: result.canceled ? null : (result.filePaths[0] ?? null) };
    },
  });

  // Registered before any window exists, so no webContents is ever created without the rules.
  applySecurity({ app, session: session.defaultSession, appUrl: APP_URL });
  disposeBeforeQuit(app, () => service.dispose());

  function createWindow(): void {
    const win = new BrowserWindow(windowOptions(preloadPath));
    window = win;
    sink = forwardEvents(win.webContents);
    win.once('ready-to-show', () => win.show());
    win.on('closed', () => {
      if (window === win) {
        window = null;
        sink = null;
      }
    });
    win.loadURL(APP_URL).catch((err: unknown) => console.error(`cachescope: could not load ${APP_URL}:`, err));
  }

  app.on('second-instance', () => {
    if (!window) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });

  app.on('window-all-closed', () => {
    // macOS apps stay active without windows until the user quits explicitly.
    if (process.platform !== 'darwin') app.quit();
  });

  app
    .whenReady()
    .then(() => {
      registerAppProtocol(protocol, rendererDir);
      bindIpc(ipcMain, handlers, trustedSenderCheck(() => (window && !window.isDestroyed() ? window.webContents : null), APP_URL));
      createWindow();
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) createWindow();
      });
    })
    .catch((err: unknown) => {
      console.error('cachescope: startup failed:', err);
      app.exit(1);
    });
}
