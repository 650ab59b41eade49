import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APP_URL } from '../../../electron/main/app-protocol';
import { bindIpc, forwardEvents, handlersWith } from '../../../electron/main/ipc';
import { trustedSenderCheck } from '../../../electron/main/security';
import { CacheError, CHANNEL_PREFIX, EVENT_CHANNEL, REQUEST_NAMES, requestChannel } from '../../../shared/contract/index';
import type { Handlers, Params, RequestName } from '../../../shared/contract/index';
import { FakeIpcMain, FakeWebContents } from '../../helpers/fake-electron';

const MAIN_FRAME = { url: APP_URL, parent: null };

/** One valid payload per request, so every binding can be driven end to end. */
const VALID: { [N in RequestName]: Params<N> } = {
  getStartup: {},
  openCache: { source: '/caches/a' },
  closeCache: { cacheId: 'c1' },
  getRawJson: { cacheId: 'c1', what: 'manifest' },
  listGenerations: { dir: '/caches/a' },
  verifyCache: { cacheId: 'c1' },
  runGc: { dir: '/caches/a', dryRun: true },
  previewExport: { cacheId: 'c1', options: { compression: 'zstd' } },
  startExport: { cacheId: 'c1', dest: '/out', options: {} },
  cancelExport: { jobId: 'j1' },
  getExportJob: { jobId: 'j1' },
  previewImageExport: { cacheId: 'c1', selection: { record: 4 }, names: 'app', inlineCache: true },
  startImageExport: { cacheId: 'c1', selection: { layer: 2 }, dest: '/out/img:v1', options: { compression: 'zstd', 'force-compression': true } },
  cancelImageExport: { jobId: 'j1' },
  getImageExportJob: { jobId: 'j1' },
  diffCaches: { a: 'c1', b: 'c2' },
  pickDirectory: { title: 'Export to' },
  listRegistryTags: { repository: 'registry.example:5000/team/cache' },
  deleteRegistryTag: { repository: 'registry.example:5000/team/cache', tag: 'old', force: false },
  registryLogin: { registry: 'registry.example:5000', username: 'alice', password: 'secret' },
  registryLogout: { registry: 'registry.example:5000' },
  registryStatus: { registry: 'registry.example:5000' },
  openLayerFiles: { cacheId: 'c1', layer: 2, view: 'squash', requestId: 'r1' },
  cancelLayerFiles: { requestId: 'r1' },
  resultWaste: { cacheId: 'c1', record: 3 },
  divergenceFiles: { a: 'c1', b: 'c2', leaf: 4 },
  attachImage: { cacheId: 'c1', image: '/images/app:latest' },
};

type Call = { name: string; params: unknown };

/** Handlers that record which one ran with what; `behaviour` may make one throw. */
function recordingHandlers(behaviour: Partial<Record<RequestName, () => unknown>> = {}): { handlers: Handlers; calls: Call[] } {
  const calls: Call[] = [];
  const handlers = Object.fromEntries(
    REQUEST_NAMES.map((name) => [
      name,
      async (params: unknown) => {
        calls.push({ name, params });
        const act = behaviour[name];
        return act ? act() : { answeredBy: name };
      },
    ]),
  ) as unknown as Handlers;
  return { handlers, calls };
}

