/**
 * A small layered (Sugiyama-style) layout, fast enough for 10k nodes: longest-path layering from the
 * sources, barycenter sweeps against crossings, then y positions pulled toward neighbours while the
 * order and spacing hold. Direction: sources on the left, final results on the right. No dummy nodes
 * (long edges are drawn as curves), which keeps it linear in nodes plus edges per sweep.
 */
import type { GraphModel } from './graph-model';

export interface LayoutInput {
  count: number;
  from: Int32Array;
  to: Int32Array;
  /** The input slot each edge fills (keeps a node's inputs in slot order from top to bottom). */
  slot: Int32Array;
}

export interface LayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  layerGap: number;
  nodeGap: number;
  /** Barycenter sweeps (each is one pass down and one up). */
  sweeps: number;
}

// Nodes are wide enough for "stage result", its time and the layer-stack glyph side by side; the layer gap holds an edge label ("content checksum": 16 characters of 10px monospace) clear of both columns.
export const DEFAULT_LAYOUT: LayoutOptions = { nodeWidth: 230, nodeHeight: 46, layerGap: 120, nodeGap: 16, sweeps: 4 };

export interface LayoutResult {
  /** Top-left corner of each node. */
  x: Float64Array;
  y: Float64Array;
  layer: Int32Array;
  layers: number;
  width: number;
  height: number;
  options: LayoutOptions;
}

export function layoutInput(model: GraphModel): LayoutInput {
  const m = model.edges.length;
  const from = new Int32Array(m);
  const to = new Int32Array(m);
  const slot = new Int32Array(m);
  model.edges.forEach((e, i) => {
    from[i] = e.from;
    to[i] = e.to;
    slot[i] = e.slot;
  });
  return { count: model.nodes.length, from, to, slot };
}

/** FNV-1a over the graph's shape: equal graphs share a cached layout. */
export function graphHash(input: LayoutInput): string {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h ^= v & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= v >>> 16;
    h = Math.imul(h, 0x01000193);
  };
  mix(input.count);
  for (let i = 0; i < input.from.length; i++) {
    mix(input.from[i]);
    mix(input.to[i]);
    mix(input.slot[i]);
  }
  return `${input.count}:${input.from.length}:${(h >>> 0).toString(16)}`;
}

/** Compressed adjacency: for node v, its neighbours are list[start[v] .. start[v+1]). */
function csr(count: number, key: Int32Array, val: Int32Array): { start: Int32Array; list: Int32Array } {
  const start = new Int32Array(count + 1);
  for (let i = 0; i < key.length; i++) if (key[i] >= 0 && key[i] < count && val[i] >= 0 && val[i] < count) start[key[i] + 1]++;
  for (let v = 0; v < count; v++) start[v + 1] += start[v];
  const fill = start.slice(0, count);
  const list = new Int32Array(start[count]);
  for (let i = 0; i < key.length; i++) if (key[i] >= 0 && key[i] < count && val[i] >= 0 && val[i] < count) list[fill[key[i]]++] = val[i];
  return { start, list };
}

/** Longest path from the sources (Kahn order); nodes on a loop are placed after what precedes them. */
function assignLayers(count: number, preds: { start: Int32Array; list: Int32Array }, succs: { start: Int32Array; list: Int32Array }): Int32Array {
  const layer = new Int32Array(count);
  const indeg = new Int32Array(count);
  for (let v = 0; v < count; v++) indeg[v] = preds.start[v + 1] - preds.start[v];
  const queue = new Int32Array(count);
  let head = 0;
  let tail = 0;
  for (let v = 0; v < count; v++) if (indeg[v] === 0) queue[tail++] = v;
  const done = new Uint8Array(count);
  const drain = () => {
    while (head < tail) {
      const u = queue[head++];
      done[u] = 1;
      for (let k = succs.start[u]; k < succs.start[u + 1]; k++) {
        const w = succs.list[k];
        if (done[w]) continue;
        if (layer[u] + 1 > layer[w]) layer[w] = layer[u] + 1;
        if (--indeg[w] === 0) queue[tail++] = w;
      }
    }
  };
  drain();
  // A loop (never in a valid cache, but configs can be hand-made): break it at its lowest index.
  for (let v = 0; v < count; v++) {
    if (done[v] || indeg[v] === 0) continue;
    indeg[v] = 0;
    queue[tail++] = v;
    drain();
  }
  // Sources sit just before their first consumer, not all in column 0: shorter edges, a narrower picture.
  for (let v = 0; v < count; v++) {
    if (preds.start[v + 1] !== preds.start[v] || succs.start[v + 1] === succs.start[v]) continue;
    let min = Infinity;
    for (let k = succs.start[v]; k < succs.start[v + 1]; k++) min = Math.min(min, layer[succs.list[k]]);
    if (min - 1 > layer[v]) layer[v] = min - 1;
  }
  return layer;
}

