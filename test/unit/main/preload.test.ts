import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { build } from 'esbuild';
import { createPreloadApi } from '../../../electron/preload/api';
import { EVENT_CHANNEL, requestChannel } from '../../../shared/contract/index';
import { FakeContextBridge, FakeIpcRenderer } from '../../helpers/fake-electron';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** What a rejected request hands the page: read through `unknown`, as the renderer's bridge does. */
async function rejection(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

describe('preload API: requests', () => {
  it('exposes request and on, and nothing else', () => {
    assert.deepEqual(Object.keys(createPreloadApi(new FakeIpcRenderer())).sort(), ['on', 'request']);
  });

  it('refuses names outside the contract without touching IPC', async () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc);
    for (const name of ['rmRf', '__proto__', 'toString', '', 42, null]) {
      const err = await rejection(api.request(name as never, {} as never));
      assert.equal(err.code, 'bad-request', String(name));
      assert.match(String(err.message), /unknown request/);
    }
    assert.deepEqual(ipc.invoked, []);
  });

  it('invokes the request channel with the params and resolves with the value', async () => {
    const ipc = new FakeIpcRenderer();
    ipc.reply = () => ({ ok: true, value: { source: null, mode: 'electron', version: '1' } });
    const api = createPreloadApi(ipc);
    assert.deepEqual(await api.request('getStartup', {}), { source: null, mode: 'electron', version: '1' });
    await api.request('openCache', { source: '/x' });
    assert.deepEqual(ipc.invoked, [
      { channel: requestChannel('getStartup'), args: [{}] },
      { channel: requestChannel('openCache'), args: [{ source: '/x' }] },
    ]);
  });

  it('rejects an error value with a plain object that keeps code, message and details across contextBridge', async () => {
    const ipc = new FakeIpcRenderer();
    ipc.reply = () => ({ ok: false, error: { code: 'missing-blob', message: 'blob sha256:ab is missing', details: { digest: 'sha256:ab' } } });
    const err = await rejection(createPreloadApi(ipc).request('openCache', { source: '/x' }));
    assert.deepEqual(err, { name: 'CachescopeError', code: 'missing-blob', message: 'blob sha256:ab is missing', details: { digest: 'sha256:ab' } });
    // contextBridge rebuilds an Error from its message only; a plain object is copied whole.
    assert.equal(err instanceof Error, false);
    assert.equal(Object.getPrototypeOf(err), Object.prototype);
    assert.deepEqual(structuredClone(err), err);
  });

  it('turns an IPC failure or a malformed answer into an internal error, never a raw value', async () => {
    const ipc = new FakeIpcRenderer();
    ipc.reply = () => {
      throw new Error("No handler registered for 'cachescope:request:getStartup'");
    };
    const failed = await rejection(createPreloadApi(ipc).request('getStartup', {}));
    assert.equal(failed.code, 'internal');
    assert.match(String(failed.message), /No handler registered/);
    for (const answer of [undefined, null, 'ok', { ok: 'yes' }, { ok: false }, { ok: false, error: 'x' }, { ok: true }]) {
      ipc.reply = () => answer;
      const err = await rejection(createPreloadApi(ipc).request('getStartup', {}));
      assert.equal(err.code, 'internal', JSON.stringify(answer));
    }
  });
});

describe('preload API: events', () => {
  it('subscribes only to contract events', () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc);
    for (const name of ['secrets', 'exportprogress', '', 'on']) {
      assert.throws(() => api.on(name as never, () => undefined), (err: { code?: string }) => err.code === 'bad-request', name);
    }
    assert.equal(ipc.listenerCount(EVENT_CHANNEL), 0);
  });

  it('delivers only the subscribed event, and stops after unsubscribing', () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc);
    const finished: unknown[] = [];
    const progress: unknown[] = [];
    const offFinished = api.on('exportFinished', (p) => finished.push(p));
    const offProgress = api.on('exportProgress', (p) => progress.push(p));
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportProgress', payload: { jobId: 'a' } });
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportFinished', payload: { jobId: 'b' } });
    ipc.emit(EVENT_CHANNEL, {}, undefined);
    ipc.emit('some-other-channel', {}, { event: 'exportFinished', payload: { jobId: 'x' } });
    offFinished();
    offFinished();
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportFinished', payload: { jobId: 'c' } });
    assert.deepEqual(finished, [{ jobId: 'b' }]);
    assert.deepEqual(progress, [{ jobId: 'a' }]);
    assert.equal(ipc.listenerCount(EVENT_CHANNEL), 1, 'the other subscription is untouched');
    offProgress();
    assert.equal(ipc.listenerCount(EVENT_CHANNEL), 0);
  });
});

describe('the bundled preload', () => {
  it('needs only electron, and exposes exactly window.cachescope through contextBridge', async () => {
    // The same bundling as scripts/build.mjs (sandboxed preload: browser platform, CJS, only electron external).
    const out = await build({
      entryPoints: [join(REPO, 'electron/preload/preload.ts')],
      bundle: true,
      platform: 'browser',
      target: 'chrome130',
      format: 'cjs',
      external: ['electron'],
      write: false,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0].text;
    const required: string[] = [];
    const bridge = new FakeContextBridge();
    const ipc = new FakeIpcRenderer();
    // A context without Node's globals (no process, Buffer, global require): what a sandboxed preload has is less still.
    runInNewContext(code, {
      require: (id: string) => {
        required.push(id);
        if (id !== 'electron') throw new Error(`a sandboxed preload cannot require ${id}`);
        return { contextBridge: bridge, ipcRenderer: ipc };
      },
      module: { exports: {} },
      exports: {},
    });
    assert.deepEqual([...new Set(required)], ['electron']);
    assert.deepEqual([...bridge.exposed.keys()], ['cachescope']);
    const api = bridge.exposed.get('cachescope') as { request: (n: string, p: unknown) => Promise<unknown>; on: unknown };
    assert.deepEqual(Object.keys(api).sort(), ['on', 'request']);
    ipc.reply = () => ({ ok: true, value: { closed: true } });
    assert.equal(JSON.stringify(await api.request('closeCache', { cacheId: 'c' })), '{"closed":true}');
    assert.deepEqual(ipc.invoked, [{ channel: requestChannel('closeCache'), args: [{ cacheId: 'c' }] }]);
  });
});
