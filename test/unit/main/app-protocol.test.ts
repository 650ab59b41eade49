import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APP_SCHEME_PRIVILEGES, APP_URL, contentTypeOf, registerAppProtocol, resolveAppFile, serveAppRequest } from '../../../electron/main/app-protocol';
import { CONTENT_SECURITY_POLICY } from '../../../electron/main/security';
import { FakeProtocol } from '../../helpers/fake-electron';

describe('app:// URL resolution', () => {
  const root = '/opt/app/dist/renderer';

  it('maps the app page and its assets into the renderer folder', () => {
    assert.equal(APP_URL, 'app://cachescope/index.html');
    assert.equal(resolveAppFile(APP_URL, root), `${root}/index.html`);
    assert.equal(resolveAppFile('app://cachescope/', root), `${root}/index.html`);
    assert.equal(resolveAppFile('app://cachescope/app.js?v=1#x', root), `${root}/app.js`);
    assert.equal(resolveAppFile('app://cachescope/assets/logo%20x.svg', root), `${root}/assets/logo x.svg`);
  });

  it('refuses other hosts and schemes', () => {
    assert.equal(resolveAppFile('app://evil/index.html', root), null);
    assert.equal(resolveAppFile('file:///opt/app/dist/renderer/index.html', root), null);
    assert.equal(resolveAppFile('https://cachescope/index.html', root), null);
    assert.equal(resolveAppFile('not a url', root), null);
  });

  it('never leaves the renderer folder', () => {
    for (const url of [
      'app://cachescope/..%2f..%2f..%2fetc%2fpasswd',
      'app://cachescope/%2e%2e%2f%2e%2e%2fetc/passwd',
      'app://cachescope/..%5c..%5cwindows%5cwin.ini',
      'app://cachescope/index.html%00.js',
      'app://cachescope/%E0%A4%A',
      'app://cachescope/..%2frenderer-evil/app.js',
    ]) {
      const file = resolveAppFile(url, root);
      assert.ok(file === null || file.startsWith(`${root}/`), `${url} -> ${file}`);
    }
    // Dot segments the URL parser removes stay inside too.
    assert.equal(resolveAppFile('app://cachescope/../../etc/passwd', root), `${root}/etc/passwd`);
    assert.equal(resolveAppFile('app://cachescope/..%2f..%2fetc%2fpasswd', root), null);
  });

  it('is a standard, secure scheme (a real origin for module scripts) with no extra privileges', () => {
    assert.deepEqual(APP_SCHEME_PRIVILEGES, { scheme: 'app', privileges: { standard: true, secure: true } });
  });

  it('names the content types module scripts and styles need', () => {
    assert.match(contentTypeOf('/x/app.js'), /^text\/javascript/);
    assert.match(contentTypeOf('/x/app.css'), /^text\/css/);
    assert.match(contentTypeOf('/x/index.html'), /^text\/html/);
    assert.equal(contentTypeOf('/x/blob.bin'), 'application/octet-stream');
  });
});

describe('app:// responses', () => {
  let base: string;
  let root: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'cachescope-app-protocol-'));
    root = join(base, 'renderer');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<!doctype html><script type="module" src="./app.js"></script>');
    writeFileSync(join(root, 'app.js'), 'export {};');
    writeFileSync(join(root, 'json-worker.js'), 'self.onmessage = () => {};');
    writeFileSync(join(root, 'graph-layout-worker.js'), 'self.onmessage = (e) => self.postMessage({ id: e.data.id });');
    writeFileSync(join(base, 'secret.txt'), 'not for the page');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('serves the page with the CSP header, nosniff and its content type', async () => {
    const res = await serveAppRequest({ url: APP_URL, method: 'GET' }, root);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.match(await res.text(), /<script type="module"/);
    const js = await serveAppRequest({ url: 'app://cachescope/app.js', method: 'GET' }, root);
    assert.match(js.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(js.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  });

  it('serves the Raw JSON worker as a same-origin script under a policy that admits exactly such workers', async () => {
    const res = await serveAppRequest({ url: 'app://cachescope/json-worker.js', method: 'GET' }, root);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/javascript/);
    const policy = res.headers.get('content-security-policy')!;
    assert.match(policy, /(^|; )worker-src 'self'(;|$)/);
    assert.doesNotMatch(policy, /blob:|data:/);
  });

  it('serves the record graph layout worker the same way, through the registered app:// handler, under the same policy', async () => {
    const protocol = new FakeProtocol();
    registerAppProtocol(protocol, root);
    // The URL the page builds: new URL('./graph-layout-worker.js', import.meta.url) from app://cachescope/app.js.
    const url = new URL('./graph-layout-worker.js', 'app://cachescope/app.js').href;
    assert.equal(url, 'app://cachescope/graph-layout-worker.js');
    const res = await protocol.fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const policy = res.headers.get('content-security-policy')!;
    assert.equal(policy, CONTENT_SECURITY_POLICY);
    assert.match(policy, /(^|; )worker-src 'self'(;|$)/);
    assert.match(policy, /(^|; )script-src 'self'(;|$)/);
    assert.doesNotMatch(policy, /blob:|data:|unsafe-eval/);
    assert.equal(await res.text(), 'self.onmessage = (e) => self.postMessage({ id: e.data.id });');
  });

  it('answers 404 for a missing file, 403 outside the folder (without reading it), 405 for writes', async () => {
    const reads: string[] = [];
    const tracked = (path: string) => {
      reads.push(path);
      return readFile(path);
    };
    assert.equal((await serveAppRequest({ url: 'app://cachescope/missing.js', method: 'GET' }, root, tracked)).status, 404);
    const escape = await serveAppRequest({ url: 'app://cachescope/..%2fsecret.txt', method: 'GET' }, root, tracked);
    assert.equal(escape.status, 403);
    assert.equal(await escape.text(), '');
    assert.equal((await serveAppRequest({ url: 'app://other/index.html', method: 'GET' }, root, tracked)).status, 403);
    assert.deepEqual(reads, [join(root, 'missing.js')]);
    assert.equal((await serveAppRequest({ url: APP_URL, method: 'POST' }, root)).status, 405);
  });

  it('registers the handler for the app scheme on the protocol it is given', async () => {
    const protocol = new FakeProtocol();
    registerAppProtocol(protocol, root);
    assert.deepEqual([...protocol.handlers.keys()], ['app']);
    const res = await protocol.fetch('app://cachescope/app.js');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'export {};');
  });
});
