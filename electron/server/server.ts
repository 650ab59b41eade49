/**
 * Browser mode: serves the built renderer and the same contract over HTTP (POST /api/<request>)
 * with server-sent events (GET /api/events). Bound to 127.0.0.1 only, behind a random token.
 */
import { readFile, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { CacheError, toContractError } from '../../shared/contract/errors';
import type { Outcome } from '../../shared/contract/errors';
import { isRequestName, validateParams } from '../../shared/contract/validate';
import type { EventName, Events, Handlers } from '../../shared/contract/index';
import { SECURITY_HEADERS, TOKEN_COOKIE, TOKEN_HEADER, cookieToken, hostAllowed, newToken, originAllowed, tokensEqual } from './security';

const MAX_BODY = 1 << 20;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface ServerOptions {
  handlers: Handlers;
  rendererDir: string;
  port?: number;
  token?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  token: string;
  /** Sends an event to every connected page. */
  emit<E extends EventName>(event: E, payload: Events[E]): void;
  close(): Promise<void>;
}

/** Lists the built renderer's files once: only those names are ever served, so no path can escape. */
async function staticFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && CONTENT_TYPES[extname(entry.name)]) files.set(`/${entry.name}`, join(dir, entry.name));
  }
  if (!files.has('/index.html')) throw new CacheError('not-found', `${dir} has no index.html: build the renderer first (node scripts/build.mjs renderer)`);
  return files;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra });
  res.end(body);
}

/** Past this many bytes of an over-limit body the connection is dropped instead of drained for the 413. */
const MAX_DRAIN = 64 << 20;

/** A body over MAX_BODY: answered 413 once the client has finished sending, so it reads the answer instead of a reset. */
class BodyTooLarge extends CacheError {
  constructor() {
    super('too-large', `request body over the ${MAX_BODY}-byte limit`);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Keep reading (and dropping) the rest: closing a socket with unread bytes resets it, and the client would never see the 413.
      if (size > MAX_DRAIN) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      if (size > MAX_BODY) {
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => (size > MAX_BODY ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const files = await staticFiles(options.rendererDir);
  const token = options.token ?? newToken();
  const clients = new Set<ServerResponse>();
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req, port) || !originAllowed(req, port)) {
      send(res, 403, 'text/plain; charset=utf-8', 'forbidden: foreign Host or Origin');
      return;
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const path = url.pathname;
    if (path.startsWith('/api/')) {
      const given = req.headers[TOKEN_HEADER] as string | undefined;
      if (path === '/api/events' && req.method === 'GET') {
        if (!tokensEqual(url.searchParams.get('token') ?? cookieToken(req), token)) {
          send(res, 401, 'text/plain; charset=utf-8', 'missing or wrong token');
          return;
        }
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (!tokensEqual(given, token)) {
        send(res, 401, 'application/json', JSON.stringify({ ok: false, error: { code: 'forbidden', message: 'missing or wrong token' } }));
        return;
      }
      if (req.method !== 'POST') {
        send(res, 405, 'application/json', JSON.stringify({ ok: false, error: { code: 'bad-request', message: 'use POST' } }), { allow: 'POST' });
        return;
      }
      const name = path.slice('/api/'.length);
      let outcome: Outcome<unknown>;
      let status = 200;
      try {
        if (!isRequestName(name)) throw new CacheError('bad-request', `unknown request "${name}"`);
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new CacheError('bad-request', 'content-type must be application/json');
        const text = await readBody(req);
        let raw: unknown;
        try {
          raw = text.length === 0 ? {} : JSON.parse(text);
        } catch {
          throw new CacheError('bad-request', 'request body is not JSON');
        }
        const params = validateParams(name, raw);
        const handler = options.handlers[name] as (p: unknown) => Promise<unknown>;
        outcome = { ok: true, value: await handler(params) };
      } catch (err) {
        if (err instanceof BodyTooLarge) status = 413;
        outcome = { ok: false, error: toContractError(err) };
      }
      send(res, status, 'application/json', JSON.stringify(outcome));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed');
      return;
    }
    const queryToken = url.searchParams.get('token');
    const authorised = tokensEqual(queryToken, token) || tokensEqual(cookieToken(req), token);
    if (!authorised) {
      send(res, 401, 'text/plain; charset=utf-8', 'Cachescope browser mode: open the URL printed by `cachescope serve`; it carries the access token.');
      return;
    }
    const file = files.get(path === '/' ? '/index.html' : path);
    if (!file) {
      send(res, 404, 'text/plain; charset=utf-8', 'not found');
      return;
    }
    const extra: Record<string, string> = {};
    if (queryToken) extra['set-cookie'] = `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    send(res, 200, CONTENT_TYPES[extname(file)], await readFile(file), extra);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ ok: false, error: toContractError(err) }));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const heartbeat = setInterval(() => {
    for (const c of clients) c.write(': ping\n\n');
  }, 15_000);
  heartbeat.unref();
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    emit(event, payload) {
      const frame = `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
      for (const c of clients) c.write(frame);
    },
    async close() {
      clearInterval(heartbeat);
      for (const c of clients) c.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
}
