/**
 * One security module for the window: strict CSP, no navigation, no new windows, no webviews, no
 * permissions, and a trusted-sender check for IPC. Electron objects are passed in, so tests use fakes.
 */
import type { Event as ElectronEvent, HandlerDetails, OnHeadersReceivedListenerDetails, WebContents, WebFrameMain } from 'electron';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The app is loaded from file:// (dist/renderer/index.html); only that exact URL is ours. */
export function isAppUrl(url: string, appUrl: string): boolean {
  try {
    const a = new URL(url);
    const b = new URL(appUrl);
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/** A sender is trusted only when it is our window's main frame showing our page. */
export function isTrustedSender(frame: Pick<WebFrameMain, 'url' | 'parent'> | null | undefined, appUrl: string): boolean {
  if (!frame) return false;
  if (frame.parent !== null) return false;
  return isAppUrl(frame.url, appUrl);
}

type WebContentsLike = Pick<WebContents, 'on' | 'setWindowOpenHandler'>;

/** Denies navigation away from the app, every new window and every webview. */
export function hardenWebContents(contents: WebContentsLike, appUrl: string): void {
  contents.on('will-navigate', (event: ElectronEvent, url: string) => {
    if (!isAppUrl(url, appUrl)) event.preventDefault();
  });
  contents.on('will-redirect', (event: ElectronEvent, url: string) => {
    if (!isAppUrl(url, appUrl)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event: ElectronEvent) => event.preventDefault());
  contents.setWindowOpenHandler((_details: HandlerDetails) => ({ action: 'deny' }));
}

export interface SessionLike {
  setPermissionRequestHandler(handler: ((webContents: WebContents, permission: string, callback: (granted: boolean) => void) => void) | null): void;
  setPermissionCheckHandler(handler: ((webContents: WebContents | null, permission: string) => boolean) | null): void;
  webRequest: {
    onHeadersReceived(listener: (details: OnHeadersReceivedListenerDetails, callback: (response: { responseHeaders?: Record<string, string[]> }) => void) => void): void;
  };
}

/** No permission is ever granted, and every response carries the CSP. */
export function hardenSession(session: SessionLike): void {
  session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...(details.responseHeaders ?? {}), 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
}

export interface AppLike {
  on(event: 'web-contents-created', listener: (event: ElectronEvent, contents: WebContents) => void): unknown;
}

/** Every webContents the app ever creates gets the same rules, not only the main window's. */
export function hardenApp(app: AppLike, appUrl: string): void {
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, appUrl));
}
