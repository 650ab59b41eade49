/** A counting loopback reverse proxy in front of a registry that records every request and injects faults on demand. */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { listenLoopback } from './ports';
import type { TestCA } from './test-ca';

export type Fault =
  | { kind: 'reset'; afterBytes: number; direction?: 'request' | 'response' }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'rate-limit'; retryAfter: number }
  | { kind: 'truncate'; afterBytes: number; direction?: 'request' | 'response' }
  | { kind: 'stall'; ms: number; afterBytes?: number; direction?: 'request' | 'response' }
  | { kind: 'too-large'; maxBytes: number }
  | { kind: 'ignore-range' }
  | { kind: 'drop-body' }
  | { kind: 'redirect'; location: string; status?: number }
  | { kind: 'rewrite-status'; status: number }
  /** Forwards, but the answer's `Location` (an upload session) points at `origin` instead: another host, as S3-backed registries do. */
  | { kind: 'relocate'; origin: string }
  /** Forwards, but when the upstream answers `whenStatus` (any status when absent) the client gets `status` and `body` instead (e.g. distribution's 404 on a stale Location as 416 RANGE_INVALID). */
  | { kind: 'rewrite-answer'; whenStatus?: number; status: number; body: string; headers?: Record<string, string> }
  /** Forwards, adding these headers to the answer (e.g. `OCI-Chunk-Min-Length` on an upload start). */
  | { kind: 'add-headers'; headers: Record<string, string> };