type Failure = { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

describe('IPC bindings', () => {
  it('binds exactly one channel per contract request, and nothing else', () => {
    const ipc = new FakeIpcMain();
    const { channels } = bindIpc(ipc, recordingHandlers().handlers, () => true);
    const expected = REQUEST_NAMES.map(requestChannel).sort();
    assert.deepEqual([...ipc.handlers.keys()].sort(), expected);
    assert.deepEqual([...channels].sort(), expected);
    assert.ok(channels.every((c) => c.startsWith(`${CHANNEL_PREFIX}request:`)));
  });

  it('routes each channel to the handler of the same name, with the validated params', async () => {
    const ipc = new FakeIpcMain();
    const { handlers, calls } = recordingHandlers();
    bindIpc(ipc, handlers, () => true);
    for (const name of REQUEST_NAMES) {
      const out = await ipc.invoke(requestChannel(name), MAIN_FRAME, VALID[name]);
      assert.deepEqual(out, { ok: true, value: { answeredBy: name } }, name);
    }
    assert.deepEqual(calls.map((c) => c.name), [...REQUEST_NAMES]);
    assert.deepEqual(calls.find((c) => c.name === 'previewExport')!.params, { cacheId: 'c1', options: { compression: 'zstd' } });
  });

  it('refuses untrusted senders with an error value, before the handler runs', async () => {
    const ipc = new FakeIpcMain();
    const { handlers, calls } = recordingHandlers();
    bindIpc(ipc, handlers, trustedSenderCheck(() => ({ id: 1 }), APP_URL));
    const refused: [number, { url: string; parent: unknown } | null, string][] = [
      [1, { url: APP_URL, parent: MAIN_FRAME }, 'a subframe of our window'],
      [1, { url: 'https://evil.example/', parent: null }, 'a foreign URL in our main frame'],
      [1, null, 'a frame that is gone'],
      [2, MAIN_FRAME, 'another webContents'],
    ];
    for (const [senderId, frame, why] of refused) {
      for (const name of REQUEST_NAMES) {
        const out = (await ipc.invokeFrom(senderId, frame, requestChannel(name), VALID[name])) as Failure;
        assert.equal(out.ok, false, `${why}: ${name}`);
        assert.equal(out.error.code, 'forbidden', `${why}: ${name}`);
      }
    }
    assert.deepEqual(calls, []);
    assert.equal(((await ipc.invokeFrom(1, MAIN_FRAME, requestChannel('getStartup'), {})) as { ok: boolean }).ok, true);
  });

  it('answers an invalid payload with bad-request, before the handler runs', async () => {
    const ipc = new FakeIpcMain();
    const { handlers, calls } = recordingHandlers();
    bindIpc(ipc, handlers, () => true);
    const bad: [RequestName, unknown][] = [
      ['openCache', undefined],
      ['openCache', null],
      ['openCache', 42],
      ['openCache', 'source'],
      ['openCache', [{ source: '/x' }]],
      ['openCache', { source: 42 }],
      ['openCache', { source: '' }],
      ['openCache', { source: '/x', extra: 1 }],
      ['openCache', { source: 'a\0b' }],
      ['openCache', { source: 'x'.repeat(5000) }],
      ['getRawJson', { cacheId: 'c1', what: 'secrets' }],
      ['runGc', { dir: '/x', dryRun: 'no' }],
      ['runGc', { dir: '/x' }],
      ['getStartup', { anything: true }],
    ];
    for (const [name, payload] of bad) {
      const out = (await ipc.invoke(requestChannel(name), MAIN_FRAME, payload)) as Failure;
      assert.equal(out.ok, false, `${name} ${JSON.stringify(payload)?.slice(0, 60)}`);
      assert.equal(out.error.code, 'bad-request', `${name} ${JSON.stringify(payload)?.slice(0, 60)}`);
    }
    const badOptions = (await ipc.invoke(requestChannel('startExport'), MAIN_FRAME, { cacheId: 'c', dest: '/d', options: { compression: 'lz4' } })) as Failure;
    assert.equal(badOptions.error.code, 'invalid-options');
    assert.deepEqual(calls, []);
  });

  it('turns a thrown CacheError into an error value with its code and details, and no stack', async () => {
    const ipc = new FakeIpcMain();
    bindIpc(
      ipc,
      recordingHandlers({
        closeCache: () => {
          throw new CacheError('not-found', 'no opened cache with id x', { cacheId: 'x' });
        },
      }).handlers,
      () => true,
    );
    const out = await ipc.invoke(requestChannel('closeCache'), MAIN_FRAME, { cacheId: 'x' });
    assert.deepEqual(out, { ok: false, error: { code: 'not-found', message: 'no opened cache with id x', details: { cacheId: 'x' } } });
    assert.doesNotMatch(JSON.stringify(out), /stack|at .*\.ts:\d+/);
  });

  it('turns any other throw into an internal error value, with no stack even inside details', async () => {
    const ipc = new FakeIpcMain();
    bindIpc(
      ipc,
      recordingHandlers({
        verifyCache: () => {
          throw new Error('boom');
        },
        runGc: () => {
          throw new CacheError('io', 'disk full', { cause: new Error('ENOSPC'), path: '/x' });
        },
        diffCaches: () => {
          const cyclic: Record<string, unknown> = {};
          cyclic.self = cyclic;
          throw new CacheError('internal', 'odd', cyclic);
        },
      }).handlers,
      () => true,
    );
    assert.deepEqual(await ipc.invoke(requestChannel('verifyCache'), MAIN_FRAME, { cacheId: 'x' }), { ok: false, error: { code: 'internal', message: 'boom' } });
    const io = (await ipc.invoke(requestChannel('runGc'), MAIN_FRAME, { dir: '/x', dryRun: false })) as Failure;
    assert.deepEqual(io.error, { code: 'io', message: 'disk full', details: { cause: {}, path: '/x' } });
    // Structured clone (what IPC uses) would have carried the nested Error's stack; plain JSON does not.
    assert.equal(structuredClone(io).error.details!.cause instanceof Error, false);
    assert.deepEqual(await ipc.invoke(requestChannel('diffCaches'), MAIN_FRAME, { a: 'a', b: 'b' }), { ok: false, error: { code: 'internal', message: 'odd' } });
  });

  it('unbinds every channel it bound', () => {
    const ipc = new FakeIpcMain();
    const binding = bindIpc(ipc, recordingHandlers().handlers, () => true);
    binding.unbind();
    assert.equal(ipc.handlers.size, 0);
    // Binding again after unbinding works (the fake, like ipcMain, refuses a second handler).
    bindIpc(ipc, recordingHandlers().handlers, () => true);
    assert.equal(ipc.handlers.size, REQUEST_NAMES.length);
  });
});

describe('handlers with overrides', () => {
  it('replaces only the overridden request and keeps the service methods bound', async () => {
    // Methods on a prototype that read `this`, as a class-based service would have: a spread would lose them.
    const proto = Object.fromEntries(REQUEST_NAMES.map((name) => [name, async function (this: { tag: string }) { return { by: name, tag: this.tag }; }]));
    const service = Object.assign(Object.create(proto) as Handlers, { tag: 'svc' });
    const handlers = handlersWith(service, { pickDirectory: async () => ({ path: '/chosen' }) });
    assert.deepEqual(Object.keys(handlers).sort(), [...REQUEST_NAMES].sort());
    assert.deepEqual(await handlers.pickDirectory({}), { path: '/chosen' });
    assert.deepEqual(await handlers.getStartup({}), { by: 'getStartup', tag: 'svc' });
    assert.deepEqual(await handlers.openCache({ source: '/x' }), { by: 'openCache', tag: 'svc' });
  });
});

describe('event forwarding', () => {
  const finished = (jobId: string) => ({ jobId, ok: false as const, error: { code: 'cancelled' as const, message: 'cancelled' } });

  it('sends events on the one event channel while the window lives', () => {
    const wc = new FakeWebContents();
    const sink = forwardEvents(wc);
    sink('exportFinished', finished('j'));
    assert.deepEqual(wc.sent, [{ channel: EVENT_CHANNEL, message: { event: 'exportFinished', payload: finished('j') } }]);
  });

  it('drops events once the webContents is destroyed, without throwing into the engine', () => {
    const wc = new FakeWebContents();
    const sink = forwardEvents(wc);
    wc.destroyed = true;
    assert.doesNotThrow(() => sink('exportFinished', finished('k')));
    assert.deepEqual(wc.sent, []);
  });
});
