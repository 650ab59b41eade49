/**
 * The page side of the graph layout worker: one worker for the page, started from a same-origin
 * file next to app.js, and a cache of finished layouts keyed by graph hash, so going back to a graph
 * (or reopening a view) draws at once.
 */
import { graphHash } from '../../shared/graph/layered-layout';
import type { LayoutInput, LayoutResult } from '../../shared/graph/layered-layout';
import type { LayoutReply, LayoutRequest } from './graph-layout-protocol';

const MAX_CACHED = 24;
const done = new Map<string, LayoutResult>();
const waiting = new Map<number, { resolve(r: LayoutResult): void; reject(e: Error): void }>();
let worker: Worker | null = null;
let nextId = 1;

function start(): Worker {
  if (worker) return worker;
  const w = new Worker(new URL('./graph-layout-worker.js', import.meta.url), { name: 'cachescope-graph-layout' });
  w.onmessage = (e: MessageEvent<LayoutReply>) => {
    const msg = e.data;
    const p = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (!p) return;
    if (msg.ok) {
      done.set(msg.key, msg.result);
      if (done.size > MAX_CACHED) done.delete(done.keys().next().value as string);
      p.resolve(msg.result);
    } else p.reject(new Error(`graph layout failed: ${msg.message}`));
  };
  w.onerror = (e) => {
    const err = new Error(`the graph layout worker failed: ${e.message || 'it could not be loaded'}`);
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
    worker = null;
  };
  worker = w;
  return w;
}

/** A finished layout for this graph, if one is cached (draws without a round trip). */
export function cachedLayout(key: string): LayoutResult | undefined {
  return done.get(key);
}

export function layoutKey(input: LayoutInput): string {
  return graphHash(input);
}

export function requestLayout(input: LayoutInput, key = graphHash(input)): Promise<LayoutResult> {
  const hit = done.get(key);
  if (hit) return Promise.resolve(hit);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    start().postMessage({ id, key, input } satisfies LayoutRequest);
  });
}
