/**
 * One security module for the app: a strict CSP, no navigation away from the app page, no new
 * windows, no webviews, no permissions (but clipboard writes from the app page), and the
 * trusted-sender check for IPC. Electron objects are
 * passed in (structural types below), so every rule is unit-tested with fakes under plain Node.
 */
import type { Event as ElectronEvent, IpcMainInvokeEvent, OnHeadersReceivedListenerDetails, WebContents, WebFrameMain } from 'electron';

/**
 * Nothing but the app's own scripts, worker, styles, fonts and images; no inline code, no eval, no
 * framing. `worker-src 'self'`: the Raw JSON view formats in dist/renderer/json-worker.js (never a
 * blob: or data: worker). No `data:` images: no view draws one (the favicon is favicon.svg).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * True when `url` is the app page itself (scheme, host and path equal; the fragment and query may
 * differ, since they never leave the page). Anything unparsable is not the app.
 */
export function isAppUrl(url: string, appUrl: string): boolean {
  try {
    const a = new URL(url);
    const b = new URL(appUrl);
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/** A sender frame is trusted only when it is a main frame (no parent) showing the app page. */
export function isTrustedSender(frame: Pick<WebFrameMain, 'url' | 'parent'> | null | undefined, appUrl: string): boolean {
  if (!frame) return false;
  if (frame.parent !== null) return false;
  return isAppUrl(frame.url, appUrl);
}

/**
 * The IPC trust check main binds: the event must come from our window's webContents (by id, so a
 * second window or a devtools page is refused even on the same URL) and from its main frame on the
 * app page. `windowContents` is read per call because the window can close and be re-created.
 */
export function trustedSenderCheck(
  windowContents: () => { id: number } | null,
  appUrl: string,
): (event: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>) => boolean {
  return (event) => {
    const ours = windowContents();
    if (!ours || !event.sender || event.sender.id !== ours.id) return false;
    return isTrustedSender(event.senderFrame, appUrl);
  };
}

interface Preventable {
  preventDefault(): void;
}

/** The parts of WebContents the hardening uses; listeners take Electron's current `details` event form. */
export interface WebContentsLike {
  on(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', listener: (details: Preventable & { url: string }) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: Preventable) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/**
 * Denies every navigation (main frame, redirects, subframes) except to the app page itself, every
 * new window (links included: the app has nothing to open) and every webview.
 */
export function hardenWebContents(contents: WebContentsLike, appUrl: string): void {
  const stayHome = (details: Preventable & { url: string }) => {
    if (!isAppUrl(details.url, appUrl)) details.preventDefault();
  };
  contents.on('will-navigate', stayHome);
  contents.on('will-redirect', stayHome);
  contents.on('will-frame-navigate', stayHome);
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

type HeadersCallback = (response: { cancel?: boolean; responseHeaders?: Record<string, string | string[]> }) => void;

export interface SessionLike {
  // Only the permission name and who asks are read: everything is refused but one narrow case.
  setPermissionRequestHandler(handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void, details: PermissionAsker | undefined) => void): void;
  setPermissionCheckHandler(handler: (webContents: unknown, permission: string, requestingOrigin: string, details: PermissionAsker | undefined) => boolean): void;
  webRequest: {
    onHeadersReceived(listener: (details: Pick<OnHeadersReceivedListenerDetails, 'url' | 'responseHeaders'>, callback: HeadersCallback) => void): void;
  };
  /** Electron's Session always has it; optional so permission-only fakes stay valid. */
  on?(event: 'will-download', listener: (event: Preventable, item: DownloadItemLike) => void): unknown;
}

/** The part of Electron's DownloadItem the download rule reads. */
export interface DownloadItemLike {
  getURL(): string;
}

/**
 * The one kind of download the app starts: Raw JSON's "download raw", a blob: URL the app page
 * made from the document's text (blob:app://cachescope/<uuid>). The CSP does not govern downloads
 * and an `<a download>` click is not a navigation, so this is the rule that admits it; any other
 * download (a remote URL, a file:// URL, a blob of another origin) is cancelled.
 */
export function isAppDownload(url: string, appUrl: string): boolean {
  if (!url.startsWith('blob:')) return false;
  try {
    const inner = new URL(url.slice('blob:'.length));
    const app = new URL(appUrl);
    return inner.protocol === app.protocol && inner.host === app.host;
  } catch {
    return false;
  }
}

/** The fields of Electron's permission request/check details that say who is asking. */
export interface PermissionAsker {
  requestingUrl?: string;
  isMainFrame?: boolean;
}

/**
 * The one permission the app uses: writing text to the clipboard (the UI's copy buttons call
 * navigator.clipboard.writeText, which Electron routes through these handlers). Reading the
 * clipboard, media, notifications, geolocation, openExternal… are never granted.
 */
export const GRANTED_PERMISSIONS: readonly string[] = ['clipboard-sanitized-write'];

/** Granted only for the listed permissions, and only to the app page's main frame. */
export function isPermissionGranted(permission: string, details: PermissionAsker | undefined, appUrl: string): boolean {
  if (!GRANTED_PERMISSIONS.includes(permission)) return false;
  return details?.isMainFrame === true && typeof details.requestingUrl === 'string' && isAppUrl(details.requestingUrl, appUrl);
}

/**
 * Refuses every permission but clipboard writes from the app page, and puts the CSP on every
 * response webRequest sees. The app page itself is served by the app protocol with the same header;
 * this covers anything else, so even a page that somehow loaded cannot run inline or foreign code.
 */
export function hardenSession(session: SessionLike, appUrl: string): void {
  session.setPermissionRequestHandler((_contents, permission, callback, details) => callback(isPermissionGranted(permission, details, appUrl)));
  session.setPermissionCheckHandler((_contents, permission, _origin, details) => isPermissionGranted(permission, details, appUrl));
  session.webRequest.onHeadersReceived((details, callback) => {
    const headers: Record<string, string | string[]> = { ...(details.responseHeaders ?? {}) };
    // A policy the response already brings is kept beside ours: several policies are all enforced,
    // so adding ours can only make the page stricter, never looser.
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'content-security-policy') ?? 'Content-Security-Policy';
    const existing = headers[name] ?? [];
    headers[name] = [...(Array.isArray(existing) ? existing : [existing]), CONTENT_SECURITY_POLICY];
    callback({ responseHeaders: headers });
  });
  // Not handled further: Electron then asks where to save, as a browser does.
  session.on?.('will-download', (event, item) => {
    if (!isAppDownload(item.getURL(), appUrl)) event.preventDefault();
  });
}

export interface AppLike {
  on(event: 'web-contents-created', listener: (event: ElectronEvent, contents: WebContents) => void): unknown;
}

/** Every webContents the app ever creates (windows, devtools, anything) gets the same rules. */
export function hardenApp(app: AppLike, appUrl: string): void {
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents as unknown as WebContentsLike, appUrl));
}

/** All the rules at once: call before the first window is created, with the session it will use. */
export function applySecurity(options: { app: AppLike; session: SessionLike; appUrl: string }): void {
  hardenApp(options.app, options.appUrl);
  hardenSession(options.session, options.appUrl);
}
