/** The Electron entry: one hardened window, the engine in this process, the contract bound over IPC. */
import { BrowserWindow, app, dialog, ipcMain, session } from 'electron';
import type { IpcMainInvokeEvent } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventSink } from '../../shared/contract/index';
import { createService } from '../engine/service';
import { bindIpc, forwardEvents } from './ipc';
import { hardenApp, hardenSession, hardenWebContents, isTrustedSender } from './security';
import { startupSource } from './startup';
import { windowOptions } from './window-options';

const appUrl = pathToFileURL(join(__dirname, '..', 'renderer', 'index.html')).toString();
const preloadPath = join(__dirname, '..', 'preload', 'preload.cjs');

if (!app.requestSingleInstanceLock()) app.quit();

let window: BrowserWindow | null = null;
let sink: EventSink | null = null;

const service = createService({
  startupSource: startupSource({ argv: process.argv, isPackaged: app.isPackaged, resourcesPath: process.resourcesPath, mainDir: __dirname }),
  mode: 'electron',
  version: app.getVersion(),
  emit: (event, payload) => sink?.(event, payload),
});
service.pickDirectory = async ({ title }) => {
  const options = { title: title ?? 'Choose a folder', properties: ['openDirectory', 'createDirectory'] as Array<'openDirectory' | 'createDirectory'> };
  const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
  return { path: result.canceled ? null : (result.filePaths[0] ?? null) };
};

hardenApp(app, appUrl);

function createWindow(): void {
  window = new BrowserWindow(windowOptions(preloadPath));
  hardenWebContents(window.webContents, appUrl);
  sink = forwardEvents(window.webContents);
  window.once('ready-to-show', () => window?.show());
  window.on('closed', () => {
    window = null;
    sink = null;
  });
  void window.loadURL(appUrl);
}

app.on('second-instance', () => {
  if (window) {
    if (window.isMinimized()) window.restore();
    window.focus();
  }
});

app.whenReady().then(() => {
  hardenSession(session.defaultSession);
  bindIpc(ipcMain, service, (event: IpcMainInvokeEvent) => isTrustedSender(event.senderFrame, appUrl));
  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('before-quit', () => {
  void service.dispose();
});
