/**
 * The download threads' small HTTP/1.1 client (registry/direct-download*.ts) against real local
 * node:http / node:https / node:net servers: what each answer becomes, and the file's bytes after it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeIdleDirectConnections, directDownload, directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import type { DirectDownloadCounts, DirectDownloadOptions, DirectGetPlan, DirectOutcome } from '../../../electron/engine/registry/direct-download';
import { makeTestCA } from '../../helpers/registry/index';
import type { TestCA } from '../../helpers/registry/index';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'direct-download-'));
const fds: number[] = [];
const closers: (() => Promise<void>)[] = [];
after(async () => {
  closeIdleDirectConnections();
  await Promise.all(closers.map((c) => c()));
  for (const fd of fds) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let fileNo = 0;
/** A partial file as the blob cache opens it: for appending, holding `prefix` already. */
function partialFile(prefix: Buffer = Buffer.alloc(0)): { path: string; fd: number; bytes: () => Buffer } {
  const path = join(dir, `partial-${++fileNo}`);
  writeFileSync(path, prefix);
  const fd = openSync(path, 'a+');
  fds.push(fd);
  return { path, fd, bytes: () => readFileSync(path) };
}

interface TestServer {
  port: number;
  /** Request heads, in arrival order. */
  seen: { url: string; headers: IncomingHttpHeaders; rawHeaders: string[] }[];
  /** TCP connections accepted. */
  connections: number;
  server: Server;
}

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function httpServer(handler: Handler, tls?: { key: Buffer; cert: Buffer }): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res, seen.length - 1);
  };
  const server = tls ? createHttpsServer(tls, onRequest) : createHttpServer(onRequest);
  const s: TestServer = { port: 0, seen, connections: 0, server };
  server.on('connection', () => s.connections++);
  s.port = await listen(server);
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return s;
}

/** A server that writes raw bytes on the socket (framing errors node:http would not make). */
async function rawServer(onRequest: (socket: Socket, head: string) => void): Promise<{ port: number; connections: number }> {
  const sockets = new Set<Socket>();
  const s = { port: 0, connections: 0 };
  const server = createNetServer((socket) => {
    s.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const req = head.slice(0, end);
      head = head.slice(end + 4);
      onRequest(socket, req);
    });
  });
  s.port = await listen(server);
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return s;
}

function planFor(port: number, extra: Partial<DirectGetPlan> = {}): DirectGetPlan {
  const protocol = extra.protocol ?? 'http:';
  return {
    protocol,
    host: '127.0.0.1',
    port,
    hostHeader: `127.0.0.1:${port}`,
    path: '/v2/team/app/blobs/sha256:0123?ns=example.com',
    headers: { authorization: 'Bearer secret-token', 'user-agent': 'cachescope-test/1.0' },
    idleTimeoutMs: 10_000,
    connKey: `${protocol}//127.0.0.1:${port}|${extra.tls ? 'ca' : ''}`,
    ...extra,
  };
}

/** One download, and which of the counters moved (exactly one must, by one). */
async function download(
  plan: DirectGetPlan,
  fd: number,
  options: Partial<DirectDownloadOptions> & { size: number },
): Promise<DirectOutcome> {
  const before = directDownloadCounts();
  const outcome = await directDownload(plan, fd, { algorithm: 'sha256', offset: 0, signal: new AbortController().signal, ...options });
  const now = directDownloadCounts();
  const moved = (Object.keys(now) as (keyof DirectDownloadCounts)[]).filter((k) => now[k] !== before[k]);
  assert.deepEqual(moved, [outcome.kind], `the ${outcome.kind} counter moves, and only it`);
  assert.equal(now[outcome.kind as keyof DirectDownloadCounts], before[outcome.kind as keyof DirectDownloadCounts] + 1);
  return outcome;
}

