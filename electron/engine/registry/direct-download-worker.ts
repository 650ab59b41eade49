/**
 * The source of a direct-download thread (direct-download.ts says why they exist). A plain CommonJS
 * string run with `eval: true` and only Node built-ins, like store/hash-write-threads.ts, so it needs
 * no bundling step and loads the same under Node and Electron.
 *
 * One thread runs several downloads at once, each on its own keep-alive connection. Sockets read
 * into one buffer per connection (`onread`): no allocation per read, so no garbage to collect. Every
 * body byte is hashed and appended to the download's file synchronously, inside the read callback,
 * before that buffer is reused.
 *
 * The protocol is deliberately small: one GET, answered 200 (or 206 from the asked offset) with a
 * Content-Length. Anything else (a redirect, 401, 404, 5xx, chunked framing, a connection that fails
 * before the body starts) is handed back as `fallback` with no byte written, and the full client
 * (transport.ts) does that download instead: auth refresh, redirects, retries and errors stay in one
 * place. A body cut short is `partial`: the bytes written so far stay in the file for a Range resume.
 */
export const DIRECT_DOWNLOAD_WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
const tls = require('node:tls');
const fs = require('node:fs');
const { createHash } = require('node:crypto');

const READ_BUFFER = 256 * 1024;
const MAX_HEAD = 64 * 1024;
// Progress goes to the main thread every 4 MiB, or every 100 ms on a slow link (a bar that moves).
const PROGRESS_EVERY = 4 * 1024 * 1024;
const PROGRESS_MS = 100;
const idle = new Map();
const running = new Map();

function connect(plan) {
  const conn = { key: plan.connKey, buffer: Buffer.allocUnsafe(READ_BUFFER), onData: null, onFail: null, dead: false, socket: null };
  const onread = { buffer: conn.buffer, callback: (n, buf) => { if (conn.onData) conn.onData(buf.subarray(0, n)); } };
  const host = plan.host;
  const common = { host, port: plan.port, onread };
  if (plan.protocol === 'https:') {
    const t = plan.tls || {};
    const opts = { ...common, ALPNProtocols: ['http/1.1'] };
    if (!net.isIP(host)) opts.servername = host;
    if (t.ca) opts.ca = t.ca;
    if (t.cert) { opts.cert = t.cert; opts.key = t.key; }
    if (t.rejectUnauthorized === false) opts.rejectUnauthorized = false;
    conn.socket = tls.connect(opts);
  } else {
    conn.socket = net.connect(common);
  }
  conn.socket.setNoDelay(true);
  const fail = (err) => {
    if (conn.dead) return;
    conn.dead = true;
    conn.socket.destroy();
    const list = idle.get(conn.key);
    if (list) { const i = list.indexOf(conn); if (i >= 0) list.splice(i, 1); }
    if (conn.onFail) conn.onFail(err);
  };
  conn.fail = fail;
  conn.socket.on('error', fail);
  conn.socket.on('end', () => fail(Object.assign(new Error('the registry closed the connection'), { code: 'ECONNRESET' })));
  conn.socket.on('close', () => fail(Object.assign(new Error('the connection closed'), { code: 'ECONNRESET' })));
  conn.socket.setTimeout(plan.idleTimeoutMs, () => fail(Object.assign(new Error('no data for ' + plan.idleTimeoutMs + ' ms'), { code: 'ERR_REGISTRY_STALLED' })));
  return conn;
}

function takeIdle(key) {
  const list = idle.get(key);
  while (list && list.length > 0) {
    const c = list.pop();
    if (!c.dead) return c;
  }
  return null;
}

function giveBack(conn) {
  conn.onData = null;
  conn.onFail = null;
  if (conn.dead) return;
  // An idle connection closed by the server just leaves the pool (fail() above).
  conn.onFail = () => {};
  // So does one that sends bytes nobody asked for: its framing is lost (they would read as the next answer).
  conn.onData = () => conn.fail(new Error('bytes on an idle connection'));
  let list = idle.get(conn.key);
  if (!list) { list = []; idle.set(conn.key, list); }
  list.push(conn);
}

function hashPrefix(fd, length, hash) {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; pos < length; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
    if (n === 0) throw new Error('the partial download shrank while being read');
    hash.update(buf.subarray(0, n));
    pos += n;
  }
}

// What node:http accepts in a header value: a CR or LF would let a token split the request.
const HEADER_TEXT = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_\x60|~0-9A-Za-z-]+$/;

function requestProblem(plan) {
  if (!/^\/[\x21-\x7e]*$/.test(plan.path) || !HEADER_TEXT.test(plan.hostHeader)) return 'the request path or host holds a character HTTP does not allow';
  for (const [k, v] of Object.entries(plan.headers)) if (!HEADER_NAME.test(k) || !HEADER_TEXT.test(String(v))) return 'the request header ' + JSON.stringify(k) + ' holds a character HTTP does not allow';
  return null;
}

