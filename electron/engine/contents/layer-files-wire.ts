/**
 * The GUI's requests on layer contents (`openLayerFiles`, `resultWaste`, `divergenceFiles`): the same
 * engine calls as the `files` and `diff --files` commands, shaped for the wire (rows capped at
 * MAX_WIRE_ROWS, sorted so a directory's children follow it). Reading a chain reports its bytes as it
 * goes (`ChainProgress`), for the panel's progress bar.
 */
import { CacheError } from '../../../shared/contract/errors';
import { MAX_WIRE_ROWS } from '../../../shared/contract/layer-files';
import type { DivergenceFilesResult, FileRow, LayerFilesResult, LayerFilesView, WasteSummary } from '../../../shared/contract/layer-files';
import { diffCaches } from '../../../shared/diff/diff-caches';
import { chainProgress } from './chain-progress';
import type { ChainProgress } from './chain-progress';
import { chainWaste, layerChanges, squash } from './chain-tree';
import type { FileChange, WasteReport } from './chain-tree';
import { divergenceFiles } from './divergence-files';
import type { LayerEntry } from './layer-entry';
import { openLayer } from './open-layer';
import type { LayerSource, OpenedLayer } from './open-layer';

// Where the tests and the service have always found them.
export { chainProgress };
export type { ChainProgress };

const TOP_WASTE = 100;

/** The layer entries (base first) of a layer entry's chain or a record's result. */
export function chainFor(source: LayerSource, pick: { layer?: number; record?: number }): number[] {
  const m = source.model;
  if (pick.layer !== undefined) {
    if (pick.layer >= m.norm.layers.length) throw new CacheError('not-found', `layer entry ${pick.layer} does not exist: the cache has ${m.norm.layers.length}`);
    const stack = m.graph.layerStacks[pick.layer];
    if (!stack) throw new CacheError('invalid-config', `layer entry ${pick.layer}: ${m.graph.layerProblems[pick.layer] ?? 'its chain never reaches a base layer'}`);
    return stack;
  }
  const r = pick.record!;
  if (r >= m.norm.records.length) throw new CacheError('not-found', `record ${r} does not exist: the cache has ${m.norm.records.length}`);
  const stack = m.graph.resolutions[r].stack;
  if (stack.length === 0) throw new CacheError('not-found', `record ${r} has no result, so it has no files`);
  return stack;
}

/** Path order where a directory's children come right after it ("a/b" before "a-c"). */
function treeKey(path: string): string {
  return path.replaceAll('/', '\u0000');
}

function byTree(a: FileRow, b: FileRow): number {
  const ka = treeKey(a.path);
  const kb = treeKey(b.path);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function rowOf(e: LayerEntry, extra: Partial<FileRow> = {}): FileRow {
  const row: FileRow = { path: e.path, type: e.type, size: e.size, mode: e.mode, ...extra };
  if (e.link !== undefined) row.link = e.link;
  if (e.warning) row.warning = e.warning;
  return row;
}

export function wasteSummary(w: WasteReport): WasteSummary {
  return {
    efficiency: w.efficiency,
    wastedBytes: w.wastedBytes,
    totalBytes: w.totalBytes,
    visibleBytes: w.visibleBytes,
    hidden: { ...w.hidden },
    top: w.inefficient.slice(0, TOP_WASTE).map((p) => ({ path: p.path, count: p.count, bytes: p.bytes })),
    inefficientCount: w.inefficient.length,
  };
}

async function openChain(source: LayerSource, chain: number[], signal?: AbortSignal, onProgress?: (p: ChainProgress) => void): Promise<OpenedLayer[]> {
  const blobs = chain.map((e) => source.model.norm.layers[e].blob);
  const progress = onProgress ? chainProgress(blobs.map((b) => source.model.descriptors.get(b)?.size ?? 0), onProgress) : null;
  const out: OpenedLayer[] = [];
  for (const [k, blob] of blobs.entries()) out.push(await openLayer(source, blob, { signal, onProgress: progress?.layer(k) }));
  progress?.finish();
  return out;
}

function notesOf(layers: OpenedLayer[]): string[] {
  return layers.flatMap((l) => [...l.listing.notes.map((n) => `${l.digest.slice(0, 19)}…: ${n}`), ...(l.warning ? [l.warning] : [])]);
}

function changeRow(c: FileChange): FileRow {
  return rowOf(c.entry ?? c.before!, { change: c.kind });
}

export async function layerFiles(
  source: LayerSource,
  pick: { layer?: number; record?: number },
  view: LayerFilesView,
  signal?: AbortSignal,
  maxRows = MAX_WIRE_ROWS,
  onProgress?: (p: ChainProgress) => void,
): Promise<LayerFilesResult> {
  const chain = chainFor(source, pick);
  // The entries view needs only the top layer; squash and changes need every layer below it too.
  const layers = await openChain(source, view === 'entries' ? chain.slice(-1) : chain, signal, onProgress);
  const listings = layers.map((l) => l.listing.entries);
  const top = layers[layers.length - 1];
  let rows: FileRow[];
  let waste: WasteSummary | null = null;
  let total: number;
  if (view === 'entries') {
    rows = top.listing.entries.map((e) => rowOf(e, e.whiteout ? { change: 'removed' } : {}));
    total = Math.max(top.listing.entryCount, rows.length);
  } else {
    const changes = layerChanges(listings, listings.length - 1);
    if (view === 'changes') rows = changes.map(changeRow);
    else {
      const kinds = new Map(changes.map((c) => [c.path, c.kind]));
      rows = [...squash(listings).entries()].map(([path, n]) => rowOf(n.entry, { path, layer: n.layer, ...(kinds.has(path) ? { change: kinds.get(path)! } : {}) }));
      // What the top layer removed is no longer in the tree; it is still a change worth showing.
      for (const c of changes) if (c.kind === 'removed') rows.push(changeRow(c));
      waste = wasteSummary(chainWaste(listings));
    }
    total = rows.length;
  }
  rows.sort(byTree);
  const truncated = rows.length > maxRows || layers.some((l) => l.listing.truncated);
  if (rows.length > maxRows) rows = rows.slice(0, maxRows);
  return { view, chain, digest: top.digest, rows, total, truncated, notes: notesOf(layers), waste, cachedLayers: layers.filter((l) => l.outcome === 'cached').length };
}

export async function resultWaste(source: LayerSource, record: number, signal?: AbortSignal, onProgress?: (p: ChainProgress) => void): Promise<WasteSummary> {
  const layers = await openChain(source, chainFor(source, { record }), signal, onProgress);
  return wasteSummary(chainWaste(layers.map((l) => l.listing.entries)));
}

export async function divergenceFilesOf(a: LayerSource, b: LayerSource, leaf: number, signal?: AbortSignal, onProgress?: (p: ChainProgress) => void): Promise<DivergenceFilesResult> {
  const d = diffCaches(a.model, b.model).divergences.find((x) => x.leaf === leaf);
  if (!d) throw new CacheError('not-found', `no divergence ends at B's record #${leaf}`);
  const f = await divergenceFiles(a, b, d, { signal, onChainProgress: onProgress });
  return { leaf, paths: f.paths, missing: f.missing, text: f.text, pairs: f.pairs.map((p) => ({ position: p.position, blobA: p.blobA, blobB: p.blobB, paths: p.paths, missing: p.missing })) };
}
