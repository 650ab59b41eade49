import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { demoCachePath, disposeBeforeQuit, startupSource } from '../../../electron/main/startup';
import { FakeApp } from '../../helpers/fake-electron';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('startup source', () => {
  const checkout = { isPackaged: false, resourcesPath: '/nonexistent', mainDir: join(REPO, 'dist/main') };

  it('takes the first non-flag argument after the app path', () => {
    assert.equal(startupSource({ ...checkout, argv: ['electron', REPO, '--inspect', '/cache:tag', '/other'] }), '/cache:tag');
    assert.equal(startupSource({ ...checkout, argv: ['electron', REPO, 'registry.example/repo:cache'] }), 'registry.example/repo:cache');
    // Packaged, there is no app path: the first argument is already the user's.
    assert.equal(startupSource({ isPackaged: true, resourcesPath: '/r', mainDir: '/x', argv: ['/opt/Cachescope/cachescope', '--no-sandbox', '/cache'] }), '/cache');
    assert.equal(startupSource({ isPackaged: true, resourcesPath: '/r', mainDir: '/x', argv: ['/Applications/Cachescope.app/Contents/MacOS/Cachescope', '-psn_0_12345'] }), null);
  });

  it('falls back to the bundled demo cache, found beside the app', () => {
    assert.equal(startupSource({ ...checkout, argv: ['electron', REPO] }), join(REPO, 'assets/demo-cache'));
    assert.equal(demoCachePath(checkout), join(REPO, 'assets/demo-cache'));
    assert.equal(demoCachePath({ isPackaged: true, resourcesPath: '/opt/Cachescope/resources', mainDir: '/x' }), '/opt/Cachescope/resources/demo-cache');
    assert.equal(startupSource({ isPackaged: true, resourcesPath: '/nonexistent', mainDir: '/x', argv: ['Cachescope'] }), null);
  });
});

describe('quitting', () => {
  it('holds the first quit until the engine is disposed, then quits once for real', async () => {
    const app = new FakeApp();
    let finish!: () => void;
    let disposals = 0;
    disposeBeforeQuit(app, () => {
      disposals += 1;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    let quitted = 0;
    app.on('will-quit', () => (quitted += 1));
    app.quit();
    app.quit();
    assert.equal(disposals, 1, 'a second quit while disposing does not dispose again');
    assert.equal(quitted, 0, 'held while the engine shuts down');
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(quitted, 1);
  });

  it('quits anyway when disposing hangs or fails', async () => {
    const hung = new FakeApp();
    disposeBeforeQuit(hung, () => new Promise<void>(() => undefined), 20);
    let hungQuit = false;
    hung.on('will-quit', () => (hungQuit = true));
    hung.quit();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(hungQuit, true);

    const failing = new FakeApp();
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      disposeBeforeQuit(failing, () => Promise.reject(new Error('lock busy')), 1000);
      let failedQuit = false;
      failing.on('will-quit', () => (failedQuit = true));
      failing.quit();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(failedQuit, true);
      assert.equal(errors.length, 1);
    } finally {
      console.error = original;
    }
  });
});
