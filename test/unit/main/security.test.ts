import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { APP_URL } from '../../../electron/main/app-protocol';
import { CONTENT_SECURITY_POLICY, applySecurity, hardenApp, hardenSession, hardenWebContents, isAppDownload, isAppUrl, isTrustedSender, trustedSenderCheck } from '../../../electron/main/security';
import type { WebContentsLike } from '../../../electron/main/security';
import { CONTENT_SECURITY_POLICY as SERVER_CSP } from '../../../electron/server/security';
import { FakeApp, FakeSession, FakeWebContents } from '../../helpers/fake-electron';
import { REPO } from '../../helpers/fixtures';
import type { PermissionDetails } from '../../helpers/fake-electron';

const hardened = (): FakeWebContents => {
  const wc = new FakeWebContents();
  hardenWebContents(wc as unknown as WebContentsLike, APP_URL);
  return wc;
};

/** The policy as directive -> sources, so each directive is checked on its own. */
function directives(policy: string): Map<string, string[]> {
  return new Map(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...sources]) => [name, sources]));
}

describe('content security policy', () => {
  const csp = directives(CONTENT_SECURITY_POLICY);

  it('defaults to nothing and allows scripts only from the app itself', () => {
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('script-src'), ["'self'"]);
    assert.deepEqual(csp.get('style-src'), ["'self'"]);
    assert.deepEqual(csp.get('connect-src'), ["'self'"]);
    assert.deepEqual(csp.get('font-src'), ["'self'"]);
  });

  it("lets workers start only from the app's own files (the Raw JSON worker), never blob: or data:", () => {
    assert.deepEqual(csp.get('worker-src'), ["'self'"]);
  });

  it('allows no data: images: no view draws one (electronegativity flags img-src data:)', () => {
    assert.deepEqual(csp.get('img-src'), ["'self'"]);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /data:/);
  });

  it("is the policy browser mode sends and the page's own meta policy, directive for directive", async () => {
    const server = directives(SERVER_CSP);
    assert.deepEqual(new Map([...server].sort()), new Map([...csp].sort()));
    const html = await readFile(join(REPO, 'renderer/index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
    assert.ok(meta, 'renderer/index.html has a CSP meta tag');
    // frame-ancestors cannot be set from a meta tag; every other directive must agree.
    assert.deepEqual(new Map([...directives(meta)].sort()), new Map([...csp].filter(([k]) => k !== 'frame-ancestors').sort()));
    assert.doesNotMatch(html, /data:/, 'no data: URL in the page (the favicon is a file)');
  });

  it('forbids base rewriting, form posts and framing', () => {
    assert.deepEqual(csp.get('base-uri'), ["'none'"]);
    assert.deepEqual(csp.get('form-action'), ["'none'"]);
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
  });

  it('has no unsafe keyword, wildcard or remote source anywhere', () => {
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|unsafe-hashes|wasm-unsafe-eval|\*|https?:|blob:/);
  });
});

describe('navigation, new windows and webviews', () => {
  it('denies navigation away from the app page, for main frame, redirects and subframes', () => {
    const wc = hardened();
    for (const event of ['will-navigate', 'will-redirect', 'will-frame-navigate']) {
      for (const url of ['https://evil.example/', 'file:///etc/passwd', 'app://cachescope/other.html', 'app://evil/index.html', 'javascript:alert(1)', 'not a url']) {
        assert.equal(wc.fire(event, { url }), true, `${event} ${url} must be prevented`);
      }
    }
  });

  it('lets the app page itself load (a reload, or a hash route)', () => {
    const wc = hardened();
    assert.equal(wc.fire('will-navigate', { url: APP_URL }), false);
    assert.equal(wc.fire('will-navigate', { url: `${APP_URL}#/layers` }), false);
  });

  it('denies every new window, the app URL included', () => {
    const wc = hardened();
    assert.deepEqual(wc.windowOpenHandler!({ url: 'https://example.com/' }), { action: 'deny' });
    assert.deepEqual(wc.windowOpenHandler!({ url: APP_URL }), { action: 'deny' });
  });

  it('denies attaching a webview', () => {
    assert.equal(hardened().fire('will-attach-webview', { src: APP_URL }), true);
  });

  it('gives every webContents the app creates the same rules', () => {
    const app = new FakeApp();
    hardenApp(app, APP_URL);
    const wc = new FakeWebContents();
    app.emit('web-contents-created', {}, wc);
    assert.equal(wc.fire('will-navigate', { url: 'https://evil.example/' }), true);
    assert.equal(wc.fire('will-attach-webview'), true);
    assert.deepEqual(wc.windowOpenHandler!({ url: 'x' }), { action: 'deny' });
  });
});

