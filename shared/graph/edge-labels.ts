/**
 * Where each edge's label (its selector, or "content checksum") goes: on the edge's curve, centred in
 * the gap just before the node it feeds, so it is never under a node; labels that would overlap in a
 * gap are moved down one line at a time. Pure geometry: no DOM.
 */
import type { GraphModel } from './graph-model';
import type { LayoutResult } from './layered-layout';

/** Height of one label line, in layout units (10px text plus room). */
export const LABEL_LINE = 12;

export interface EdgeGeometry {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** The horizontal pull of the curve's control points. */
  dx: number;
}

/** The y of an input port: slots spread evenly down the node's left side, in slot order. */
export function portY(height: number, ports: number, slot: number): number {
  return ports <= 0 ? height / 2 : (height * (slot + 1)) / (ports + 1);
}

/** An edge from the middle of its source's right side to its slot's port on the target's left side. */
export function edgeGeometry(model: GraphModel, layout: LayoutResult, edge: number): EdgeGeometry {
  const e = model.edges[edge];
  const o = layout.options;
  const x1 = layout.x[e.from] + o.nodeWidth;
  const y1 = layout.y[e.from] + o.nodeHeight / 2;
  const x2 = layout.x[e.to];
  const y2 = layout.y[e.to] + portY(o.nodeHeight, model.nodes[e.to].ports, e.slot);
  return { x1, y1, x2, y2, dx: Math.max(30, (x2 - x1) / 2) };
}

/** The curve's point at t (a cubic Bézier with control points level with each end). */
function at(g: EdgeGeometry, t: number): { x: number; y: number } {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return { x: a * g.x1 + b * (g.x1 + g.dx) + c * (g.x2 - g.dx) + d * g.x2, y: (a + b) * g.y1 + (c + d) * g.y2 };
}

/** The point of the curve at x (x grows along a forward edge), by bisection. */
function pointAtX(g: EdgeGeometry, x: number): { x: number; y: number } {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 24; i++) {
    const mid = (lo + hi) / 2;
    if (at(g, mid).x < x) lo = mid;
    else hi = mid;
  }
  return at(g, (lo + hi) / 2);
}

/** Label centres (text-anchor middle, vertical centre) for every edge. */
export function edgeLabelPositions(model: GraphModel, layout: LayoutResult): { x: Float64Array; y: Float64Array } {
  const m = model.edges.length;
  const x = new Float64Array(m);
  const y = new Float64Array(m);
  const gap = layout.options.layerGap;
  const columns = new Map<number, number[]>();
  for (let i = 0; i < m; i++) {
    const g = edgeGeometry(model, layout, i);
    // A forward edge: the middle of the gap before its target; a backward one (a loop): its middle.
    const p = g.x2 - g.x1 >= gap ? pointAtX(g, g.x2 - gap / 2) : at(g, 0.5);
    x[i] = p.x;
    y[i] = p.y;
    const key = Math.round(p.x);
    const col = columns.get(key);
    if (col) col.push(i);
    else columns.set(key, [i]);
  }
  // In each gap, top to bottom: a label too close to the one above moves down below it.
  for (const col of columns.values()) {
    col.sort((a, b) => y[a] - y[b] || a - b);
    for (let k = 1; k < col.length; k++) if (y[col[k]] < y[col[k - 1]] + LABEL_LINE) y[col[k]] = y[col[k - 1]] + LABEL_LINE;
  }
  return { x, y };
}
