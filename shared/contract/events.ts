/** Every event of the contract: name -> payload. Events flow engine -> renderer only. */
import type { ContractError } from './errors';
import type { ExportProgress, ExportResult } from '../export/types';

export type ExportFinished =
  | { jobId: string; ok: true; result: ExportResult }
  | { jobId: string; ok: false; error: ContractError };

export interface Events {
  exportProgress: ExportProgress;
  exportFinished: ExportFinished;
}

export type EventName = keyof Events;

export const EVENT_NAMES = ['exportProgress', 'exportFinished'] as const satisfies readonly EventName[];

/** Prefix of every IPC channel, so main can refuse anything else. */
export const CHANNEL_PREFIX = 'cachescope:';

export function requestChannel(name: string): string {
  return `${CHANNEL_PREFIX}request:${name}`;
}

export const EVENT_CHANNEL = `${CHANNEL_PREFIX}event`;
