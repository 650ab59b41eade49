/**
 * Binds every contract request to its IPC channel. Each call is checked in a fixed order — sender,
 * then payload, then the engine — and always answers with an Outcome value: Electron would turn a
 * thrown error into an opaque "Error invoking remote method" string and could leak its stack.
 */
import type { IpcMainInvokeEvent } from 'electron';
import { toContractError } from '../../shared/contract/errors';
import type { ContractError, Outcome } from '../../shared/contract/errors';
import { EVENT_CHANNEL, REQUEST_NAMES, requestChannel, validateParams } from '../../shared/contract/index';
import type { EventSink, Handlers } from '../../shared/contract/index';

/** The part of ipcMain used here (the real one satisfies it; tests pass a fake). */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface IpcBinding {
  /** Every channel bound, one per name in REQUEST_NAMES. */
  channels: string[];
  unbind(): void;
}

/**
 * Error values cross as plain JSON: `details` is round-tripped so that nothing structured-clone
 * would carry (an Error with its stack, a Buffer, a class instance) reaches the renderer.
 */
function plainError(err: unknown): ContractError {
  const error = toContractError(err);
  if (error.details === undefined) return error;
  try {
    const details = JSON.parse(JSON.stringify(error.details)) as unknown;
    if (details && typeof details === 'object' && !Array.isArray(details)) return { ...error, details: details as Record<string, unknown> };
  } catch {
    // Unserialisable details (a cycle, a BigInt) are dropped rather than failing the whole answer.
  }
  return { code: error.code, message: error.message };
}

export function bindIpc(ipcMain: IpcMainLike, handlers: Handlers, isTrusted: (event: IpcMainInvokeEvent) => boolean): IpcBinding {
  const channels: string[] = [];
  for (const name of REQUEST_NAMES) {
    const channel = requestChannel(name);
    ipcMain.handle(channel, async (event, raw): Promise<Outcome<unknown>> => {
      if (!isTrusted(event)) {
        return { ok: false, error: { code: 'forbidden', message: `refused ${name}: the sender is not the app's main frame` } };
      }
      try {
        const params = validateParams(name, raw);
        // The mapped Handlers type cannot be indexed by a union name without widening the call.
        const handler = handlers[name] as (params: unknown) => Promise<unknown>;
        return { ok: true, value: await handler(params) };
      } catch (err) {
        return { ok: false, error: plainError(err) };
      }
    });
    channels.push(channel);
  }
  return {
    channels,
    unbind() {
      for (const channel of channels) ipcMain.removeHandler(channel);
    },
  };
}

/**
 * The handlers to bind: every request answered by `service` (methods bound to it, so a class
 * instance works as well as an object literal), except the ones `overrides` replaces.
 */
export function handlersWith(service: Handlers, overrides: Partial<Handlers>): Handlers {
  const out: Record<string, unknown> = {};
  for (const name of REQUEST_NAMES) {
    const own = overrides[name] ?? (service[name] as (...args: never[]) => unknown).bind(service);
    out[name] = own;
  }
  return out as Handlers;
}

/**
 * Sends engine events to the window while it lives. Export jobs can outlive the window (closed on
 * macOS, reloaded), and sending to a destroyed webContents throws inside the engine's emit call.
 */
export function forwardEvents(contents: { send(channel: string, message: unknown): void; isDestroyed(): boolean }): EventSink {
  return (event, payload) => {
    if (contents.isDestroyed()) return;
    contents.send(EVENT_CHANNEL, { event, payload });
  };
}
