/**
 * Fake Electron objects (ipcMain, webContents, app, session, protocol, ipcRenderer, contextBridge)
 * that record what the code under test does to them, so main and preload logic runs under plain
 * Node where `require('electron')` has no binary behind it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IpcMainInvokeEvent } from 'electron';

/** A frame as IPC reports it: only `url` and `parent` are read. */
export interface FakeFrame {
  url: string;
  parent: unknown;
}

export class FakeIpcMain {
  readonly handlers = new Map<string, (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>>();
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>): void {
    // The real ipcMain throws on a second handler for a channel; so does the fake.
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** Calls the bound handler as if `frame` of webContents 1 had invoked it. */
  invoke(channel: string, frame: FakeFrame | null, ...args: unknown[]): Promise<unknown> {
    return this.invokeFrom(1, frame, channel, ...args);
  }
  /** Calls the bound handler as if `frame` of webContents `senderId` had invoked it. */
  invokeFrom(senderId: number, frame: FakeFrame | null, channel: string, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) return Promise.reject(new Error(`No handler registered for '${channel}'`));
    return handler({ sender: { id: senderId }, senderFrame: frame } as unknown as IpcMainInvokeEvent, ...args);
  }
}

/** A preventable event, in Electron's current form: the details are fields of the event itself. */
export class FakeEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

export class FakeWebContents extends EventEmitter {
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  destroyed = false;
  readonly sent: { channel: string; message: unknown }[] = [];
  constructor(readonly id = 1) {
    super();
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  send(channel: string, message: unknown): void {
    // The real webContents throws "Object has been destroyed" here.
    if (this.destroyed) throw new Error('Object has been destroyed');
    this.sent.push({ channel, message });
  }
  /** Emits `name` with a fresh preventable event carrying `details`, and tells whether it was prevented. */
  fire(name: string, details: Record<string, unknown> = {}): boolean {
    const event = Object.assign(new FakeEvent(), details);
    // The deprecated positional url follows the event, as Electron still passes it.
    this.emit(name, event, details.url);
    return event.defaultPrevented;
  }
}

type HeadersListener = (
  details: { url: string; responseHeaders?: Record<string, string[]> },
  callback: (response: { cancel?: boolean; responseHeaders?: Record<string, string | string[]> }) => void,
) => void;

/** Who asks for a permission, as Electron's request and check details say it. */
export interface PermissionDetails {
  requestingUrl?: string;
  isMainFrame?: boolean;
}

export class FakeSession {
  permissionRequest: ((wc: unknown, permission: string, cb: (granted: boolean) => void, details: PermissionDetails | undefined) => void) | null = null;
  permissionCheck: ((wc: unknown, permission: string, origin: string, details: PermissionDetails | undefined) => boolean) | null = null;
  headersListener: HeadersListener | null = null;
  setPermissionRequestHandler(handler: FakeSession['permissionRequest']): void {
    this.permissionRequest = handler;
  }
  setPermissionCheckHandler(handler: FakeSession['permissionCheck']): void {
    this.permissionCheck = handler;
  }
  readonly webRequest = {
    onHeadersReceived: (listener: HeadersListener) => {
      this.headersListener = listener;
    },
  };
  /** Runs the installed onHeadersReceived listener on one response and returns the headers it answered with. */
  respond(url: string, responseHeaders?: Record<string, string[]>): Record<string, string | string[]> | undefined {
    if (!this.headersListener) throw new Error('no onHeadersReceived listener installed');
    let out: Record<string, string | string[]> | undefined;
    this.headersListener({ url, responseHeaders }, (r) => (out = r.responseHeaders));
    return out;
  }
}

export class FakeApp extends EventEmitter {
  quits = 0;
  quit(): void {
    this.quits += 1;
    // Like Electron, quitting emits before-quit, which a listener may prevent.
    const event = new FakeEvent();
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.emit('will-quit');
  }
}

export class FakeProtocol {
  readonly handlers = new Map<string, (request: Request) => Promise<Response>>();
  handle(scheme: string, handler: (request: Request) => Promise<Response>): void {
    if (this.handlers.has(scheme)) throw new Error(`scheme ${scheme} is already handled`);
    this.handlers.set(scheme, handler);
  }
  fetch(url: string, method = 'GET'): Promise<Response> {
    const scheme = url.slice(0, url.indexOf(':'));
    const handler = this.handlers.get(scheme);
    if (!handler) throw new Error(`no handler for ${scheme}:`);
    return handler({ url, method } as Request);
  }
}

export class FakeIpcRenderer extends EventEmitter {
  readonly invoked: { channel: string; args: unknown[] }[] = [];
  reply: (channel: string, ...args: unknown[]) => unknown = () => ({ ok: true, value: null });
  async invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push({ channel, args });
    return this.reply(channel, ...args);
  }
}

export class FakeContextBridge {
  readonly exposed = new Map<string, unknown>();
  exposeInMainWorld(key: string, api: unknown): void {
    if (this.exposed.has(key)) throw new Error(`Cannot bind an API on top of an existing property on the window object`);
    this.exposed.set(key, api);
  }
}

/**
 * Electron's safeStorage, with real encryption (AES-256-GCM under a key only this object holds, as
 * the OS keyring would hold it), so ciphertext on disk really hides the secret. `available` and
 * `backend` play the platform: no keyring, or Linux's `basic_text`.
 */
export class FakeSafeStorage {
  available = true;
  backend = 'gnome_libsecret';
  readonly calls: string[] = [];
  private readonly key = randomBytes(32);
  isEncryptionAvailable(): boolean {
    this.calls.push('isEncryptionAvailable');
    return this.available;
  }
  getSelectedStorageBackend(): string {
    return this.backend;
  }
  encryptString(plainText: string): Buffer {
    this.calls.push('encryptString');
    if (!this.available) throw new Error('Error while encrypting the text provided to safeStorage.encryptString. Encryption is not available.');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plainText, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from('v10'), iv, cipher.getAuthTag(), body]);
  }
  decryptString(encrypted: Buffer): string {
    this.calls.push('decryptString');
    if (!this.available) throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString. Decryption is not available.');
    const iv = encrypted.subarray(3, 15);
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAuthTag(encrypted.subarray(15, 31));
    return Buffer.concat([decipher.update(encrypted.subarray(31)), decipher.final()]).toString('utf8');
  }
}
