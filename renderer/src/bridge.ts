/**
 * The one module that knows which bridge carries the contract: the preload's contextBridge API in
 * Electron (`window.cachescope`), or HTTP + server-sent events in browser mode. Every other renderer
 * file uses `api` and cannot tell which one it got.
 */
import type { CachescopeApi, ContractError, EventName, Events, Outcome, Params, RequestName, Result } from '../../shared/contract/index';

/** A failed request: the contract's `{ code, message, details? }`, thrown the same way by both bridges. */
export class BridgeError extends Error {
  readonly code: ContractError['code'];
  readonly details?: Record<string, unknown>;
  constructor(error: ContractError) {
    super(error.message);
    this.name = 'BridgeError';
    this.code = error.code;
    if (error.details) this.details = error.details;
  }
}

declare global {
  interface Window {
    cachescope?: CachescopeApi;
  }
}

/** Whatever crossed the bridge (an Error, a plain `{code, message}` object, a string) as a contract error. */
function asContractError(err: unknown): ContractError {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    const message = typeof e.message === 'string' && e.message ? e.message : String(err);
    const code = typeof e.code === 'string' && e.code ? (e.code as ContractError['code']) : 'internal';
    const details = e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined;
    return details ? { code, message, details } : { code, message };
  }
  return { code: 'internal', message: String(err) };
}

function electronApi(preload: CachescopeApi): CachescopeApi {
  return {
    async request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>> {
      try {
        return await preload.request(name, params);
      } catch (err) {
        throw new BridgeError(asContractError(err));
      }
    },
    on: (event, listener) => preload.on(event, listener),
  };
}

const TOKEN_KEY = 'cachescope.token';

/** The token arrives once in `?token=`; it is kept for this tab only and taken out of the address bar and history. */
function browserToken(): string {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // Storage can be disabled; the token then lives only in memory for this page.
    }
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function isOutcome(value: unknown): value is Outcome<unknown> {
  return Boolean(value && typeof value === 'object' && typeof (value as { ok?: unknown }).ok === 'boolean');
}

/** Browser mode's token once the API is made; null under Electron. */
let httpToken: string | null = null;

/**
 * Browser mode only: one request as a worker can make it itself (same-origin URL, headers with the
 * token, JSON body), so a large result is read and parsed off the page's main thread. The answer is
 * the usual outcome `{ok, value | error}`. Null under Electron, where requests go over IPC.
 */
export function requestForWorker<N extends RequestName>(name: N, params: Params<N>): { url: string; headers: Record<string, string>; body: string } | null {
  if (httpToken === null) return null;
  return { url: new URL(`/api/${encodeURIComponent(name)}`, window.location.href).href, headers: { 'content-type': 'application/json', 'x-cachescope-token': httpToken }, body: JSON.stringify(params) };
}

function browserApi(): CachescopeApi {
  const token = browserToken();
  httpToken = token;
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  let source: EventSource | null = null;

  const subscribe = (event: EventName) => {
    if (!source) source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
    source.addEventListener(event, (e) => {
      let payload: unknown;
      try {
        payload = JSON.parse((e as MessageEvent<string>).data);
      } catch {
        return;
      }
      for (const listener of [...(listeners.get(event) ?? [])]) listener(payload);
    });
  };

  return {
    async request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>> {
      let res: Response;
      try {
        res = await fetch(`/api/${encodeURIComponent(name)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-cachescope-token': token },
          body: JSON.stringify(params),
        });
      } catch (err) {
        throw new BridgeError({ code: 'io', message: `cannot reach the Cachescope server: ${err instanceof Error ? err.message : String(err)}` });
      }
      const text = await res.text();
      let outcome: unknown;
      try {
        outcome = JSON.parse(text);
      } catch {
        const code = res.status === 401 || res.status === 403 ? 'forbidden' : 'internal';
        throw new BridgeError({ code, message: `the server answered HTTP ${res.status}: ${text.slice(0, 200) || res.statusText}` });
      }
      if (!isOutcome(outcome)) throw new BridgeError({ code: 'internal', message: `the server answered HTTP ${res.status} without an outcome` });
      if (!outcome.ok) throw new BridgeError(asContractError(outcome.error));
      return outcome.value as Result<N>;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
        subscribe(event);
      }
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => {
        set.delete(wrapped);
      };
    },
  };
}

export const api: CachescopeApi = window.cachescope ? electronApi(window.cachescope) : browserApi();
