/**
 * The API the preload exposes: the contract's requests and events, nothing else — no ipcRenderer,
 * no generic send or invoke, no channel names. Built from an injected ipcRenderer so it is tested
 * under plain Node; preload.ts only hands it to contextBridge.
 */
import type { IpcRendererEvent } from 'electron';
import { EVENT_CHANNEL, EVENT_NAMES, REQUEST_NAMES, requestChannel } from '../../shared/contract/index';
import type { CachescopeApi, ContractError, EventName, Events, Outcome, Params, RequestName, Result } from '../../shared/contract/index';

/** The part of ipcRenderer used here. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): unknown;
}

/**
 * What a failed request rejects with: a plain object, not an Error. contextBridge rebuilds an Error
 * in the page from its message alone, so an Error's `code` and `details` would be lost; a plain
 * object is copied with every field, and its `message` reads the same as an Error's would.
 */
export interface RequestFailure extends ContractError {
  name: 'CachescopeError';
}

function failure(error: ContractError): RequestFailure {
  const out: RequestFailure = { name: 'CachescopeError', code: error.code, message: error.message };
  if (error.details) out.details = error.details;
  return out;
}

function isOutcome(value: unknown): value is Outcome<unknown> {
  if (!value || typeof value !== 'object') return false;
  const v = value as { ok?: unknown; error?: { code?: unknown; message?: unknown } };
  if (v.ok === true) return 'value' in v;
  return v.ok === false && typeof v.error?.code === 'string' && typeof v.error.message === 'string';
}

const REQUESTS: ReadonlySet<string> = new Set(REQUEST_NAMES);
const EVENTS: ReadonlySet<string> = new Set(EVENT_NAMES);

export function createPreloadApi(ipc: IpcRendererLike): CachescopeApi {
  return {
    async request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>> {
      // The page is untrusted: a name outside the contract never reaches ipcRenderer.
      if (typeof name !== 'string' || !REQUESTS.has(name)) throw failure({ code: 'bad-request', message: `unknown request "${String(name)}"` });
      let outcome: unknown;
      try {
        outcome = await ipc.invoke(requestChannel(name), params);
      } catch (err) {
        // invoke itself rejects only when IPC failed (no handler bound, an uncloneable argument).
        throw failure({ code: 'internal', message: err instanceof Error ? err.message : String(err) });
      }
      if (!isOutcome(outcome)) throw failure({ code: 'internal', message: `malformed answer to ${name}` });
      if (!outcome.ok) throw failure(outcome.error);
      return outcome.value as Result<N>;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      if (typeof event !== 'string' || !EVENTS.has(event)) throw failure({ code: 'bad-request', message: `unknown event "${String(event)}"` });
      if (typeof listener !== 'function') throw failure({ code: 'bad-request', message: 'listener must be a function' });
      const wrapped = (_e: IpcRendererEvent, ...args: unknown[]) => {
        const message = args[0] as { event?: unknown; payload?: unknown } | undefined;
        if (message && message.event === event) listener(message.payload as Events[E]);
      };
      ipc.on(EVENT_CHANNEL, wrapped);
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        ipc.removeListener(EVENT_CHANNEL, wrapped);
      };
    },
  };
}