/** Answers a blob GET the way a registry does: 200 whole, or 206 from the asked Range offset. */
function blobHandler(blob: Buffer): Handler {
  return (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!range) return res.writeHead(200, { 'content-length': blob.length, 'content-type': 'application/octet-stream' }).end(blob);
    const from = Number(range[1]);
    res.writeHead(206, { 'content-length': blob.length - from, 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(from));
  };
}

describe('direct download: keep-alive', () => {
  // First in the file: the threads start cold here, as in a fresh process.
  it('five sequential downloads from one origin use one TCP connection', async () => {
    const blob = randomBytes(300 * 1024);
    const s = await httpServer(blobHandler(blob));
    for (let i = 0; i < 5; i++) {
      const file = partialFile();
      const outcome = await download(planFor(s.port), file.fd, { size: blob.length });
      assert.deepEqual(outcome, { kind: 'complete', bytes: blob.length, digest: sha256(blob) });
      assert.ok(file.bytes().equals(blob));
    }
    assert.equal(s.seen.length, 5);
    assert.equal(s.connections, 1);
  });

  it('goes back to the thread that holds the idle connection to an origin', async () => {
    // Two downloads at once put two threads to work, one origin each; then each origin again, in turn.
    const blob = randomBytes(200 * 1024);
    const x = await httpServer(blobHandler(blob));
    const y = await httpServer(blobHandler(blob));
    const before = directDownloadCounts();
    const signal = new AbortController().signal;
    const both = await Promise.all([x, y].map((s) => directDownload(planFor(s.port), partialFile().fd, { algorithm: 'sha256', offset: 0, size: blob.length, signal })));
    assert.deepEqual(both.map((o) => o.kind), ['complete', 'complete']);
    assert.deepEqual(directDownloadCounts(), { ...before, complete: before.complete + 2 });
    for (const s of [y, x, y, x]) {
      const file = partialFile();
      assert.equal((await download(planFor(s.port), file.fd, { size: blob.length })).kind, 'complete');
      assert.ok(file.bytes().equals(blob));
    }
    assert.equal(x.connections, 1);
    assert.equal(y.connections, 1);
  });

  it('reconnects when the server closed the idle connection between two downloads', async () => {
    const blob = randomBytes(100 * 1024);
    const closed: Promise<void>[] = [];
    const serve = blobHandler(blob);
    const s = await httpServer((req, res, i) => {
      serve(req, res, i);
      // The server ends every connection once its answer is out (as an idle timeout would).
      const socket = req.socket;
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
      res.once('finish', () => socket.end());
    });
    for (let i = 0; i < 3; i++) {
      const file = partialFile();
      assert.equal((await download(planFor(s.port), file.fd, { size: blob.length })).kind, 'complete');
      assert.ok(file.bytes().equals(blob));
      await closed[i];
    }
    assert.equal(s.connections, 3);
  });

  it('closeIdleDirectConnections closes the kept-alive connections', { timeout: 20_000 }, async () => {
    const blob = randomBytes(10 * 1024);
    const closed: Promise<void>[] = [];
    const s = await httpServer(blobHandler(blob));
    s.server.on('connection', (socket: Socket) => closed.push(new Promise((resolve) => socket.once('close', () => resolve()))));
    const file = partialFile();
    // An idle timeout longer than the test's: only closeIdleDirectConnections may close it.
    assert.equal((await download(planFor(s.port, { idleTimeoutMs: 60_000 }), file.fd, { size: blob.length })).kind, 'complete');
    closeIdleDirectConnections();
    // The server sees its connection end without closing it itself.
    await Promise.all(closed);
    assert.equal(s.connections, 1);
  });

  it('does not reuse a connection the server answered with Connection: close', async () => {
    const blob = randomBytes(50 * 1024);
    // This server would serve a second request on the socket; the client must not send one.
    const s = await rawServer((socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${blob.length}\r\n\r\n`), blob])));
    for (let i = 0; i < 2; i++) {
      const file = partialFile();
      assert.equal((await download(planFor(s.port), file.fd, { size: blob.length })).kind, 'complete');
      assert.ok(file.bytes().equals(blob));
    }
    assert.equal(s.connections, 2);
  });

  it('retries once on a fresh connection when a reused one is dropped before any answer', async () => {
    const blob = randomBytes(100 * 1024);
    const serve = blobHandler(blob);
    const perSocket = new Map<Socket, number>();
    const s = await httpServer((req, res, i) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      // The keep-alive race: the server gave up on the connection just as the next GET went out.
      if (n === 2) return req.socket.destroy();
      serve(req, res, i);
    });
    for (let i = 0; i < 2; i++) {
      const file = partialFile();
      assert.equal((await download(planFor(s.port), file.fd, { size: blob.length })).kind, 'complete');
      assert.ok(file.bytes().equals(blob));
    }
    assert.equal(s.seen.length, 3);
    assert.equal(s.connections, 2);
  });
});

describe('direct download: success', () => {
  it('200: the whole blob lands in the file, with progress, and the request carries the plan headers', async () => {
    const blob = randomBytes(10 * MiB + 12345);
    const s = await httpServer(blobHandler(blob));
    const file = partialFile();
    const progress: number[] = [];
    const plan = planFor(s.port, { hostHeader: 'registry.example.com:5000' });
    const outcome = await download(plan, file.fd, { size: blob.length, onBytes: (n) => progress.push(n) });
    assert.deepEqual(outcome, { kind: 'complete', bytes: blob.length, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
    // At least every 4 MiB: twice or more in 10 MiB, increasing, never past the size.
    assert.ok(progress.length >= 2, `progress ${progress}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!, `progress ${progress}`);
    assert.ok(progress.at(-1)! <= blob.length && progress.at(-1)! >= 8 * MiB, `progress ${progress}`);

    assert.equal(s.seen.length, 1);
    const { url, rawHeaders } = s.seen[0]!;
    assert.equal(url, plan.path);
    const names = rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.deepEqual(names.sort(), ['authorization', 'connection', 'host', 'user-agent']);
    assert.equal(s.seen[0]!.headers.host, 'registry.example.com:5000');
    assert.equal(s.seen[0]!.headers.authorization, 'Bearer secret-token');
    assert.equal(s.seen[0]!.headers['user-agent'], 'cachescope-test/1.0');
    assert.equal(s.seen[0]!.headers.range, undefined);
  });

  it('resume: asks Range from the file size, takes the 206, and the digest covers the prefix', async () => {
    const blob = randomBytes(2 * MiB + 77);
    const n = 700_001;
    const s = await httpServer(blobHandler(blob));
    const file = partialFile(blob.subarray(0, n));
    const outcome = await download(planFor(s.port), file.fd, { offset: n, size: blob.length });
    assert.deepEqual(outcome, { kind: 'complete', bytes: blob.length - n, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
    assert.equal(s.seen[0]!.headers.range, `bytes=${n}-`);
  });

  it('drops a pooled connection that sends bytes after its answer', { timeout: 20_000 }, async () => {
    const blob = randomBytes(50 * 1024);
    let closed: Promise<void> | null = null;
    const s = await rawServer((socket) => {
      closed ??= new Promise((resolve) => socket.once('close', () => resolve()));
      // The answer, then (once it has gone out) bytes nobody asked for, on the idle connection.
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${blob.length}\r\n\r\n`), blob]), () =>
        setTimeout(() => socket.writable && socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${blob.length}\r\n\r\n`), 50),
      );
    });
    const file = partialFile();
    // An idle timeout longer than the test's: only the stray bytes may close the connection.
    assert.equal((await download(planFor(s.port, { idleTimeoutMs: 60_000 }), file.fd, { size: blob.length })).kind, 'complete');
    // The client closes that connection (this would wait for the test's timeout if it kept it)...
    await closed;
    // ...and the next download opens another.
    const again = partialFile();
    assert.equal((await download(planFor(s.port), again.fd, { size: blob.length })).kind, 'complete');
    assert.ok(again.bytes().equals(blob));
    assert.equal(s.connections, 2);
  });

  it('reads a response head that arrives in pieces, split inside its blank line', async () => {
    const blob = randomBytes(64 * 1024);
    const pieces = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Le'), Buffer.from(`ngth: ${blob.length}\r\n\r`), Buffer.concat([Buffer.from('\n'), blob.subarray(0, 10)]), blob.subarray(10)];
    const s = await rawServer((socket) => {
      socket.setNoDelay(true);
      const next = () => {
        const piece = pieces.shift();
        if (piece) socket.write(piece, () => setTimeout(next, 20));
      };
      next();
    });
    const file = partialFile();
    assert.deepEqual(await download(planFor(s.port), file.fd, { size: blob.length }), { kind: 'complete', bytes: blob.length, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
  });

  it('ignores bytes sent past the Content-Length and closes that connection', async () => {
    const blob = randomBytes(200 * 1024);
    const s = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${blob.length}\r\n\r\n`);
      socket.write(Buffer.concat([blob, Buffer.from('TRAILING GARBAGE THE CLIENT MUST NOT WRITE')]));
    });
    const file = partialFile();
    const outcome = await download(planFor(s.port), file.fd, { size: blob.length });
    assert.deepEqual(outcome, { kind: 'complete', bytes: blob.length, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
    // The framing could not be trusted: the next download opens a new connection.
    const again = partialFile();
    assert.equal((await download(planFor(s.port), again.fd, { size: blob.length })).kind, 'complete');
    assert.ok(again.bytes().equals(blob));
    assert.equal(s.connections, 2);
  });
});

describe('direct download: fallback, nothing written', () => {
  const prefix = Buffer.from('first bytes of the blob');
  const size = prefix.length + 1000;

  async function fallsBack(handler: Handler, offset: number, expected: { status?: number; reason?: RegExp }) {
    const s = await httpServer(handler);
    const file = partialFile(offset > 0 ? prefix : undefined);
    const outcome = await download(planFor(s.port), file.fd, { offset, size });
    assert.equal(outcome.kind, 'fallback', JSON.stringify(outcome));
    if (outcome.kind !== 'fallback') return;
    assert.equal(outcome.status, expected.status);
    if (expected.reason) assert.match(outcome.reason, expected.reason);
    assert.ok(file.bytes().equals(offset > 0 ? prefix : Buffer.alloc(0)), 'the file is unchanged');
    return s;
  }

  it('206 whose Content-Range starts elsewhere', async () => {
    const body = randomBytes(size);
    const s = await fallsBack((_req, res) => res.writeHead(206, { 'content-length': size, 'content-range': `bytes 0-${size - 1}/${size}` }).end(body), prefix.length, { status: 206 });
    assert.equal(s!.seen[0]!.headers.range, `bytes=${prefix.length}-`);
  });

  it('200 answered to a Range request', async () => {
    await fallsBack((_req, res) => res.writeHead(200, { 'content-length': size }).end(randomBytes(size)), prefix.length, { status: 200 });
  });

  it('206 answered to a request from zero', async () => {
    await fallsBack((_req, res) => res.writeHead(206, { 'content-length': size, 'content-range': `bytes 0-${size - 1}/${size}` }).end(randomBytes(size)), 0, { status: 206 });
  });

  for (const status of [404, 401, 307]) {
    it(`HTTP ${status}`, async () => {
      const headers: Record<string, string> = status === 307 ? { location: 'http://127.0.0.1:1/elsewhere' } : status === 401 ? { 'www-authenticate': 'Bearer realm="x"' } : {};
      await fallsBack((_req, res) => res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end('{"errors":[]}'), 0, { status });
    });
  }

  it('chunked framing (no Content-Length)', async () => {
    await fallsBack(
      (_req, res) => {
        res.writeHead(200);
        res.write(randomBytes(500));
        res.end(randomBytes(size - 500));
      },
      0,
      { status: 200, reason: /Content-Length/ },
    );
  });

  it('a Content-Length that would not bring the file to the blob size', async () => {
    await fallsBack((_req, res) => res.writeHead(200, { 'content-length': size - 1 }).end(randomBytes(size - 1)), 0, { status: 200, reason: /does not reach/ });
    await fallsBack((_req, res) => res.writeHead(206, { 'content-length': 10, 'content-range': `bytes ${prefix.length}-${prefix.length + 9}/${size}` }).end(randomBytes(10)), prefix.length, { status: 206, reason: /does not reach/ });
  });

  it('a header value holding CR/LF (a token from a token server): no request goes out', async () => {
    const s = await httpServer(blobHandler(randomBytes(size)));
    const file = partialFile();
    const plan = planFor(s.port, { headers: { authorization: 'Bearer abc\r\nX-Injected: yes', 'user-agent': 'cachescope-test/1.0' } });
    const outcome = await download(plan, file.fd, { size });
    assert.equal(outcome.kind, 'fallback', JSON.stringify(outcome));
    if (outcome.kind === 'fallback') assert.match(outcome.reason, /"authorization" holds a character HTTP does not allow/);
    assert.equal(s.seen.length, 0);
    assert.equal(file.bytes().length, 0);
  });

  it('nothing listening', async () => {
    const s = await rawServer(() => undefined);
    const port = s.port;
    await new Promise<void>((resolve) => closers.pop()!().then(resolve));
    const file = partialFile();
    const outcome = await download(planFor(port), file.fd, { size });
    assert.equal(outcome.kind, 'fallback');
    assert.equal(file.bytes().length, 0);
  });
});

describe('direct download: cut, stalled, aborted', () => {
  it('a body cut mid-way is partial, and the file keeps the bytes that came', async () => {
    const blob = randomBytes(3 * MiB);
    const prefix = 1000;
    const sent = 1 * MiB + 3;
    const s = await httpServer((req, res) => {
      res.writeHead(206, { 'content-length': blob.length - prefix, 'content-range': `bytes ${prefix}-${blob.length - 1}/${blob.length}` });
      res.write(blob.subarray(prefix, prefix + sent), () => res.socket!.destroy());
    });
    const file = partialFile(blob.subarray(0, prefix));
    const outcome = await download(planFor(s.port), file.fd, { offset: prefix, size: blob.length });
    assert.equal(outcome.kind, 'partial', JSON.stringify(outcome));
    assert.equal(outcome.bytes, sent);
    assert.ok(file.bytes().equals(blob.subarray(0, prefix + sent)));
  });

  it('a stalled body ends as partial after the idle timeout, keeping what came', async () => {
    const blob = randomBytes(1 * MiB);
    const sent = 100 * 1024;
    const s = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, sent));
      // ...and nothing more.
    });
    const file = partialFile();
    const outcome = await download(planFor(s.port, { idleTimeoutMs: 300 }), file.fd, { size: blob.length });
    assert.equal(outcome.kind, 'partial', JSON.stringify(outcome));
    if (outcome.kind !== 'partial') return;
    assert.equal(outcome.bytes, sent);
    assert.equal(outcome.code, 'ERR_REGISTRY_STALLED');
    assert.ok(file.bytes().equals(blob.subarray(0, sent)));
  });

  it('a slow body still moves the bar: progress comes with time, not only every 4 MiB', async () => {
    // 512 KiB in 16 KiB pieces, one every 25 ms (about 0.8 s): far below the 4 MiB step.
    const blob = randomBytes(512 * 1024);
    const timers = new Set<NodeJS.Timeout>();
    const s = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      let at = 0;
      const timer = setInterval(() => {
        res.write(blob.subarray(at, at + 16 * 1024));
        at += 16 * 1024;
        if (at >= blob.length) {
          clearInterval(timer);
          res.end();
        }
      }, 25);
      timers.add(timer);
    });
    const file = partialFile();
    const progress: number[] = [];
    const outcome = await download(planFor(s.port), file.fd, { size: blob.length, onBytes: (n) => progress.push(n) });
    for (const t of timers) clearInterval(t);
    assert.equal(outcome.kind, 'complete');
    assert.ok(progress.length >= 2, `progress before the end: ${progress}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!, `progress ${progress}`);
    assert.ok(progress.at(-1)! < blob.length);
  });

  it('abort mid-body rejects with the signal reason; later downloads still work', async () => {
    const blob = randomBytes(1 * MiB);
    const controller = new AbortController();
    const reason = new Error('cancelled by the user');
    const timers = new Set<NodeJS.Timeout>();
    const s = await httpServer((req, res, i) => {
      if (i > 0) return blobHandler(blob)(req, res, i);
      res.writeHead(200, { 'content-length': blob.length });
      let at = 0;
      const trickle = () => {
        res.write(blob.subarray(at, at + 1024));
        at += 1024;
        // The user cancels once part of the body is on its way.
        if (at === 8 * 1024) controller.abort(reason);
      };
      trickle();
      const timer = setInterval(trickle, 20);
      timers.add(timer);
      req.socket.once('close', () => clearInterval(timer));
    });
    const file = partialFile();
    const before = directDownloadCounts();
    await assert.rejects(directDownload(planFor(s.port), file.fd, { algorithm: 'sha256', offset: 0, size: blob.length, signal: controller.signal }), (err) => err === reason);
    assert.deepEqual(directDownloadCounts(), before);
    for (const t of timers) clearInterval(t);
    assert.ok(file.bytes().equals(blob.subarray(0, file.bytes().length)), 'what was written is a prefix of the blob');

    const next = partialFile();
    assert.equal((await download(planFor(s.port), next.fd, { size: blob.length })).kind, 'complete');
    assert.ok(next.bytes().equals(blob));
  });

  it('an already aborted signal rejects without a request', async () => {
    const s = await httpServer(blobHandler(randomBytes(10)));
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    const file = partialFile();
    await assert.rejects(directDownload(planFor(s.port), file.fd, { algorithm: 'sha256', offset: 0, size: 10, signal: controller.signal }), /too late/);
    assert.equal(s.seen.length, 0);
  });
});

describe('direct download: HTTPS', () => {
  let ca: TestCA;
  before(async () => {
    ca = await makeTestCA();
  });
  after(() => ca?.dispose());

  it('verifies the server against plan.tls.ca; without it, falls back before any request', async () => {
    const blob = randomBytes(5 * MiB + 1);
    const s = await httpServer(blobHandler(blob), { key: readFileSync(ca.serverKey), cert: readFileSync(ca.serverCert) });
    const file = partialFile();
    const plan = planFor(s.port, { protocol: 'https:', tls: { ca: readFileSync(ca.caCert, 'utf8') } });
    assert.deepEqual(await download(plan, file.fd, { size: blob.length }), { kind: 'complete', bytes: blob.length, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
    assert.equal(s.seen.length, 1);

    // Node's own store does not hold the test CA: a TLS error, before any response.
    const untrusted = partialFile();
    const outcome = await download(planFor(s.port, { protocol: 'https:' }), untrusted.fd, { size: blob.length });
    assert.equal(outcome.kind, 'fallback', JSON.stringify(outcome));
    if (outcome.kind === 'fallback') assert.equal(outcome.status, undefined);
    assert.equal(untrusted.bytes().length, 0);
    assert.equal(s.seen.length, 1);
  });

  it('resumes over HTTPS too', async () => {
    const blob = randomBytes(MiB + 5);
    const s = await httpServer(blobHandler(blob), { key: readFileSync(ca.serverKey), cert: readFileSync(ca.serverCert) });
    const file = partialFile(blob.subarray(0, 4096));
    const plan = planFor(s.port, { protocol: 'https:', tls: { ca: readFileSync(ca.caCert, 'utf8') } });
    assert.deepEqual(await download(plan, file.fd, { offset: 4096, size: blob.length }), { kind: 'complete', bytes: blob.length - 4096, digest: sha256(blob) });
    assert.ok(file.bytes().equals(blob));
  });
});
