/** What the GUI's Files and Waste panels get over the wire: the files of a layer chain, capped, and its waste. */

/** Which listing of a chain: the top layer's tar entries, the squashed tree of the whole chain, or the top layer's changes. */
export type LayerFilesView = 'entries' | 'squash' | 'changes';

/** At most this many rows cross the wire for one listing (a layer may hold 1,000,000 entries). */
export const MAX_WIRE_ROWS = 50_000;

export interface FileRow {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';
  size: number;
  mode: number;
  /** Symlink or hard link target. */
  link?: string;
  /** What the top layer did to this path: + added, ~ modified, − removed (squash and changes views; whiteouts in the entries view). */
  change?: 'added' | 'modified' | 'removed';
  /** Position in the chain (0 = base) of the layer the entry comes from (squash view). */
  layer?: number;
  /** Why the name is unusual (absolute, `..`, not UTF-8). */
  warning?: string;
}

export interface InefficientFile {
  path: string;
  /** Layers that hold the path. */
  count: number;
  bytes: number;
}

export interface WasteSummary {
  /** dive's efficiency score, 0–1. */
  efficiency: number;
  /** dive's potential wasted space. */
  wastedBytes: number;
  totalBytes: number;
  visibleBytes: number;
  hidden: { overwritten: number; removed: number; duplicates: number };
  /** The paths found in more than one layer, largest first (at most 100). */
  top: InefficientFile[];
  /** How many such paths there are in all. */
  inefficientCount: number;
}

export interface LayerFilesResult {
  view: LayerFilesView;
  /** The layer entries of the chain, base first (the top one is listed). */
  chain: number[];
  /** The top layer's blob digest. */
  digest: string;
  /** Sorted so a directory's children follow it; at most MAX_WIRE_ROWS. */
  rows: FileRow[];
  /** Rows before the wire cap (and, for a layer past the engine's cap, its entry count). */
  total: number;
  truncated: boolean;
  /** The reader's notes (cap reached, entries past the end marker, a diffID mismatch), per layer. */
  notes: string[];
  /** The chain's waste (squash view only; null otherwise). */
  waste: WasteSummary | null;
  /** How many layers came from the listing cache rather than their blob. */
  cachedLayers: number;
}

export interface DivergenceFilesResult {
  leaf: number;
  /** Every path that differs between A's and B's rebuilt layers, sorted. */
  paths: string[];
  /** Blobs that could not be compared, named. */
  missing: string[];
  /** One sentence: the files that differ, or why none can be named. */
  text: string;
  /** Layer pairs compared (chain positions). */
  pairs: { position: number; blobA: string; blobB: string; paths: string[]; missing: string[] }[];
}
