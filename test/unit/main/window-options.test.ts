import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { windowOptions } from '../../../electron/main/window-options';

describe('window options (a pure function)', () => {
  const options = windowOptions('/opt/app/dist/preload/preload.cjs');
  const web = options.webPreferences!;

  it('isolates and sandboxes the renderer', () => {
    assert.equal(web.contextIsolation, true);
    assert.equal(web.sandbox, true);
    assert.equal(web.nodeIntegration, false);
    assert.equal(web.nodeIntegrationInWorker, false);
    assert.equal(web.nodeIntegrationInSubFrames, false);
  });

  it('keeps web security on and the risky features off', () => {
    assert.equal(web.webSecurity, true);
    assert.equal(web.allowRunningInsecureContent, false);
    assert.equal(web.webviewTag, false);
    assert.equal(web.experimentalFeatures, false);
    assert.equal(web.spellcheck, false);
  });

  it('disables middle-click (Auxclick), so a link cannot open a new window that way', () => {
    assert.equal(web.disableBlinkFeatures, 'Auxclick');
    assert.equal(web.enableBlinkFeatures, undefined);
  });

  it('loads the given preload and nothing else', () => {
    assert.equal(web.preload, '/opt/app/dist/preload/preload.cjs');
    assert.equal(windowOptions('/elsewhere/p.cjs').webPreferences!.preload, '/elsewhere/p.cjs');
    assert.equal('additionalArguments' in web, false);
  });

  it('is titled Cachescope, hidden until ready-to-show, with a background and a usable minimum size', () => {
    assert.equal(options.title, 'Cachescope');
    assert.equal(options.show, false);
    assert.match(String(options.backgroundColor), /^#[0-9a-f]{6}$/i);
    assert.ok(options.minWidth! >= 800 && options.minWidth! <= options.width!);
    assert.ok(options.minHeight! >= 500 && options.minHeight! <= options.height!);
  });

  it('is pure: equal results, never a shared object a caller could mutate', () => {
    const again = windowOptions('/opt/app/dist/preload/preload.cjs');
    assert.deepEqual(again, options);
    assert.notEqual(again, options);
    assert.notEqual(again.webPreferences, options.webPreferences);
  });
});
