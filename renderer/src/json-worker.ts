/**
 * The Raw JSON worker: holds the document, indexes its lines and answers for the rows in view, so
 * the page never formats, splits or measures a large text itself. Built as its own file
 * (dist/renderer/json-worker.js) and started from the same origin: the CSP allows `worker-src 'self'`.
 */
import { defaultFolds, foldedFrom, prettyLines, rawLines, rowsOf, visibleLines } from '../../shared/json/json-lines';
import type { JsonLines } from '../../shared/json/json-lines';
import type { DocSource, FromWorker, ToWorker } from './json-worker-protocol';

interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
}
const scope = self as unknown as WorkerScope;

let text = '';
let raw: Blob = new Blob([]);
let lines: JsonLines | null = null;
let folded: Uint8Array = new Uint8Array(0);
let visible: Int32Array = new Int32Array(0);
let version = 0;
/** What the page last asked for (a mode switch may arrive while the text is still being fetched). */
let wantPretty = true;
let loaded = false;

function index(pretty: boolean): void {
  const built = pretty ? prettyLines(text, (done) => scope.postMessage({ type: 'progress', done })) : null;
  lines = built ?? rawLines(text);
  folded = defaultFolds(lines);
  visible = visibleLines(lines, folded);
  version++;
  scope.postMessage({ type: 'ready', version, pretty: lines.pretty, lines: lines.count, visible: visible.length, bytes: raw.size, raw });
}

function refold(next: Uint8Array): void {
  if (!lines) return;
  folded = next;
  visible = visibleLines(lines, folded);
  version++;
  scope.postMessage({ type: 'view', version, visible: visible.length });
}

/** The document's text: given, or fetched and unwrapped here (browser mode), off the page's thread. */
async function textOf(source: DocSource): Promise<string | null> {
  if ('text' in source) return source.text;
  let outcome: { ok?: unknown; value?: { text?: unknown }; error?: { code?: unknown; message?: unknown } };
  try {
    const res = await fetch(source.request.url, { method: 'POST', headers: source.request.headers, body: source.request.body });
    const body = await res.text();
    try {
      outcome = JSON.parse(body) as typeof outcome;
    } catch {
      scope.postMessage({ type: 'failed', code: res.status === 401 || res.status === 403 ? 'forbidden' : 'internal', message: `the server answered HTTP ${res.status}: ${body.slice(0, 200) || res.statusText}` });
      return null;
    }
  } catch (err) {
    scope.postMessage({ type: 'failed', code: 'io', message: `cannot reach the Cachescope server: ${err instanceof Error ? err.message : String(err)}` });
    return null;
  }
  if (outcome.ok === true && typeof outcome.value?.text === 'string') return outcome.value.text;
  const code = typeof outcome.error?.code === 'string' ? outcome.error.code : 'internal';
  const message = typeof outcome.error?.message === 'string' ? outcome.error.message : 'the server answered without the document';
  scope.postMessage({ type: 'failed', code, message });
  return null;
}

scope.onmessage = async (e) => {
  const msg = e.data;
  if (msg.type === 'load') {
    wantPretty = msg.pretty;
    const got = await textOf(msg.source);
    if (got === null) return;
    text = got;
    // The exact bytes for "download raw" (UTF-8, as the engine read them), and their count.
    raw = new Blob([text], { type: 'application/json' });
    loaded = true;
    index(wantPretty);
  } else if (msg.type === 'mode') {
    wantPretty = msg.pretty;
    if (loaded) index(wantPretty);
  } else if (!lines) {
    return;
  } else if (msg.type === 'rows') {
    if (msg.version !== version) return;
    scope.postMessage({ type: 'rows', version, from: msg.from, rows: rowsOf(lines, visible, folded, msg.from, msg.to) });
  } else if (msg.type === 'toggle') {
    if (lines.close[msg.line] < 0) return;
    const next = folded.slice();
    next[msg.line] = next[msg.line] ? 0 : 1;
    refold(next);
  } else if (msg.type === 'fold') {
    refold(msg.how === 'all' ? foldedFrom(lines, 1) : new Uint8Array(lines.count));
  }
};
