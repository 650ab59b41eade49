/**
 * The one module that knows which bridge carries the contract: the preload's contextBridge API in
 * Electron, or HTTP + server-sent events in browser mode. Nothing else in the renderer can tell.
 */
import type { CachescopeApi, ContractError, EventName, Events, Outcome, Params, RequestName, Result } from '../../../shared/contract/index';

export class BridgeError extends Error {
  readonly code: string;
  constructor(error: ContractError) {
    super(error.message);
    this.name = 'BridgeError';
    this.code = error.code;
  }
}

declare global {
  interface Window {
    cachescope?: CachescopeApi;
  }
}

const TOKEN_KEY = 'cachescope.token';

function browserToken(): string {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    // Keep the token out of the address bar, history and screenshots.
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function browserApi(): CachescopeApi {
  const token = browserToken();
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  let source: EventSource | null = null;
  const ensureSource = () => {
    if (source) return;
    source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  };
  return {
    async request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>> {
      const res = await fetch(`/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cachescope-token': token },
        body: JSON.stringify(params),
      });
      const outcome = (await res.json()) as Outcome<Result<N>>;
      if (!outcome.ok) throw new BridgeError(outcome.error);
      return outcome.value;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void) {
      ensureSource();
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
        source!.addEventListener(event, (e) => {
          const payload = JSON.parse((e as MessageEvent<string>).data) as unknown;
          for (const l of listeners.get(event) ?? []) l(payload);
        });
      }
      const wrapped = listener as (payload: unknown) => void;
      set.add(wrapped);
      return () => set!.delete(wrapped);
    },
  };
}

function electronApi(api: CachescopeApi): CachescopeApi {
  return {
    async request(name, params) {
      try {
        return await api.request(name, params);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        throw new BridgeError({ code: (e.code as ContractError['code']) ?? 'internal', message: e.message ?? String(err) });
      }
    },
    on: (event, listener) => api.on(event, listener),
  };
}

export const api: CachescopeApi = window.cachescope ? electronApi(window.cachescope) : browserApi();

export function errorText(err: unknown): string {
  if (err instanceof BridgeError) return `${err.message} [${err.code}]`;
  return err instanceof Error ? err.message : String(err);
}
