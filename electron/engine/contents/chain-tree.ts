/**
 * A chain's layers applied in order as the OCI layer spec says (whiteouts remove a path and what is
 * below it, an opaque directory hides everything below it from lower layers, a later entry replaces an
 * earlier one): the squashed tree, each layer's changes against the layers below, and the bytes a
 * chain carries that no one sees (overwritten, removed, duplicated), with dive's efficiency score.
 */
import { WHITEOUT_PREFIX, splitPath } from './layer-entry';
import type { LayerEntry } from './layer-entry';

export interface TreeNode {
  entry: LayerEntry;
  /** Index (in the chain, base 0) of the layer the entry comes from. */
  layer: number;
}

export type SquashedTree = Map<string, TreeNode>;

export interface FileChange {
  path: string;
  kind: 'added' | 'modified' | 'removed';
  /** The entry after the change (absent for removed). */
  entry?: LayerEntry;
  /** The entry the layers below had (absent for added). */
  before?: LayerEntry;
}

export interface HiddenBytes {
  /** Files a later layer replaced with another entry at the same path. */
  overwritten: number;
  /** Files a later layer's whiteout or opaque directory removed. */
  removed: number;
  /** Earlier copies of a path listed twice in the same layer. */
  duplicates: number;
}

function isAufsMeta(e: LayerEntry): boolean {
  return e.whiteout === undefined && splitPath(e.path).base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`);
}

/** Whether `path` (or an ancestor) is in `removed`, or one of its strict ancestors is in `opaque`. */
function hidden(path: string, removed: Set<string>, opaque: Set<string>): boolean {
  if (removed.has(path)) return true;
  if (opaque.has('')) return path !== '';
  for (let i = path.lastIndexOf('/'); i >= 0; i = path.lastIndexOf('/', i - 1)) {
    const up = path.slice(0, i);
    if (removed.has(up) || opaque.has(up)) return true;
    if (i === 0) break;
  }
  return false;
}

function removeSubtree(tree: SquashedTree, dir: string, onRemove: (path: string, node: TreeNode) => void): void {
  const prefix = `${dir}/`;
  for (const [p, node] of tree) {
    if (p.startsWith(prefix)) {
      tree.delete(p);
      onRemove(p, node);
    }
  }
}

/**
 * Applies one layer's entries to `tree` in place. Returns the layer's changes against the tree as it
 * was (a path removed and added again by the same layer is "modified") and adds to `bytes`.
 */
export function applyLayer(tree: SquashedTree, entries: readonly LayerEntry[], layer: number, bytes?: HiddenBytes): FileChange[] {
  const changes = new Map<string, FileChange>();
  const removed = new Set<string>();
  const opaque = new Set<string>();
  for (const e of entries) {
    if (e.whiteout === 'file') removed.add(e.path);
    else if (e.whiteout === 'opaque') opaque.add(e.path);
  }
  const drop = (p: string, node: TreeNode): void => {
    if (node.layer < layer) changes.set(p, { path: p, kind: 'removed', before: node.entry });
    if (bytes) bytes.removed += node.entry.size;
  };
  if (removed.size > 0 || opaque.size > 0) {
    for (const [p, node] of tree) {
      if (hidden(p, removed, opaque)) {
        tree.delete(p);
        drop(p, node);
      }
    }
  }
  for (const e of entries) {
    if (e.whiteout !== undefined || e.path === '' || isAufsMeta(e)) continue;
    const prev = tree.get(e.path);
    if (prev && prev.entry.type === 'dir' && e.type !== 'dir') removeSubtree(tree, e.path, drop);
    tree.set(e.path, { entry: e, layer });
    if (prev && bytes) {
      if (prev.layer === layer) bytes.duplicates += prev.entry.size;
      else bytes.overwritten += prev.entry.size;
    }
    const earlier = changes.get(e.path);
    if (earlier?.kind === 'removed') changes.set(e.path, { path: e.path, kind: 'modified', entry: e, before: earlier.before });
    else if (earlier) earlier.entry = e;
    else if (prev && prev.layer < layer) changes.set(e.path, { path: e.path, kind: 'modified', entry: e, before: prev.entry });
    else if (!prev) changes.set(e.path, { path: e.path, kind: 'added', entry: e });
  }
  return [...changes.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The chain's layers (base first) squashed into one tree. */
export function squash(layers: readonly (readonly LayerEntry[])[]): SquashedTree {
  const tree: SquashedTree = new Map();
  layers.forEach((entries, i) => applyLayer(tree, entries, i));
  return tree;
}

/** Layer `index`'s changes against the layers below it in the chain. */
export function layerChanges(layers: readonly (readonly LayerEntry[])[], index: number): FileChange[] {
  const tree = squash(layers.slice(0, index));
  return applyLayer(tree, layers[index], index);
}

export interface InefficientPath {
  path: string;
  /** Layers that hold the path (including whiteouts of it). */
  count: number;
  /** Bytes over all of them (dive's CumulativeSize). */
  bytes: number;
}

export interface WasteReport {
  /** dive's efficiency score: the sum of each path's smallest size over the sum of all its sizes (1 when there are no bytes). */
  efficiency: number;
  /** dive's "potential wasted space": the bytes of every path found in more than one layer. */
  wastedBytes: number;
  /** Those paths, largest first. */
  inefficient: InefficientPath[];
  /** File bytes across every layer, and what the squashed tree still shows. */
  totalBytes: number;
  visibleBytes: number;
  /** totalBytes - visibleBytes, by why the bytes are not seen. */
  hidden: HiddenBytes;
}

/**
 * Waste of a chain. The score and wasted bytes follow dive's definition (filetree.Efficiency): per
 * layer, every leaf path (an entry with no entries below it in that layer) counts its size; a
 * whiteout counts the size of the directory tree it removes (0 for a file); an opaque directory is
 * counted as a whiteout of that directory (dive has no notion of it).
 */
export function chainWaste(layers: readonly (readonly LayerEntry[])[]): WasteReport {
  const data = new Map<string, { count: number; bytes: number; min: number }>();
  const tree: SquashedTree = new Map();
  const hiddenBytes: HiddenBytes = { overwritten: 0, removed: 0, duplicates: 0 };
  let totalBytes = 0;
  layers.forEach((entries, i) => {
    const parents = new Set<string>();
    const last = new Map<string, LayerEntry>();
    for (const e of entries) {
      if (e.path === '' || isAufsMeta(e)) continue;
      last.set(e.path, e);
      for (let k = e.path.lastIndexOf('/'); k > 0; k = e.path.lastIndexOf('/', k - 1)) {
        const up = e.path.slice(0, k);
        if (parents.has(up)) break;
        parents.add(up);
      }
    }
    for (const [path, e] of last) {
      if (parents.has(path) && e.whiteout === undefined) continue;
      let size = e.size;
      if (e.whiteout !== undefined) {
        const before = tree.get(path);
        if (!before && e.whiteout === 'file') continue;
        size = 0;
        if (!before || before.entry.type === 'dir') {
          const prefix = path === '' ? '' : `${path}/`;
          for (const [p, node] of tree) if (p.startsWith(prefix)) size += node.entry.size;
        }
      }
      const d = data.get(path);
      if (d) {
        d.count++;
        d.bytes += size;
        d.min = Math.min(d.min, size);
      } else {
        data.set(path, { count: 1, bytes: size, min: size });
      }
    }
    for (const e of entries) if (e.whiteout === undefined) totalBytes += e.size;
    applyLayer(tree, entries, i, hiddenBytes);
  });
  let min = 0;
  let all = 0;
  const inefficient: InefficientPath[] = [];
  for (const [path, d] of data) {
    min += d.min;
    all += d.bytes;
    if (d.count >= 2) inefficient.push({ path, count: d.count, bytes: d.bytes });
  }
  inefficient.sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
  let visibleBytes = 0;
  for (const node of tree.values()) visibleBytes += node.entry.size;
  return {
    efficiency: all === 0 ? 1 : min / all,
    wastedBytes: inefficient.reduce((s, p) => s + p.bytes, 0),
    inefficient,
    totalBytes,
    visibleBytes,
    hidden: hiddenBytes,
  };
}
