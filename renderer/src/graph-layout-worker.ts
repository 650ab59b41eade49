/**
 * The record graph's layout worker: runs the layered layout off the page's thread and keeps recent
 * layouts by graph hash. Built as its own same-origin file (dist/renderer/graph-layout-worker.js):
 * the CSP's `worker-src 'self'` allows it; no blob: or data: URL, no eval.
 */
import { layeredLayout } from '../../shared/graph/layered-layout';
import type { LayoutResult } from '../../shared/graph/layered-layout';
import type { LayoutReply, LayoutRequest } from './graph-layout-protocol';

interface WorkerScope {
  onmessage: ((e: MessageEvent<LayoutRequest>) => void) | null;
  postMessage(message: LayoutReply): void;
}
const scope = self as unknown as WorkerScope;

const MAX_CACHED = 16;
const cache = new Map<string, LayoutResult>();

scope.onmessage = (e) => {
  const { id, key, input } = e.data;
  const t0 = performance.now();
  try {
    let result = cache.get(key);
    if (!result) {
      result = layeredLayout(input);
      cache.set(key, result);
      if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value as string);
    }
    scope.postMessage({ id, key, ok: true, result, ms: performance.now() - t0 });
  } catch (err) {
    scope.postMessage({ id, key, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
};
