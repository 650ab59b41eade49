/** Messages between the Raw JSON view and its worker (renderer/src/json-worker.ts). */
import type { JsonRow } from '../../shared/json/json-lines';

/** Where the document comes from: its text (fetched by the page, e.g. over IPC), or a request the worker makes itself. */
export type DocSource = { text: string } | { request: { url: string; headers: Record<string, string>; body: string } };

export type ToWorker =
  | { type: 'load'; source: DocSource; pretty: boolean }
  | { type: 'mode'; pretty: boolean }
  | { type: 'rows'; version: number; from: number; to: number }
  | { type: 'toggle'; line: number }
  | { type: 'fold'; how: 'all' | 'none' };

export type FromWorker =
  /** The worker's own request failed: the contract's error, or why it got none. */
  | { type: 'failed'; code: string; message: string }
  | { type: 'progress'; done: number }
  /** A (re)indexed document: `pretty` is false when it asked for pretty lines of text that is not JSON. */
  | { type: 'ready'; version: number; pretty: boolean; lines: number; visible: number; bytes: number; raw: Blob }
  | { type: 'view'; version: number; visible: number }
  | { type: 'rows'; version: number; from: number; rows: JsonRow[] };