export interface FaultContext {
  index: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export type FaultFn = (req: FaultContext) => Fault | undefined;

export interface FaultRule {
  method?: string;
  /** A substring of the path (with query), or a RegExp tested against it. */
  path?: string | RegExp;
  /** How many matching requests get the fault (default 1; Infinity for all). */
  times?: number;
  fault: Fault;
}

export interface ProxyRequest {
  index: number;
  method: string;
  path: string;
  range?: string;
  contentRange?: string;
  contentType?: string;
  authorization: boolean;
  headers: IncomingHttpHeaders;
  /** 0 when the connection was cut before a status line was sent. */
  status: number;
  /** Request body bytes received from the client. */
  bytesIn: number;
  /** Request body bytes passed on to the upstream. */
  bytesForwarded: number;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  fault?: Fault['kind'];
  /** Set once the exchange is over (answered, cut or failed). */
  done: boolean;
}

export interface ProxyOptions {
  faults?: FaultRule[] | FaultFn;
  /** CA file for an https upstream. */
  upstreamCa?: string;
  /** Serve the proxy itself over HTTPS. */
  tls?: TestCA;
}

export interface CountingProxy {
  url: string;
  host: string;
  port: number;
  /** The upstream URL. */
  target: string;
  /** The registry behind, when startProxy was given one (pushFixture takes its users from it). */
  registry?: ProxiedRegistry;
  /** The CA of the proxy's own TLS, when it serves HTTPS. */
  ca?: TestCA;
  requests(): ProxyRequest[];
  clear(): void;
  setFaults(faults: FaultRule[] | FaultFn | undefined): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function copyHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

const BODY_413 = '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n';

const STATUS_CODES: Record<number, string> = { 500: 'UNKNOWN', 502: 'UNAVAILABLE', 503: 'UNAVAILABLE', 504: 'UNAVAILABLE', 404: 'NAME_UNKNOWN', 401: 'UNAUTHORIZED', 403: 'DENIED', 400: 'BAD_REQUEST', 408: 'UNAVAILABLE' };

/** Cuts a socket hard (RST) where Node allows it, else destroys it. */
function reset(socket: Socket | null): void {
  if (!socket) return;
  const s = socket as Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy === 'function' && !s.destroyed) s.resetAndDestroy();
  else socket.destroy();
}

export function pickFault(faults: FaultRule[] | FaultFn | undefined, ctx: FaultContext, used: Map<FaultRule, number>): Fault | undefined {
  if (!faults) return undefined;
  if (typeof faults === 'function') return faults(ctx);
  for (const rule of faults) {
    if (rule.method && rule.method.toUpperCase() !== ctx.method) continue;
    if (rule.path !== undefined && !(typeof rule.path === 'string' ? ctx.path.includes(rule.path) : rule.path.test(ctx.path))) continue;
    const n = used.get(rule) ?? 0;
    if (n >= (rule.times ?? 1)) continue;
    used.set(rule, n + 1);
    return rule.fault;
  }
  return undefined;
}

/** What the proxy needs to know of a RunningRegistry (kept structural to avoid an import cycle). */
export interface ProxiedRegistry {
  url: string;
  auth: string;
  users: Record<string, string>;
  ca?: TestCA;
}

/** `target`: a URL, or a RunningRegistry (its CA is then trusted upstream and its users are remembered). */
export async function startProxy(target: string | ProxiedRegistry, opts: ProxyOptions = {}): Promise<CountingProxy> {
  const registry = typeof target === 'string' ? undefined : target;
  const upstream = new URL(typeof target === 'string' ? target : target.url);
  const upstreamOrigin = upstream.origin;
  const caFile = opts.upstreamCa ?? registry?.ca?.caCert;
  const upstreamCa = caFile ? readFileSync(caFile) : undefined;
  let faults = opts.faults;
  let used = new Map<FaultRule, number>();
  let log: ProxyRequest[] = [];
  let counter = 0;
  let origin = '';
  // Stalls still pending when the proxy stops are dropped, so a long stall never keeps a test alive.
  const stalls = new Set<NodeJS.Timeout>();
  const stallTimer = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      stalls.delete(t);
      fn();
    }, ms);
    stalls.add(t);
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: ProxyRequest = {
      index: counter++, method, path,
      range: req.headers.range, contentRange: req.headers['content-range'], contentType: req.headers['content-type'],
      authorization: req.headers.authorization !== undefined, headers: req.headers,
      status: 0, bytesIn: 0, bytesForwarded: 0, bytesOut: 0, done: false,
    };
    log.push(entry);
    const fault = pickFault(faults, { index: entry.index, method, path, headers: req.headers }, used);
    if (fault) entry.fault = fault.kind;
    res.on('close', () => (entry.done = true));
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : undefined;
    const hasBody = declared !== undefined ? declared > 0 : req.headers['transfer-encoding'] !== undefined;

    // The one reader of the request body: counts what arrives and hands it on.
    const consume = (onChunk: (c: Buffer) => void, onEnd: () => void) => {
      req.on('data', (c: Buffer) => {
        entry.bytesIn += c.length;
        onChunk(c);
      });
      req.on('end', onEnd);
    };
    const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
      if (res.destroyed || res.headersSent) return;
      entry.status = status;
      const bytes = Buffer.from(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(bytes.length), 'docker-distribution-api-version': 'registry/2.0', ...headers });
      res.end(bytes);
      entry.bytesOut += bytes.length;
    };
    // Answers without forwarding still read the request body, as a server would, so the client is not cut mid-upload.
    const answerAfterBody = (status: number, body: string, headers?: Record<string, string>) =>
      consume(() => undefined, () => answer(status, body, headers));
    const refuseTooLarge = () => {
      // Like nginx: answer 413 at once and close the connection without reading the rest.
      answer(413, BODY_413, { 'content-type': 'text/html', connection: 'close' });
      res.on('finish', () => req.socket.destroySoon());
    };

    switch (fault?.kind) {
      case 'status':
        return answerAfterBody(fault.status, fault.body ?? errorBody(STATUS_CODES[fault.status] ?? 'UNKNOWN', `injected ${fault.status}`), fault.headers);
      case 'rate-limit':
        return answerAfterBody(429, errorBody('TOOMANYREQUESTS', 'toomanyrequests: rate limit exceeded (injected)'), { 'retry-after': String(fault.retryAfter) });
      case 'redirect':
        return answerAfterBody(fault.status ?? 307, '', { location: fault.location });
      case 'too-large': {
        if (declared !== undefined) return declared > fault.maxBytes ? refuseTooLarge() : forward(fault);
        // A streamed body of unknown length: hold it, and refuse as soon as it passes the cap.
        const held: Buffer[] = [];
        let refused = false;
        return consume((c) => {
          if (refused) return;
          held.push(c);
          if (entry.bytesIn > fault.maxBytes) {
            refused = true;
            refuseTooLarge();
          }
        }, () => {
          if (!refused) forward(fault, Buffer.concat(held));
        });
      }
      case 'stall':
        if (fault.afterBytes !== undefined) return forward(fault);
        req.pause();
        return void stallTimer(() => forward(fault), fault.ms);
      default:
        return forward(fault);
    }

    function forward(f: Fault | undefined, heldBody?: Buffer): void {
      if (res.destroyed) return;
      const headers = copyHeaders(req.headers);
      if (f?.kind === 'ignore-range') delete headers.range;
      if (f?.kind === 'drop-body') {
        headers['content-length'] = '0';
        delete headers['content-range'];
      } else if (heldBody) {
        headers['content-length'] = String(heldBody.length);
      }
      const send = upstream.protocol === 'https:' ? httpsRequest : httpRequest;
      const up = send({
        protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method, path,
        headers: { ...headers, host: upstream.host }, ca: upstreamCa, agent: false,
      });
      let cutting = false;
      up.on('error', () => {
        if (cutting) return;
        if (!res.headersSent) answer(502, errorBody('UNAVAILABLE', 'proxy: upstream failed'));
        else reset(res.socket);
      });
      // A truncated upload gets no answer: its connection was closed short of the body.
      const truncAt = f?.kind === 'truncate' && f.direction === 'request' ? f.afterBytes : undefined;
      up.on('response', (upRes) => (truncAt !== undefined && cutting ? upRes.destroy() : onResponse(upRes, f)));
      // A client that goes away (an aborted download) stops the upstream transfer too.
      res.on('close', () => {
        if (!res.writableFinished) {
          cutting = true;
          up.destroy();
        }
      });

      if (heldBody) {
        entry.bytesForwarded += heldBody.length;
        return void up.end(heldBody);
      }
      if (f?.kind === 'drop-body') {
        up.end();
        return consume(() => undefined, () => undefined);
      }
      const resetAt = f?.kind === 'reset' && (f.direction ?? (hasBody ? 'request' : 'response')) === 'request' ? f.afterBytes : undefined;
      const cutAt = resetAt ?? truncAt;
      // Request-direction stall: the first N upload bytes reach the registry, the rest waits `ms`.
      let holdAt = f?.kind === 'stall' && f.direction === 'request' && f.afterBytes !== undefined ? f.afterBytes : undefined;
      consume((c) => {
        if (cutting) return;
        if (holdAt !== undefined && f?.kind === 'stall' && entry.bytesForwarded + c.length > holdAt) {
          const head = c.subarray(0, holdAt - entry.bytesForwarded);
          const rest = c.subarray(head.length);
          holdAt = undefined;
          entry.bytesForwarded += head.length;
          up.write(head);
          req.pause();
          return void stallTimer(() => {
            if (res.destroyed || cutting) return;
            entry.bytesForwarded += rest.length;
            up.write(rest);
            req.resume();
          }, f.ms);
        }
        const part = cutAt === undefined ? c : c.subarray(0, Math.max(0, cutAt - entry.bytesForwarded));
        entry.bytesForwarded += part.length;
        const flowing = part.length === 0 || up.write(part);
        if (cutAt !== undefined && entry.bytesForwarded >= cutAt) {
          // Request-direction reset: the first N bytes reach the upstream, then both sides are cut (RST).
          // Request-direction truncate: the same, but both connections are closed in order (FIN), so the
          // registry reads a body that ends short of its Content-Length.
          cutting = true;
          req.pause();
          setTimeout(() => {
            if (truncAt !== undefined) {
              up.socket?.end();
              req.socket.end();
            } else {
              up.destroy();
              reset(req.socket);
            }
          }, 50);
        } else if (!flowing) {
          req.pause();
          up.once('drain', () => req.resume());
        }
      }, () => {
        if (!cutting) up.end();
      });
      req.resume();
    }

    function onResponse(upRes: IncomingMessage, f: Fault | undefined): void {
      if (res.destroyed) return void upRes.destroy();
      if (f?.kind === 'rewrite-answer' && (f.whenStatus === undefined || upRes.statusCode === f.whenStatus)) {
        // The upstream's own answer is read and dropped; the client gets the rewritten one.
        upRes.resume();
        return answer(f.status, f.body, f.headers);
      }
      const headers = copyHeaders(upRes.headers);
      if (f?.kind === 'add-headers') Object.assign(headers, f.headers);
      const location = upRes.headers.location;
      if (typeof location === 'string' && location.startsWith(upstreamOrigin)) headers.location = origin + location.slice(upstreamOrigin.length);
      if (f?.kind === 'relocate' && typeof location === 'string') {
        const where = new URL(location, upstreamOrigin);
        headers.location = `${f.origin}${where.pathname}${where.search}`;
      }
      // rewrite-status: the upstream's answer with another status (ECR's 201 instead of 202 on PATCH).
      entry.status = f?.kind === 'rewrite-status' ? f.status : (upRes.statusCode ?? 0);
      res.writeHead(entry.status, headers);
      const cutAt = f?.kind === 'truncate' && f.direction !== 'request' ? f.afterBytes
        : f?.kind === 'reset' && (f.direction ?? (hasBody ? 'request' : 'response')) === 'response' ? f.afterBytes
          : undefined;
      let cutting = false;
      const cut = () => {
        cutting = true;
        upRes.destroy();
        // truncate: an orderly close (FIN) short of Content-Length; reset: an RST.
        setTimeout(() => (f?.kind === 'truncate' ? res.socket?.end() : reset(res.socket)), 20);
      };
      if (cutAt === 0 && method !== 'HEAD') {
        res.flushHeaders();
        return cut();
      }
      // stall with afterBytes: N response bytes, a pause of ms, then the rest.
      let stallAt = f?.kind === 'stall' && f.direction !== 'request' && f.afterBytes !== undefined ? f.afterBytes : undefined;
      let holding = false;
      let upstreamEnded = false;
      upRes.on('data', (c: Buffer) => {
        if (cutting) return;
        if (stallAt !== undefined && f?.kind === 'stall' && entry.bytesOut + c.length > stallAt) {
          const head = c.subarray(0, stallAt - entry.bytesOut);
          const rest = c.subarray(head.length);
          stallAt = undefined;
          entry.bytesOut += head.length;
          res.write(head);
          upRes.pause();
          holding = true;
          stallTimer(() => {
            holding = false;
            if (res.destroyed) return void upRes.destroy();
            entry.bytesOut += rest.length;
            res.write(rest);
            if (upstreamEnded) res.end();
            else upRes.resume();
          }, f.ms);
          return;
        }
        const part = cutAt === undefined ? c : c.subarray(0, Math.max(0, cutAt - entry.bytesOut));
        entry.bytesOut += part.length;
        const flowing = res.write(part);
        if (cutAt !== undefined && entry.bytesOut >= cutAt) cut();
        else if (!flowing) {
          upRes.pause();
          res.once('drain', () => upRes.resume());
        }
      });
      upRes.on('end', () => {
        upstreamEnded = true;
        if (!cutting && !holding) res.end();
      });
      upRes.on('error', () => reset(res.socket));
    }
  }

  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.serverCert), key: readFileSync(opts.tls.serverKey) }, handle)
    : createHttpServer(handle);
  // Node's default 5 s keep-alive and request timeouts would themselves look like faults.
  server.keepAliveTimeout = 60_000;
  server.requestTimeout = 0;
  const port = await listenLoopback(server);
  origin = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url: origin,
    host: `127.0.0.1:${port}`,
    port,
    target: upstreamOrigin,
    registry,
    ca: opts.tls,
    requests: () => log.slice(),
    clear: () => {
      log = [];
      counter = 0;
    },
    setFaults: (f) => {
      faults = f;
      used = new Map();
    },
    async stop() {
      for (const t of stalls) clearTimeout(t);
      stalls.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
