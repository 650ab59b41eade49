/** The API the preload exposes: the contract's requests and events, nothing else (no raw ipcRenderer). */
import type { IpcRenderer, IpcRendererEvent } from 'electron';
import { EVENT_CHANNEL, EVENT_NAMES, REQUEST_NAMES, requestChannel } from '../../shared/contract/index';
import type { CachescopeApi, ContractError, EventName, Events, Outcome, Params, RequestName, Result } from '../../shared/contract/index';

type IpcLike = Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>;

const REQUESTS = new Set<string>(REQUEST_NAMES);
const EVENTS = new Set<string>(EVENT_NAMES);

/** contextBridge clones plain data only: errors cross as Errors whose message and code are readable. */
function contractFailure(error: ContractError): Error {
  const err = new Error(error.message) as Error & { code: string };
  err.code = error.code;
  return err;
}

export function createPreloadApi(ipc: IpcLike): CachescopeApi {
  return {
    async request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>> {
      if (!REQUESTS.has(name)) throw contractFailure({ code: 'bad-request', message: `unknown request "${String(name)}"` });
      const outcome = (await ipc.invoke(requestChannel(name), params)) as Outcome<Result<N>>;
      if (!outcome || typeof outcome !== 'object') throw contractFailure({ code: 'internal', message: 'no answer from the engine' });
      if (!outcome.ok) throw contractFailure(outcome.error);
      return outcome.value;
    },
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      if (!EVENTS.has(event)) throw contractFailure({ code: 'bad-request', message: `unknown event "${String(event)}"` });
      const wrapped = (_e: IpcRendererEvent, message: { event: string; payload: unknown }) => {
        if (message && message.event === event) listener(message.payload as Events[E]);
      };
      ipc.on(EVENT_CHANNEL, wrapped);
      return () => {
        ipc.removeListener(EVENT_CHANNEL, wrapped);
      };
    },
  };
}
