/**
 * The page side of the JSON worker: one worker per shown document, its state as a React hook, and
 * the rows in view fetched on demand. The worker is a same-origin file next to app.js (never a
 * blob: or data: URL), so the CSP needs only `worker-src 'self'`. In browser mode the worker also
 * fetches and unwraps the document itself, so not even the response's JSON.parse runs on the page.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { JsonRow } from '../../shared/json/json-lines';
import type { ContractError } from '../../shared/contract/index';
import { BridgeError, api, requestForWorker } from './bridge';
import type { DocSource, FromWorker, ToWorker } from './json-worker-protocol';
import { errorText } from './stores/status-store';

export type JsonDocState =
  | { phase: 'loading' }
  | { phase: 'formatting'; done: number }
  | { phase: 'ready'; version: number; pretty: boolean; lines: number; visible: number; bytes: number; raw: Blob }
  | { phase: 'error'; message: string };

/** Rows are asked for in blocks of this many, so scrolling asks rarely. */
const BLOCK = 200;

export interface JsonDoc {
  state: JsonDocState;
  row(visibleIndex: number): JsonRow | undefined;
  /** Makes sure rows from..to (exclusive) are loaded or on their way. */
  want(from: number, to: number): void;
  toggle(line: number): void;
  fold(how: 'all' | 'none'): void;
}

export interface RawDocRef {
  cacheId: string;
  what: 'manifest' | 'config' | 'index';
}

export function useJsonDoc(ref: RawDocRef, pretty: boolean): JsonDoc {
  const [state, setState] = useState<JsonDocState>({ phase: 'loading' });
  const [, setTick] = useState(0);
  const worker = useRef<Worker | null>(null);
  const rows = useRef(new Map<number, JsonRow>());
  const asked = useRef(new Set<number>());
  const version = useRef(0);
  const prettyRef = useRef(pretty);
  prettyRef.current = pretty;

  const post = (msg: ToWorker) => worker.current?.postMessage(msg);

  useEffect(() => {
    let live = true;
    let w: Worker;
    try {
      w = new Worker(new URL('./json-worker.js', import.meta.url), { name: 'cachescope-json' });
    } catch (err) {
      setState({ phase: 'error', message: `cannot start the JSON worker: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    worker.current = w;
    rows.current = new Map();
    asked.current = new Set();
    setState({ phase: 'loading' });
    w.onmessage = (e: MessageEvent<FromWorker>) => {
      const msg = e.data;
      if (msg.type === 'failed') {
        setState({ phase: 'error', message: errorText(new BridgeError({ code: msg.code as ContractError['code'], message: msg.message })) });
      } else if (msg.type === 'progress') {
        setState({ phase: 'formatting', done: msg.done });
      } else if (msg.type === 'ready' || msg.type === 'view') {
        version.current = msg.version;
        rows.current = new Map();
        asked.current = new Set();
        if (msg.type === 'ready') setState({ phase: 'ready', version: msg.version, pretty: msg.pretty, lines: msg.lines, visible: msg.visible, bytes: msg.bytes, raw: msg.raw });
        else setState((s) => (s.phase === 'ready' ? { ...s, version: msg.version, visible: msg.visible } : s));
      } else if (msg.type === 'rows' && msg.version === version.current) {
        msg.rows.forEach((r, i) => rows.current.set(msg.from + i, r));
        setTick((t) => t + 1);
      }
    };
    w.onerror = (e) => setState({ phase: 'error', message: `the JSON worker failed: ${e.message || 'it could not be loaded'}` });
    const load = (source: DocSource) => w.postMessage({ type: 'load', source, pretty: prettyRef.current } satisfies ToWorker);
    // Browser mode: the worker fetches the document itself. Electron: IPC brings the text, the worker formats it.
    const request = requestForWorker('getRawJson', ref);
    if (request) load({ request });
    else {
      api.request('getRawJson', ref).then(
        (r) => live && load({ text: r.text }),
        (err) => live && setState({ phase: 'error', message: errorText(err) }),
      );
    }
    return () => {
      live = false;
      w.terminate();
      if (worker.current === w) worker.current = null;
    };
  }, [ref.cacheId, ref.what]);

  // Switching between pretty and as stored re-indexes the text the worker already holds.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    if (!worker.current) return;
    setState((s) => (s.phase === 'ready' ? { phase: 'formatting', done: 0 } : s));
    post({ type: 'mode', pretty });
  }, [pretty]);

  const want = useCallback((from: number, to: number) => {
    for (let b = Math.floor(Math.max(0, from) / BLOCK); b * BLOCK < to; b++) {
      if (asked.current.has(b)) continue;
      asked.current.add(b);
      post({ type: 'rows', version: version.current, from: b * BLOCK, to: (b + 1) * BLOCK });
    }
  }, []);

  return {
    state,
    row: (v) => rows.current.get(v),
    want,
    toggle: (line) => post({ type: 'toggle', line }),
    fold: (how) => post({ type: 'fold', how }),
  };
}
