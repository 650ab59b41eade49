/**
 * The renderer is served from `app://cachescope/`, a privileged custom scheme, not from file://.
 *
 * Why a custom scheme (Electron security checklist, "avoid file://"): a file:// page shares its
 * origin with every local file, so `'self'` in the CSP would admit any script on disk; webRequest
 * never sees file:// responses, so a CSP header cannot be attached to them; and a file:// URL
 * differs between a checkout and a packaged app. Here the origin is fixed, only files under the
 * built renderer folder can be read, and every response carries the CSP header we set ourselves.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { CustomScheme } from 'electron';
import { CONTENT_SECURITY_POLICY } from './security';

export const APP_SCHEME = 'app';
export const APP_HOST = 'cachescope';
/** The one page of the app; navigation and IPC trust are pinned to exactly this URL. */
export const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * Registered before `ready`: `standard` gives the scheme a real origin (so module scripts and
 * relative URLs resolve), `secure` makes it a secure context. No fetch, CORS or service-worker
 * privileges: the page never fetches anything in Electron mode.
 */
export const APP_SCHEME_PRIVILEGES: CustomScheme = { scheme: APP_SCHEME, privileges: { standard: true, secure: true } };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/**
 * Maps an app:// URL to a file under `rootDir`, or null when it names another host or escapes the
 * folder (`..`, encoded separators, NUL). Query and fragment are ignored.
 */
export function resolveAppFile(requestUrl: string, rootDir: string): string | null {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return null;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  const root = resolve(rootDir);
  const file = resolve(root, `.${path === '/' ? '/index.html' : path}`);
  return file.startsWith(root + sep) ? file : null;
}

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Answers one app:// request from `rootDir`; never throws, so a bad URL is a 4xx, not a crash. */
export async function serveAppRequest(
  request: Pick<Request, 'url' | 'method'>,
  rootDir: string,
  readFile: (path: string) => Promise<Uint8Array> = fsReadFile,
): Promise<Response> {
  const headers = { 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' };
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers });
  const file = resolveAppFile(request.url, rootDir);
  if (file === null) return new Response(null, { status: 403, headers });
  let body: Uint8Array;
  try {
    body = await readFile(file);
  } catch {
    return new Response(null, { status: 404, headers });
  }
  // Copied into a plain ArrayBuffer-backed view: a Node Buffer may sit on a shared pool.
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers: { ...headers, 'Content-Type': contentTypeOf(file) } });
}

export interface ProtocolLike {
  handle(scheme: string, handler: (request: Request) => Promise<Response>): void;
}

/** Serves the built renderer folder under app://cachescope/ on the session that owns `protocol`. */
export function registerAppProtocol(protocol: ProtocolLike, rootDir: string, readFile?: (path: string) => Promise<Uint8Array>): void {
  protocol.handle(APP_SCHEME, (request) => serveAppRequest(request, rootDir, readFile));
}
