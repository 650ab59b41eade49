/** Binds every contract request to an IPC channel: sender checked, payload validated, errors returned as values. */
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import { toContractError } from '../../shared/contract/errors';
import type { Outcome } from '../../shared/contract/errors';
import { EVENT_CHANNEL, REQUEST_NAMES, requestChannel, validateParams } from '../../shared/contract/index';
import type { EventSink, Handlers } from '../../shared/contract/index';

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export function bindIpc(ipcMain: IpcMainLike, handlers: Handlers, isTrusted: (event: IpcMainInvokeEvent) => boolean): { channels: string[]; unbind(): void } {
  const channels: string[] = [];
  for (const name of REQUEST_NAMES) {
    const channel = requestChannel(name);
    ipcMain.handle(channel, async (event, raw): Promise<Outcome<unknown>> => {
      if (!isTrusted(event)) {
        return { ok: false, error: { code: 'forbidden', message: `refused ${name}: the sender is not the app's main frame` } };
      }
      try {
        const params = validateParams(name, raw);
        const handler = handlers[name] as (p: unknown) => Promise<unknown>;
        return { ok: true, value: await handler(params) };
      } catch (err) {
        return { ok: false, error: toContractError(err) };
      }
    });
    channels.push(channel);
  }
  return {
    channels,
    unbind() {
      for (const c of channels) ipcMain.removeHandler(c);
    },
  };
}

/** Sends engine events to the window while it lives; a closed window simply stops receiving them. */
export function forwardEvents(contents: Pick<WebContents, 'send' | 'isDestroyed'>): EventSink {
  return (event, payload) => {
    if (!contents.isDestroyed()) contents.send(EVENT_CHANNEL, { event, payload });
  };
}
