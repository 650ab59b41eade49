/**
 * After a gc, every open view of the folder must be told: the service emits `layoutChanged` (with the
 * generations it deleted), main forwards it to the window and the preload lets the page listen to it,
 * and browser mode streams it over SSE. Real folders, a real service and server; fake Electron objects.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createService } from '../../../electron/engine/service';
import { bindIpc, forwardEvents } from '../../../electron/main/ipc';
import { createPreloadApi } from '../../../electron/preload/api';
import { startServer } from '../../../electron/server/server';
import type { RunningServer } from '../../../electron/server/server';
import { EVENT_CHANNEL, requestChannel } from '../../../shared/contract/index';
import type { Events, EventName, GcOutcome, LayoutChanged } from '../../../shared/contract/index';
import { FakeIpcMain, FakeIpcRenderer, FakeWebContents } from '../../helpers/fake-electron';
import { fixture } from '../../helpers/fixtures';

type Sent = { event: EventName; payload: Events[EventName] };

/** Cache manifests in blobs/sha256 that index.json does not name: read straight from the files, without the engine. */
async function orphanedGenerations(dir: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const tagged = new Set(index.manifests.map((m) => m.digest));
  const out: string[] = [];
  for (const hex of await readdir(join(dir, 'blobs', 'sha256'))) {
    const bytes = await readFile(join(dir, 'blobs', 'sha256', hex));
    if (bytes[0] !== 0x7b) continue;
    let doc: { config?: { mediaType?: string } };
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue;
    }
    if (doc.config?.mediaType === 'application/vnd.buildkit.cacheconfig.v0' && !tagged.has(`sha256:${hex}`)) out.push(`sha256:${hex}`);
  }
  return out.sort();
}

describe('layoutChanged after gc', () => {
  let root: string;
  let dir: string;
  let orphans: string[];
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'cachescope-layout-changed-'));
    dir = join(root, 'cache');
    // A copy: gc deletes files, and the shared fixtures are read-only evidence.
    await cp(fixture.dto, dir, { recursive: true });
    orphans = await orphanedGenerations(dir);
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('the service emits it once per gc that deleted something, naming the deleted generations', async () => {
    assert.equal(orphans.length, 3, 'dto-pattern has three orphaned generations');
    const sent: Sent[] = [];
    const service = createService({ startupSource: null, mode: 'browser', emit: (event, payload) => sent.push({ event, payload }) });
    const dry = await service.runGc({ dir, dryRun: true });
    assert.deepEqual([...dry.removedGenerations].sort(), orphans, 'a dry run says which generations would go');
    assert.equal(dry.changeId, null);
    assert.equal(sent.length, 0, 'a dry run changes nothing, so it tells nobody');

    const run = await service.runGc({ dir, dryRun: false });
    assert.deepEqual([...run.removedGenerations].sort(), orphans);
    assert.equal(sent.length, 1);
    const change = sent[0].payload as LayoutChanged;
    assert.equal(sent[0].event, 'layoutChanged');
    assert.deepEqual({ ...change, removedGenerations: [...change.removedGenerations].sort() }, { dir, changeId: run.changeId, why: 'gc', removedGenerations: orphans, deletedBlobs: run.blobs });
    assert.ok(run.changeId);
    assert.ok(run.blobs > orphans.length, 'their configs and layers went too');

    const again = await service.runGc({ dir, dryRun: false });
    assert.equal(again.blobs, 0);
    assert.equal(again.changeId, null);
    assert.equal(sent.length, 1, 'a gc that deletes nothing sends nothing');
    await service.dispose();
  });

  it('main forwards it to the window, and the preload hands it to a page listener', async () => {
    const wc = new FakeWebContents();
    const service = createService({ startupSource: null, mode: 'electron', emit: forwardEvents(wc) });
    const ipc = new FakeIpcMain();
    bindIpc(ipc, service, () => true);
    const answer = (await ipc.invoke(requestChannel('runGc'), { url: 'app://cachescope/index.html', parent: null }, { dir, dryRun: false })) as { ok: true; value: GcOutcome };
    assert.equal(answer.ok, true);
    const events = wc.sent.filter((m) => m.channel === EVENT_CHANNEL).map((m) => m.message as Sent);
    assert.deepEqual(
      events.map((e) => e.event),
      ['layoutChanged'],
    );
    assert.equal((events[0].payload as LayoutChanged).changeId, answer.value.changeId);

    // The page side: the preload accepts the event name and delivers the payload as sent.
    const renderer = new FakeIpcRenderer();
    const pageApi = createPreloadApi(renderer);
    const heard: LayoutChanged[] = [];
    const off = pageApi.on('layoutChanged', (p) => heard.push(p));
    renderer.emit(EVENT_CHANNEL, {}, wc.sent[0].message);
    off();
    assert.deepEqual(heard, [events[0].payload]);
    await service.dispose();
  });

  describe('browser mode', () => {
    let server: RunningServer;
    let rendererDir: string;
    before(async () => {
      rendererDir = await mkdtemp(join(tmpdir(), 'cachescope-renderer-'));
      await writeFile(join(rendererDir, 'index.html'), '<!doctype html><title>Cachescope</title>');
      const service = createService({ startupSource: null, mode: 'browser', emit: (e, p) => server.emit(e, p) });
      server = await startServer({ handlers: service, rendererDir });
    });
    after(async () => {
      await server?.close();
      await rm(rendererDir, { recursive: true, force: true });
    });

    it('streams it to every connected page over SSE', async () => {
      const post = (params: unknown) =>
        new Promise<string>((resolve, reject) => {
          const body = JSON.stringify(params);
          const req = request(
            { host: '127.0.0.1', port: server.port, path: '/api/runGc', method: 'POST', headers: { host: `127.0.0.1:${server.port}`, 'content-type': 'application/json', 'x-cachescope-token': server.token } },
            (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (c) => (text += c));
              res.on('end', () => resolve(text));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      // Frames of one stream arrive in order, and the service emits before it answers: a marker event sent
      // after the answer therefore comes after layoutChanged, or layoutChanged was never sent.
      const MARK = { jobId: 'marker', ok: false as const, error: { code: 'cancelled' as const, message: 'marker' } };
      let answer: Promise<string> | null = null;
      const frame = await new Promise<string | null>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: server.port, path: `/api/events?token=${server.token}`, headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => {
            text += c;
            const m = /event: layoutChanged\ndata: (.*)\n\n/.exec(text);
            if (m || text.includes('event: exportFinished')) {
              req.destroy();
              resolve(m ? m[1] : null);
            } else if (text.includes(': connected') && !answer) {
              answer = post({ dir, dryRun: false });
              answer.then(() => server.emit('exportFinished', MARK), reject);
            }
          });
        });
        req.on('error', reject);
        req.end();
      });
      assert.ok(frame, 'a layoutChanged event came before the marker');
      const outcome = JSON.parse(await answer!) as { ok: true; value: GcOutcome };
      const change = JSON.parse(frame) as LayoutChanged;
      assert.equal(change.changeId, outcome.value.changeId);
      assert.deepEqual([...change.removedGenerations].sort(), orphans);
      assert.equal(change.dir, dir);
    });
  });
});
