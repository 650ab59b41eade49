import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Event as ElectronEvent, WebContents } from 'electron';
import { windowOptions } from '../../../electron/main/window-options';
import { CONTENT_SECURITY_POLICY, hardenApp, hardenSession, hardenWebContents, isTrustedSender } from '../../../electron/main/security';
import { demoCachePath, startupSource } from '../../../electron/main/startup';
import { FakeApp, FakeSession, FakeWebContents } from '../../helpers/fake-electron';
import { REPO } from '../../helpers/fixtures';

const APP_URL = 'file:///opt/Cachescope/resources/app.asar/dist/renderer/index.html';

describe('window options (a pure function)', () => {
  const o = windowOptions('/app/dist/preload/preload.cjs');
  it('isolates and sandboxes the renderer', () => {
    const w = o.webPreferences!;
    assert.equal(w.contextIsolation, true);
    assert.equal(w.sandbox, true);
    assert.equal(w.nodeIntegration, false);
    assert.equal(w.nodeIntegrationInWorker, false);
    assert.equal(w.nodeIntegrationInSubFrames, false);
    assert.equal(w.webSecurity, true);
    assert.equal(w.allowRunningInsecureContent, false);
    assert.equal(w.webviewTag, false);
    assert.equal(w.preload, '/app/dist/preload/preload.cjs');
  });
  it('is pure: the same input gives equal, independent objects', () => {
    const again = windowOptions('/app/dist/preload/preload.cjs');
    assert.deepEqual(again, o);
    assert.notEqual(again.webPreferences, o.webPreferences);
  });
});

describe('content security policy', () => {
  it('allows scripts only from the app itself', () => {
    assert.match(CONTENT_SECURITY_POLICY, /(^|; )script-src 'self'(;|$)/);
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
  });
  it('is injected into every response of the session', () => {
    const s = new FakeSession();
    hardenSession(s as never);
    let headers: Record<string, string[]> | undefined;
    s.headersListener!({ url: APP_URL, responseHeaders: { 'X-Other': ['1'] } }, (r) => (headers = r.responseHeaders));
    assert.deepEqual(headers!['Content-Security-Policy'], [CONTENT_SECURITY_POLICY]);
    assert.deepEqual(headers!['X-Other'], ['1']);
  });
});

describe('navigation, new windows, webviews and permissions', () => {
  it('denies navigation away from the app and allows the app URL itself', () => {
    const wc = new FakeWebContents();
    hardenWebContents(wc as unknown as WebContents, APP_URL);
    assert.equal(wc.fire('will-navigate', 'https://evil.example/'), true);
    assert.equal(wc.fire('will-navigate', 'file:///etc/passwd'), true);
    assert.equal(wc.fire('will-redirect', 'https://evil.example/'), true);
    assert.equal(wc.fire('will-navigate', APP_URL), false);
  });
  it('denies every new window and every webview', () => {
    const wc = new FakeWebContents();
    hardenWebContents(wc as unknown as WebContents, APP_URL);
    assert.deepEqual(wc.windowOpenHandler!({ url: 'https://example.com' }), { action: 'deny' });
    assert.deepEqual(wc.windowOpenHandler!({ url: APP_URL }), { action: 'deny' });
    assert.equal(wc.fire('will-attach-webview', {}, {}), true);
  });
  it('applies the same rules to every webContents the app creates', () => {
    const app = new FakeApp();
    hardenApp(app as never, APP_URL);
    const wc = new FakeWebContents();
    app.emit('web-contents-created', {} as ElectronEvent, wc);
    assert.equal(wc.fire('will-navigate', 'https://evil.example/'), true);
    assert.deepEqual(wc.windowOpenHandler!({ url: 'x' }), { action: 'deny' });
  });
  it('denies every permission request and check', () => {
    const s = new FakeSession();
    hardenSession(s as never);
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      let granted: boolean | null = null;
      s.permissionRequest!({}, p, (g) => (granted = g));
      assert.equal(granted, false, p);
      assert.equal(s.permissionCheck!({}, p), false, p);
    }
  });
});

describe('trusted IPC senders', () => {
  it('trusts only the main frame showing the app page', () => {
    assert.equal(isTrustedSender({ url: APP_URL, parent: null } as never, APP_URL), true);
    assert.equal(isTrustedSender({ url: `${APP_URL}#/records`, parent: null } as never, APP_URL), true);
    assert.equal(isTrustedSender({ url: APP_URL, parent: {} } as never, APP_URL), false, 'a subframe');
    assert.equal(isTrustedSender({ url: 'https://evil.example/', parent: null } as never, APP_URL), false);
    assert.equal(isTrustedSender({ url: 'file:///tmp/other.html', parent: null } as never, APP_URL), false);
    assert.equal(isTrustedSender(null, APP_URL), false);
  });
});

describe('startup source', () => {
  it('takes the first non-flag argument, else the bundled demo cache', () => {
    const base = { isPackaged: false, resourcesPath: '/res', mainDir: `${REPO}/dist/main` };
    assert.equal(startupSource({ ...base, argv: ['electron', '.', '--inspect', '/cache:tag'] }), '/cache:tag');
    assert.equal(startupSource({ ...base, argv: ['electron', '.'] }), `${REPO}/assets/demo-cache`);
    assert.equal(demoCachePath({ isPackaged: true, resourcesPath: '/res', mainDir: '/x' }), '/res/demo-cache');
    assert.equal(startupSource({ isPackaged: true, resourcesPath: '/nonexistent', mainDir: '/x', argv: ['Cachescope'] }), null);
  });
});
