/**
 * The page side of the graph layout worker keeps finished layouts by graph hash: laying out the same
 * graph again (reopening the Records tab, leaving focus mode) draws from the cache without a round
 * trip to the worker. Node has no DOM Worker, so a stand-in with the browser's Worker surface runs the
 * real layout (as graph-layout-worker.ts does) and records every message posted to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { viewOf } from '../../../electron/engine/sources/cache-view';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { CacheView } from '../../../shared/cache/view-types';
import { buildGraphModel } from '../../../shared/graph/graph-model';
import { layeredLayout, layoutInput } from '../../../shared/graph/layered-layout';
import type { LayoutInput, LayoutResult } from '../../../shared/graph/layered-layout';
import { fixture } from '../../helpers/fixtures';

/** What the client exports (renderer/src is outside the test project's type graph, so it is loaded by path). */
interface Client {
  cachedLayout(key: string): LayoutResult | undefined;
  layoutKey(input: LayoutInput): string;
  requestLayout(input: LayoutInput, key?: string): Promise<LayoutResult>;
}
/** The messages of renderer/src/graph-layout-protocol.ts. */
interface LayoutRequest {
  id: number;
  key: string;
  input: LayoutInput;
}
type LayoutReply = { id: number; key: string; ok: true; result: LayoutResult; ms: number };
const CLIENT = '../../../renderer/src/graph-layout-client.ts';

/** Every Worker the client starts, and every request posted to one. */
const started: { url: string; name: string | undefined }[] = [];
const posted: LayoutRequest[] = [];

/** The browser's Worker surface; replies asynchronously, as a real worker does. */
class StandInWorker {
  onmessage: ((e: { data: LayoutReply }) => void) | null = null;
  onerror: ((e: { message: string }) => void) | null = null;
  constructor(url: URL | string, options?: { name?: string }) {
    started.push({ url: String(url), name: options?.name });
  }
  postMessage(request: LayoutRequest): void {
    posted.push(request);
    setImmediate(() => this.onmessage?.({ data: { id: request.id, key: request.key, ok: true, result: layeredLayout(request.input), ms: 0 } }));
  }
  terminate(): void {}
}

let client: Client;
let view: CacheView;
const saved = (globalThis as { Worker?: unknown }).Worker;

before(async () => {
  (globalThis as { Worker?: unknown }).Worker = StandInWorker;
  client = (await import(CLIENT)) as Client;
  view = await viewOf(await openCacheSource(fixture.margo));
});
after(() => {
  (globalThis as { Worker?: unknown }).Worker = saved;
});

/** A fresh input for the same graph each call: equal in shape, never the same object. */
const inputOf = (collapse: boolean): LayoutInput => layoutInput(buildGraphModel(view, { collapse }));

describe('graph layouts cached by graph hash (renderer/src/graph-layout-client)', () => {
  it('lays a graph out once in the worker; the same graph again comes from the cache without posting', async () => {
    const first = inputOf(false);
    const key = client.layoutKey(first);
    assert.equal(client.cachedLayout(key), undefined, 'nothing cached before the first layout');
    const laid = await client.requestLayout(first, key);
    assert.equal(posted.length, 1, 'the first layout goes to the worker');
    assert.equal(started.length, 1);
    assert.match(started[0].url, /\/graph-layout-worker\.js$/, 'the worker is the same-origin file next to the page script');
    assert.doesNotMatch(started[0].url, /^(blob|data):/);
    assert.deepEqual(laid, layeredLayout(first));

    // The same graph, built again (as a re-render does): same hash, cached, no second post.
    const again = inputOf(false);
    assert.notEqual(again, first);
    assert.equal(client.layoutKey(again), key, 'equal graphs hash alike');
    assert.equal(client.cachedLayout(client.layoutKey(again)), laid, 'the view draws the cached layout at once');
    assert.equal(await client.requestLayout(again), laid);
    assert.equal(posted.length, 1, 'the second layout of the same graph does not post to the worker');
  });

  it('another graph (collapsed runs) has another hash and is laid out in the same worker', async () => {
    const collapsed = inputOf(true);
    assert.ok(collapsed.count < inputOf(false).count, 'margo has straight runs to collapse');
    const key = client.layoutKey(collapsed);
    assert.notEqual(key, client.layoutKey(inputOf(false)));
    const before = posted.length;
    const laid = await client.requestLayout(collapsed, key);
    assert.equal(posted.length, before + 1, 'a new graph is posted');
    assert.equal(posted.at(-1)!.key, key, 'the request carries its graph hash');
    assert.equal(laid.x.length, collapsed.count);
    assert.equal(started.length, 1, 'one worker for the page');
    // Both are cached now: switching back and forth posts nothing.
    await client.requestLayout(inputOf(false));
    await client.requestLayout(inputOf(true));
    assert.equal(posted.length, before + 1);
  });

  it('a graph with one edge changed is not served the cached layout', async () => {
    const changed = inputOf(false);
    changed.slot[0] += 1;
    const before = posted.length;
    assert.notEqual(client.layoutKey(changed), client.layoutKey(inputOf(false)));
    await client.requestLayout(changed);
    assert.equal(posted.length, before + 1);
  });
});
