export type { ContractError, ErrorCode, Outcome } from './errors';
export { CacheError, toContractError } from './errors';
export type { Requests, RequestName, Params, Result, StartupInfo, OpenedCache, Generation, VerifyReport, VerifyProblem, GcReport, GcOutcome, RegistryTagRow, RegistryTagForm, RegistryTagKind, RegistryTagsResult, RegistryDeleteResult } from './requests';
export { REQUEST_NAMES } from './requests';
export type { DivergenceFilesResult, FileRow, InefficientFile, LayerFilesResult, LayerFilesView, WasteSummary } from './layer-files';
export { MAX_WIRE_ROWS } from './layer-files';
export type { Events, EventName, ExportFinished, LayoutChanged } from './events';
export { EVENT_NAMES, CHANNEL_PREFIX, EVENT_CHANNEL, requestChannel } from './events';
export { validateParams, validateExportOptions, isRequestName } from './validate';

import type { Params, RequestName, Result } from './requests';
import type { EventName, Events } from './events';

/** What the renderer sees, whichever bridge carries it (preload or browser mode). */
export interface CachescopeApi {
  request<N extends RequestName>(name: N, params: Params<N>): Promise<Result<N>>;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
}

/** The engine side of the contract: one async function per request. Main and server validate, then dispatch here. */
export type Handlers = { [N in RequestName]: (params: Params<N>) => Promise<Result<N>> };

/** Where the engine sends events; main forwards them to the window, the server to its SSE clients. */
export type EventSink = <E extends EventName>(event: E, payload: Events[E]) => void;
