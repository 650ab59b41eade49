/** Every event of the contract: name -> payload. Events flow engine -> renderer only. */
import type { ContractError } from './errors';
import type { ExportProgress, ExportResult } from '../export/types';
import type { ImageExportFinished, ImageExportProgress } from '../image/image-export-wire';

export type ExportFinished =
  | { jobId: string; ok: true; result: ExportResult }
  | { jobId: string; ok: false; error: ContractError };

/**
 * A layout folder's contents changed under every view of it (today: a gc deleted blobs). Open views of
 * `dir` are snapshots, so the renderer reads them again and says which generations are gone.
 */
export interface LayoutChanged {
  /** The folder as the request named it (the renderer compares it with `view.layout.dir`). */
  dir: string;
  /** One id per change, also in the answer to the request that made it, so a window handles it once. */
  changeId: string;
  why: 'gc';
  /** Digests of cache manifests (generations) that no longer exist in the folder. */
  removedGenerations: string[];
  /** How many blobs were deleted. */
  deletedBlobs: number;
}

/**
 * Bytes of layer blobs read (or downloaded) so far by an `openLayerFiles`, `resultWaste` or
 * `divergenceFiles` request (both sides' rebuilt layers), named by the request's own `requestId`. A blob fetched from a registry counts twice (download, then
 * read), so `bytesTotal` grows when a download starts; `bytesDone` only grows and ends equal to it.
 */
export interface LayerFilesProgress {
  requestId: string;
  bytesDone: number;
  bytesTotal: number;
  phase: 'fetching' | 'reading' | 'done';
  /** The layer being opened (1-based) of how many. */
  layer: number;
  layers: number;
}

export interface Events {
  exportProgress: ExportProgress;
  exportFinished: ExportFinished;
  layoutChanged: LayoutChanged;
  imageExportProgress: ImageExportProgress;
  imageExportFinished: ImageExportFinished;
  layerFilesProgress: LayerFilesProgress;
}

export type EventName = keyof Events;

export const EVENT_NAMES = ['exportProgress', 'exportFinished', 'layoutChanged', 'imageExportProgress', 'imageExportFinished', 'layerFilesProgress'] as const satisfies readonly EventName[];

/** Prefix of every IPC channel, so main can refuse anything else. */
export const CHANNEL_PREFIX = 'cachescope:';

export function requestChannel(name: string): string {
  return `${CHANNEL_PREFIX}request:${name}`;
}

export const EVENT_CHANNEL = `${CHANNEL_PREFIX}event`;
