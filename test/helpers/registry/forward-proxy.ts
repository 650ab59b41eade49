/** A plain forward proxy (HTTP CONNECT tunnels and absolute-URI requests) that counts what passes, for HTTPS_PROXY tests. */
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { listenLoopback } from './ports';

export interface ForwardedRequest {
  /** 'CONNECT' for a tunnel, else the request's method. */
  method: string;
  /** host:port for CONNECT, the absolute URL otherwise. */
  target: string;
  proxyAuthorization: boolean;
  status: number;
  /** Bytes from the client (tunnel: both ways are counted separately). */
  bytesIn: number;
  bytesOut: number;
}

export interface ForwardProxy {
  url: string;
  host: string;
  port: number;
  requests(): ForwardedRequest[];
  clear(): void;
  stop(): Promise<void>;
}

export interface ForwardProxyOptions {
  /** Maps a requested host name to the address dialled (tests name loopback registries *.cachescope.test). */
  resolve?: (host: string) => string;
}

export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const dial = options.resolve ?? ((host: string) => host);
  let log: ForwardedRequest[] = [];
  const sockets = new Set<Socket>();

  function plain(req: IncomingMessage, res: ServerResponse): void {
    const entry: ForwardedRequest = { method: req.method ?? 'GET', target: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'] !== undefined, status: 0, bytesIn: 0, bytesOut: 0 };
    log.push(entry);
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('not http');
    } catch {
      entry.status = 400;
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end('forward proxy: absolute http:// URI or CONNECT expected');
    }
    const headers: OutgoingHttpHeaders = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = httpRequest({ hostname: dial(target.hostname), port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers, agent: false }, (upRes) => {
      entry.status = upRes.statusCode ?? 0;
      res.writeHead(entry.status, upRes.headers);
      upRes.on('data', (c: Buffer) => (entry.bytesOut += c.length));
      upRes.pipe(res);
    });
    up.on('error', () => {
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.on('data', (c: Buffer) => (entry.bytesIn += c.length));
    req.pipe(up);
  }

  const server = createServer(plain);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const entry: ForwardedRequest = { method: 'CONNECT', target: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'] !== undefined, status: 0, bytesIn: head.length, bytesOut: 0 };
    log.push(entry);
    const [host, port] = [entry.target.slice(0, entry.target.lastIndexOf(':')), Number(entry.target.slice(entry.target.lastIndexOf(':') + 1))];
    const up = connect(port, dial(host.replace(/^\[|\]$/g, '')), () => {
      entry.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      client.on('data', (c: Buffer) => (entry.bytesIn += c.length));
      up.on('data', (c: Buffer) => (entry.bytesOut += c.length));
      client.pipe(up);
      up.pipe(client);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => {
      if (entry.status === 0) {
        entry.status = 502;
        client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      } else client.destroy();
    });
    client.on('error', () => up.destroy());
  });
  const port = await listenLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    requests: () => log.slice(),
    clear: () => {
      log = [];
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