export function layeredLayout(input: LayoutInput, options: Partial<LayoutOptions> = {}): LayoutResult {
  const o = { ...DEFAULT_LAYOUT, ...options };
  const n = input.count;
  const preds = csr(n, input.to, input.from);
  const succs = csr(n, input.from, input.to);
  const layer = assignLayers(n, preds, succs);
  let layers = 0;
  for (let v = 0; v < n; v++) if (layer[v] + 1 > layers) layers = layer[v] + 1;
  const rows: number[][] = Array.from({ length: layers }, () => []);
  for (let v = 0; v < n; v++) rows[layer[v]].push(v);
  // The slot each outgoing edge fills, so a node's inputs keep their slot order top to bottom.
  const succSlot = new Float64Array(succs.list.length);
  {
    const fill = succs.start.slice(0, n);
    for (let i = 0; i < input.from.length; i++) {
      const f = input.from[i];
      if (f >= 0 && f < n && input.to[i] >= 0 && input.to[i] < n) succSlot[fill[f]++] = input.slot[i];
    }
  }
  // pos[v]: centred rank within its layer, comparable across layers of different sizes.
  const pos = new Float64Array(n);
  const setPos = (row: number[]) => row.forEach((v, i) => (pos[v] = i - (row.length - 1) / 2));
  rows.forEach(setPos);
  const bary = new Float64Array(n);
  const sweep = (row: number[], adj: { start: Int32Array; list: Int32Array }, slotBias: Float64Array | null) => {
    for (const v of row) {
      const a = adj.start[v];
      const b = adj.start[v + 1];
      if (a === b) {
        bary[v] = pos[v];
        continue;
      }
      let s = 0;
      for (let k = a; k < b; k++) s += pos[adj.list[k]] + (slotBias ? slotBias[k] * 0.01 : 0);
      bary[v] = s / (b - a);
    }
    row.sort((p, q) => bary[p] - bary[q] || pos[p] - pos[q]);
    setPos(row);
  };
  for (let it = 0; it < o.sweeps; it++) {
    for (let l = 1; l < layers; l++) sweep(rows[l], preds, null);
    for (let l = layers - 2; l >= 0; l--) sweep(rows[l], succs, succSlot);
  }
  const step = o.nodeHeight + o.nodeGap;
  const y = new Float64Array(n);
  for (const row of rows) row.forEach((v, i) => (y[v] = i * step));
  // Pull each node toward its neighbours' mean y, then restore order and spacing (forward and backward).
  const desired = new Float64Array(n);
  for (let it = 0; it < 4; it++) {
    for (let l = 0; l < layers; l++) {
      const row = rows[l];
      if (row.length === 0) continue;
      for (const v of row) {
        let s = 0;
        let c = 0;
        for (let k = preds.start[v]; k < preds.start[v + 1]; k++, c++) s += y[preds.list[k]];
        for (let k = succs.start[v]; k < succs.start[v + 1]; k++, c++) s += y[succs.list[k]];
        desired[v] = c > 0 ? s / c : y[v];
      }
      const fwd = new Float64Array(row.length);
      const bwd = new Float64Array(row.length);
      for (let i = 0; i < row.length; i++) fwd[i] = i === 0 ? desired[row[i]] : Math.max(desired[row[i]], fwd[i - 1] + step);
      for (let i = row.length - 1; i >= 0; i--) bwd[i] = i === row.length - 1 ? desired[row[i]] : Math.min(desired[row[i]], bwd[i + 1] - step);
      let prev = -Infinity;
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        y[v] = Math.max((fwd[i] + bwd[i]) / 2, prev + step);
        prev = y[v];
      }
    }
  }
  let minY = Infinity;
  let maxY = -Infinity;
  for (let v = 0; v < n; v++) {
    if (y[v] < minY) minY = y[v];
    if (y[v] > maxY) maxY = y[v];
  }
  const x = new Float64Array(n);
  for (let v = 0; v < n; v++) {
    x[v] = layer[v] * (o.nodeWidth + o.layerGap);
    y[v] -= n > 0 ? minY : 0;
  }
  return {
    x,
    y,
    layer,
    layers,
    width: layers > 0 ? layers * (o.nodeWidth + o.layerGap) - o.layerGap : 0,
    height: n > 0 ? maxY - minY + o.nodeHeight : 0,
    options: o,
  };
}