function request(plan, offset) {
  let text = 'GET ' + plan.path + ' HTTP/1.1\r\nHost: ' + plan.hostHeader + '\r\n';
  for (const [k, v] of Object.entries(plan.headers)) text += k + ': ' + v + '\r\n';
  if (offset > 0) text += 'Range: bytes=' + offset + '-\r\n';
  return text + 'Connection: keep-alive\r\n\r\n';
}

function run(m) {
  const job = { id: m.id, conn: null, written: 0, settled: false };
  running.set(m.id, job);
  const reply = (r) => {
    if (job.settled) return;
    job.settled = true;
    running.delete(m.id);
    parentPort.postMessage({ id: m.id, ...r });
  };
  job.reply = reply;
  const problem = requestProblem(m.plan);
  if (problem) return reply({ kind: 'fallback', reason: problem });
  let hash;
  try {
    hash = createHash(m.algorithm);
    hashPrefix(m.fd, m.offset, hash);
  } catch (err) {
    return reply({ kind: 'failed', code: err.code, message: err.message });
  }
  const start = (conn, reused) => {
    job.conn = conn;
    let head = null;
    let remaining = -1;
    let keepAlive = true;
    let nextProgress = PROGRESS_EVERY;
    let progressAt = Date.now();
    conn.onFail = (err) => {
      // A reused keep-alive connection the server had already closed: one fresh try.
      if (remaining < 0 && head === null && reused && !job.settled) return start(connect(m.plan), false);
      if (remaining < 0) return reply({ kind: 'fallback', reason: err.message, code: err.code });
      reply({ kind: 'partial', bytes: job.written, reason: err.message, code: err.code });
    };
    conn.onData = (chunk) => {
      if (job.settled) return;
      if (remaining < 0) {
        head = head === null ? Buffer.from(chunk) : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD) { conn.onFail = null; conn.dead = true; conn.socket.destroy(); reply({ kind: 'fallback', reason: 'response head too large' }); }
          return;
        }
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
        const headers = {};
        for (const line of lines.slice(1)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        // A redirect's Location goes back with it: the main thread decides whether a thread may follow.
        const location = status >= 300 && status < 400 && headers['location'] ? { location: headers['location'] } : {};
        const drop = (reason) => { conn.onFail = null; conn.dead = true; conn.socket.destroy(); reply({ kind: 'fallback', reason, status, ...location, ...(headers['retry-after'] ? { retryAfter: headers['retry-after'] } : {}) }); };
        const wanted = m.offset === 0 ? status === 200 : status === 206 && Number(/^bytes\s+(\d+)-/i.exec(headers['content-range'] || '')?.[1]) === m.offset;
        if (!wanted) return drop('HTTP ' + status);
        if (headers['transfer-encoding'] !== undefined || !/^\d+$/.test(headers['content-length'] || '')) return drop('no Content-Length');
        remaining = Number(headers['content-length']);
        if (m.offset + remaining !== m.size) return drop('Content-Length ' + remaining + ' from ' + m.offset + ' does not reach the blob size ' + m.size);
        keepAlive = !/close/i.test(headers['connection'] || '');
        chunk = head.subarray(end + 4);
        head = Buffer.alloc(0);
      }
      if (chunk.length > remaining) {
        // More bytes than announced: the connection's framing cannot be trusted any more.
        chunk = chunk.subarray(0, remaining);
        keepAlive = false;
      }
      if (chunk.length > 0) {
        hash.update(chunk);
        try {
          for (let off = 0; off < chunk.length; ) off += fs.writeSync(m.fd, chunk, off, chunk.length - off, null);
        } catch (err) {
          conn.onFail = null;
          conn.dead = true;
          conn.socket.destroy();
          return reply({ kind: 'failed', code: err.code, message: err.message, bytes: job.written });
        }
        job.written += chunk.length;
        remaining -= chunk.length;
        if (job.written >= nextProgress || (remaining > 0 && Date.now() - progressAt >= PROGRESS_MS)) {
          nextProgress = job.written + PROGRESS_EVERY;
          progressAt = Date.now();
          parentPort.postMessage({ id: m.id, progress: job.written });
        }
      }
      if (remaining === 0) {
        if (keepAlive) giveBack(conn);
        else { conn.onFail = null; conn.dead = true; conn.socket.destroy(); }
        reply({ kind: 'complete', bytes: job.written, digest: m.algorithm + ':' + hash.digest('hex') });
      }
    };
    try {
      conn.socket.write(request(m.plan, m.offset), 'latin1');
    } catch (err) {
      conn.onFail(err);
    }
  };
  const reusable = takeIdle(m.plan.connKey);
  start(reusable || connect(m.plan), reusable !== null);
}

parentPort.on('message', (m) => {
  if (m.op === 'get') return run(m);
  if (m.op === 'abort') {
    const job = running.get(m.id);
    if (!job) return;
    if (job.conn) { job.conn.onFail = null; job.conn.dead = true; job.conn.socket.destroy(); }
    job.reply({ kind: 'aborted', bytes: job.written });
  }
  if (m.op === 'close') {
    for (const list of idle.values()) for (const c of list) { c.onFail = null; c.dead = true; c.socket.destroy(); }
    idle.clear();
  }
});
`;
