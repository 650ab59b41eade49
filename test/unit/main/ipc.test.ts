import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WebContents } from 'electron';
import { bindIpc, forwardEvents } from '../../../electron/main/ipc';
import { isTrustedSender } from '../../../electron/main/security';
import { createPreloadApi } from '../../../electron/preload/api';
import { CacheError, EVENT_CHANNEL, REQUEST_NAMES, requestChannel } from '../../../shared/contract/index';
import type { Handlers } from '../../../shared/contract/index';
import { FakeIpcMain, FakeIpcRenderer, FakeWebContents } from '../../helpers/fake-electron';

const APP_URL = 'file:///app/dist/renderer/index.html';
const main = { url: APP_URL, parent: null };

function recordingHandlers(): { handlers: Handlers; calls: { name: string; params: unknown }[] } {
  const calls: { name: string; params: unknown }[] = [];
  const handlers = Object.fromEntries(
    REQUEST_NAMES.map((name) => [
      name,
      async (params: unknown) => {
        calls.push({ name, params });
        if (name === 'closeCache') throw new CacheError('not-found', 'no opened cache with id x');
        if (name === 'verifyCache') throw new Error('boom');
        return { echo: params };
      },
    ]),
  ) as unknown as Handlers;
  return { handlers, calls };
}

describe('IPC bindings', () => {
  it('binds every contract request, and nothing else', () => {
    const ipc = new FakeIpcMain();
    const { channels } = bindIpc(ipc, recordingHandlers().handlers, () => true);
    assert.deepEqual([...ipc.handlers.keys()].sort(), REQUEST_NAMES.map(requestChannel).sort());
    assert.equal(channels.length, REQUEST_NAMES.length);
  });

  it('refuses untrusted senders before the handler runs', async () => {
    const ipc = new FakeIpcMain();
    const { handlers, calls } = recordingHandlers();
    bindIpc(ipc, handlers, (e) => isTrustedSender(e.senderFrame, APP_URL));
    for (const frame of [{ url: APP_URL, parent: {} }, { url: 'https://evil.example/', parent: null }, null]) {
      const out = (await ipc.invoke(requestChannel('openCache'), frame, { source: '/x' })) as { ok: boolean; error: { code: string } };
      assert.equal(out.ok, false);
      assert.equal(out.error.code, 'forbidden');
    }
    assert.equal(calls.length, 0);
  });

  it('validates payloads before the engine sees them', async () => {
    const ipc = new FakeIpcMain();
    const { handlers, calls } = recordingHandlers();
    bindIpc(ipc, handlers, () => true);
    for (const bad of [undefined, null, 42, { source: 42 }, { source: '' }, { source: '/x', extra: 1 }, { source: 'a\0b' }]) {
      const out = (await ipc.invoke(requestChannel('openCache'), main, bad)) as { ok: boolean; error: { code: string } };
      assert.equal(out.ok, false, JSON.stringify(bad));
      assert.equal(out.error.code, 'bad-request');
    }
    const badExport = (await ipc.invoke(requestChannel('startExport'), main, { cacheId: 'c', dest: '/d', options: { compression: 'lz4' } })) as { ok: boolean; error: { code: string } };
    assert.equal(badExport.error.code, 'invalid-options');
    assert.equal(calls.length, 0);
    const ok = await ipc.invoke(requestChannel('openCache'), main, { source: '/x' });
    assert.deepEqual(ok, { ok: true, value: { echo: { source: '/x' } } });
    assert.deepEqual(calls, [{ name: 'openCache', params: { source: '/x' } }]);
  });

  it('returns errors as values without stack traces', async () => {
    const ipc = new FakeIpcMain();
    bindIpc(ipc, recordingHandlers().handlers, () => true);
    const typed = await ipc.invoke(requestChannel('closeCache'), main, { cacheId: 'x' });
    assert.deepEqual(typed, { ok: false, error: { code: 'not-found', message: 'no opened cache with id x' } });
    const untyped = (await ipc.invoke(requestChannel('verifyCache'), main, { cacheId: 'x' })) as { ok: boolean; error: Record<string, unknown> };
    assert.deepEqual(untyped, { ok: false, error: { code: 'internal', message: 'boom' } });
  });

  it('forwards events to a live window only', () => {
    const wc = new FakeWebContents();
    const sink = forwardEvents(wc as unknown as WebContents);
    sink('exportFinished', { jobId: 'j', ok: false, error: { code: 'cancelled', message: 'cancelled' } });
    assert.deepEqual(wc.sent, [{ channel: EVENT_CHANNEL, message: { event: 'exportFinished', payload: { jobId: 'j', ok: false, error: { code: 'cancelled', message: 'cancelled' } } } }]);
    wc.destroyed = true;
    sink('exportFinished', { jobId: 'k', ok: false, error: { code: 'cancelled', message: 'cancelled' } });
    assert.equal(wc.sent.length, 1);
  });

  it('unbinds every channel', () => {
    const ipc = new FakeIpcMain();
    bindIpc(ipc, recordingHandlers().handlers, () => true).unbind();
    assert.equal(ipc.handlers.size, 0);
  });
});

describe('preload API', () => {
  it('exposes request and on only, refusing unknown names', async () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc as never);
    assert.deepEqual(Object.keys(api).sort(), ['on', 'request']);
    await assert.rejects(api.request('rmRf' as never, {} as never), /unknown request "rmRf"/);
    assert.throws(() => api.on('secrets' as never, () => undefined), /unknown event "secrets"/);
    assert.equal(ipc.invoked.length, 0);
  });

  it('unwraps outcomes: values resolve, errors reject with message and code', async () => {
    const ipc = new FakeIpcRenderer();
    ipc.reply = (channel) => (channel === requestChannel('getStartup') ? { ok: true, value: { source: null, mode: 'electron', version: '1' } } : { ok: false, error: { code: 'missing-blob', message: 'blob sha256:ab is missing' } });
    const api = createPreloadApi(ipc as never);
    assert.deepEqual(await api.request('getStartup', {}), { source: null, mode: 'electron', version: '1' });
    await assert.rejects(api.request('openCache', { source: '/x' }), (err: Error & { code?: string }) => err.message === 'blob sha256:ab is missing' && err.code === 'missing-blob');
    assert.deepEqual(ipc.invoked[1], { channel: requestChannel('openCache'), args: [{ source: '/x' }] });
  });

  it('delivers only the subscribed event and unsubscribes', () => {
    const ipc = new FakeIpcRenderer();
    const api = createPreloadApi(ipc as never);
    const got: unknown[] = [];
    const off = api.on('exportFinished', (p) => got.push(p));
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportProgress', payload: { jobId: 'a' } });
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportFinished', payload: { jobId: 'b' } });
    off();
    ipc.emit(EVENT_CHANNEL, {}, { event: 'exportFinished', payload: { jobId: 'c' } });
    assert.deepEqual(got, [{ jobId: 'b' }]);
    assert.equal(ipc.listenerCount(EVENT_CHANNEL), 0);
  });
});
