import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createService } from '../../../electron/engine/service';
import { startServer } from '../../../electron/server/server';
import type { RunningServer } from '../../../electron/server/server';
import type { ExportProgress } from '../../../shared/export/types';
import { fixture } from '../../helpers/fixtures';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...init.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('browser mode server', () => {
  let server: RunningServer;
  let rendererDir: string;
  const api = (name: string, params: unknown, headers: Record<string, string> = {}) =>
    call(server.port, `/api/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cachescope-token': server.token, ...headers },
      body: JSON.stringify(params),
    });

  before(async () => {
    rendererDir = await mkdtemp(join(tmpdir(), 'cachescope-renderer-'));
    await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Cachescope</title><script type="module" src="./app.js"></script>');
    await writeFile(join(rendererDir, 'app.js'), 'console.log("app")');
    const service = createService({ startupSource: fixture.margo, mode: 'browser', emit: (e, p) => server.emit(e, p) });
    server = await startServer({ handlers: service, rendererDir });
  });
  after(async () => {
    await server.close();
    await rm(rendererDir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 only and prints a URL that carries the token', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{40,}$/);
    assert.ok(server.url.endsWith(server.token));
  });

  it('refuses the page without the token, serves it with the token and sets an HttpOnly cookie', async () => {
    assert.equal((await call(server.port, '/')).status, 401);
    assert.equal((await call(server.port, '/?token=wrong')).status, 401);
    const ok = await call(server.port, `/?token=${server.token}`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /<title>Cachescope<\/title>/);
    assert.match(String(ok.headers['set-cookie']), /cachescope_token=.*HttpOnly; SameSite=Strict/);
    assert.match(String(ok.headers['content-security-policy']), /script-src 'self'/);
    // The Raw JSON worker is a same-origin file; no data: images (no view needs them).
    assert.match(String(ok.headers['content-security-policy']), /worker-src 'self'/);
    assert.doesNotMatch(String(ok.headers['content-security-policy']), /data:|blob:/);
    const asset = await call(server.port, '/app.js', { headers: { cookie: `cachescope_token=${server.token}` } });
    assert.equal(asset.status, 200);
    assert.equal((await call(server.port, '/app.js')).status, 401);
  });

  it('serves only the renderer files: no traversal', async () => {
    const cookie = { cookie: `cachescope_token=${server.token}` };
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/etc/passwd']) {
      const r = await call(server.port, path, { headers: cookie });
      assert.equal(r.status, 404, path);
    }
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin', async () => {
    const host = await call(server.port, `/?token=${server.token}`, { headers: { host: 'evil.example:80' } });
    assert.equal(host.status, 403);
    const origin = await api('getStartup', {}, { origin: 'http://evil.example' });
    assert.equal(origin.status, 403);
    const own = await api('getStartup', {}, { origin: `http://127.0.0.1:${server.port}` });
    assert.equal(own.status, 200);
  });

  it('requires the token header on the API', async () => {
    const r = await call(server.port, '/api/getStartup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).error.code, 'forbidden');
  });

  it('answers the contract: getStartup and openCache on a real cache', async () => {
    const start = JSON.parse((await api('getStartup', {})).body);
    assert.deepEqual(start, { ok: true, value: { source: fixture.margo, mode: 'browser', version: '0.1.0' } });
    const opened = JSON.parse((await api('openCache', { source: fixture.margo })).body);
    assert.equal(opened.ok, true);
    assert.equal(opened.value.view.variant, 'image-manifest');
    assert.equal(opened.value.view.manifest.digest, 'sha256:23e9270181666a23de5842ed666d302292a80e9cabe2de04984a2cca99dc8163');
    assert.equal(opened.value.view.summary.layerEntries, 8);
  });

  it('turns errors into values: bad payloads, unknown requests, missing blobs', async () => {
    const bad = JSON.parse((await api('openCache', { source: 42 })).body);
    assert.deepEqual(bad, { ok: false, error: { code: 'bad-request', message: '"source" must be a non-empty string' } });
    const extra = JSON.parse((await api('openCache', { source: 'x', evil: true })).body);
    assert.equal(extra.error.code, 'bad-request');
    const unknown = JSON.parse((await api('rmRf', {})).body);
    assert.equal(unknown.error.code, 'bad-request');
    const missing = JSON.parse((await api('openCache', { source: fixture.indexOnlySaas })).body);
    assert.equal(missing.ok, false);
    assert.equal(missing.error.code, 'missing-blob');
    assert.match(missing.error.message, /sha256:[0-9a-f]{64}/);
    assert.doesNotMatch(missing.error.message, /\n\s+at /, 'no stack trace');
    const job = JSON.parse((await api('getExportJob', { jobId: 'nope' })).body);
    assert.deepEqual(job, { ok: false, error: { code: 'not-found', message: 'no export job with id nope' } });
    const notJson = await call(server.port, '/api/getStartup', { method: 'POST', headers: { 'content-type': 'application/json', 'x-cachescope-token': server.token }, body: '{' });
    assert.equal(JSON.parse(notJson.body).error.code, 'bad-request');
  });

  it('answers a body over the limit with 413 and a JSON error, not a reset connection', async () => {
    const big = JSON.stringify({ cacheId: 'x'.repeat(2 << 20) });
    const reply = await call(server.port, '/api/openCache', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cachescope-token': server.token },
      body: big,
    });
    assert.equal(reply.status, 413);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    const outcome = JSON.parse(reply.body) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(outcome.ok, false);
    assert.equal(outcome.error.code, 'too-large');
    assert.match(outcome.error.message, /request body over the 1048576-byte limit/);
    // The server still answers afterwards.
    assert.equal((await api('getStartup', {})).status, 200);
  });

  it('streams events to the page over SSE', async () => {
    const received = new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: `/api/events?token=${server.token}`, headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
          if (text.includes('event: exportProgress')) {
            req.destroy();
            resolve(text);
          } else if (text.includes(': connected')) {
            const payload: ExportProgress = { jobId: 'j1', seq: 1, text: 'writing layer sha256:x', layers: [], bytesDone: 1, bytesTotal: 2, bytesPerSecond: 3 };
            server.emit('exportProgress', payload);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    const text = await received;
    assert.match(text, /event: exportProgress\ndata: \{"jobId":"j1"/);
  });
});