describe('session: permissions and the CSP header', () => {
  it('denies every permission request and check, whoever asks', () => {
    const s = new FakeSession();
    hardenSession(s, APP_URL);
    const fromApp = { requestingUrl: APP_URL, isMainFrame: true };
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'deprecated-sync-clipboard-read', 'openExternal', 'fileSystem', 'display-capture', 'hid', 'usb', 'unknown']) {
      const answers: boolean[] = [];
      s.permissionRequest!({}, permission, (granted) => answers.push(granted), fromApp);
      assert.deepEqual(answers, [false], permission);
      assert.equal(s.permissionCheck!({}, permission, 'app://cachescope', fromApp), false, permission);
    }
  });

  it('grants clipboard writes (the copy buttons) to the main frame of the app page only', () => {
    const s = new FakeSession();
    hardenSession(s, APP_URL);
    const ask = (details: PermissionDetails | undefined) => {
      const answers: boolean[] = [];
      s.permissionRequest!({}, 'clipboard-sanitized-write', (granted) => answers.push(granted), details);
      return [answers[0], s.permissionCheck!({}, 'clipboard-sanitized-write', 'app://cachescope', details)];
    };
    assert.deepEqual(ask({ requestingUrl: APP_URL, isMainFrame: true }), [true, true]);
    assert.deepEqual(ask({ requestingUrl: APP_URL, isMainFrame: false }), [false, false], 'a subframe');
    assert.deepEqual(ask({ requestingUrl: 'https://evil.example/', isMainFrame: true }), [false, false], 'another page');
    assert.deepEqual(ask({ isMainFrame: true }), [false, false], 'nobody known');
    assert.deepEqual(ask(undefined), [false, false]);
  });

  it('puts the CSP on app responses and keeps their other headers', () => {
    const s = new FakeSession();
    hardenSession(s, APP_URL);
    const headers = s.respond(APP_URL, { 'Content-Type': ['text/html'] })!;
    assert.deepEqual(headers['Content-Security-Policy'], [CONTENT_SECURITY_POLICY]);
    assert.deepEqual(headers['Content-Type'], ['text/html']);
    assert.deepEqual(s.respond(`${APP_URL}`)!['Content-Security-Policy'], [CONTENT_SECURITY_POLICY]);
  });

  it('adds ours beside a policy the response brought, so a looser one can never replace it', () => {
    const s = new FakeSession();
    hardenSession(s, APP_URL);
    const headers = s.respond('https://elsewhere.example/', { 'content-security-policy': ["script-src 'unsafe-inline'"] })!;
    assert.deepEqual(headers['content-security-policy'], ["script-src 'unsafe-inline'", CONTENT_SECURITY_POLICY]);
    assert.equal(Object.keys(headers).filter((k) => k.toLowerCase() === 'content-security-policy').length, 1);
  });

  it('applySecurity installs both the app and the session rules', () => {
    const app = new FakeApp();
    const s = new FakeSession();
    applySecurity({ app, session: s, appUrl: APP_URL });
    assert.equal(app.listenerCount('web-contents-created'), 1);
    assert.ok(s.permissionRequest && s.permissionCheck && s.headersListener);
  });
});

describe('session: downloads', () => {
  /** A fake session that also takes the will-download listener, and fires it for one URL. */
  class DownloadSession extends FakeSession {
    listener: ((event: { preventDefault(): void }, item: { getURL(): string }) => void) | null = null;
    on(_event: 'will-download', listener: NonNullable<DownloadSession['listener']>): this {
      this.listener = listener;
      return this;
    }
    /** True when the download was cancelled. */
    download(url: string): boolean {
      let cancelled = false;
      this.listener!({ preventDefault: () => (cancelled = true) }, { getURL: () => url });
      return cancelled;
    }
  }

  it('lets the app page save a blob it made ("download raw"), and cancels every other download', () => {
    const session = new DownloadSession();
    hardenSession(session, APP_URL);
    assert.equal(session.download('blob:app://cachescope/4b3c7a9e-1f2d-4c53-9a43-0e3f3c1b2a10'), false);
    for (const url of ['https://evil.example/payload.exe', 'file:///etc/passwd', 'blob:https://evil.example/4b3c7a9e', 'blob:app://evil/4b3c7a9e', 'data:application/json,{}', 'blob:not a url']) {
      assert.equal(session.download(url), true, url);
    }
    assert.equal(isAppDownload('blob:app://cachescope/x', APP_URL), true);
  });
});

describe('trusted IPC senders', () => {
  it('trusts only a main frame showing the app page', () => {
    assert.equal(isTrustedSender({ url: APP_URL, parent: null } as never, APP_URL), true);
    assert.equal(isTrustedSender({ url: `${APP_URL}#/records`, parent: null } as never, APP_URL), true);
    assert.equal(isTrustedSender({ url: APP_URL, parent: {} } as never, APP_URL), false, 'a subframe, even on the app URL');
    assert.equal(isTrustedSender({ url: 'https://evil.example/', parent: null } as never, APP_URL), false);
    assert.equal(isTrustedSender({ url: 'app://cachescope/other.html', parent: null } as never, APP_URL), false);
    assert.equal(isTrustedSender({ url: 'file:///opt/app/dist/renderer/index.html', parent: null } as never, APP_URL), false);
    assert.equal(isTrustedSender(null, APP_URL), false, 'a frame that navigated away or was destroyed');
  });

  it('also requires the event to come from our window', () => {
    let ours: { id: number } | null = { id: 7 };
    const check = trustedSenderCheck(() => ours, APP_URL);
    const main = { url: APP_URL, parent: null };
    assert.equal(check({ sender: { id: 7 }, senderFrame: main } as never), true);
    assert.equal(check({ sender: { id: 8 }, senderFrame: main } as never), false, 'another webContents on the same URL');
    ours = null;
    assert.equal(check({ sender: { id: 7 }, senderFrame: main } as never), false, 'no window open');
  });

  it('compares scheme, host and path, never a prefix', () => {
    assert.equal(isAppUrl('app://cachescope/index.html', APP_URL), true);
    assert.equal(isAppUrl('app://cachescope/index.html.evil', APP_URL), false);
    assert.equal(isAppUrl('app://cachescope.evil/index.html', APP_URL), false);
    assert.equal(isAppUrl('', APP_URL), false);
  });
});
