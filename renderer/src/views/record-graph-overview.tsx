/**
 * The overview of a big record graph, drawn on canvas: every node a small box coloured by role (or
 * by diff mark), every edge a faint line. A click picks the node under the pointer.
 */
import { useEffect, useRef } from 'react';
import type { DiffMark } from '../../../shared/graph/diff-colours';
import type { Laid } from './record-graph';
import type { Transform } from './record-graph-viewport';

const ROLE_FILL: Record<string, string> = { source: '#0b6574', step: '#5f6b7e', 'stage result': '#1f56d6' };
const MARK_FILL: Record<DiffMark, string> = { matched: '#c3c9d4', changed: '#d98a00', new: '#b42318' };

interface Props {
  laid: Laid;
  marks: DiffMark[] | null;
  /** The diff's first divergences, outlined in black as in the SVG picture. */
  outlined: boolean[] | null;
  register(draw: ((t: Transform) => void) | null): void;
  getTransform(): Transform;
  dragged(): boolean;
  onPick(node: number): void;
}

export function GraphOverview({ laid, marks, outlined, register, getTransform, dragged, onPick }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const { model, layout } = laid;
    const o = layout.options;
    let frame = 0;
    let pending: Transform | null = null;
    const paint = () => {
      frame = 0;
      const t = pending ?? getTransform();
      pending = null;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth;
      const h = c.clientHeight;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.setTransform(dpr * t.k, 0, 0, dpr * t.k, dpr * t.x, dpr * t.y);
      // Only what is on screen: the visible rectangle in graph coordinates.
      const x0 = -t.x / t.k - o.nodeWidth;
      const y0 = -t.y / t.k - o.nodeHeight;
      const x1 = (w - t.x) / t.k;
      const y1 = (h - t.y) / t.k;
      ctx.lineWidth = 1 / t.k;
      // Thousands of edges would hide the nodes: the more edges, the fainter each one.
      ctx.strokeStyle = `rgba(80, 90, 110, ${Math.min(0.3, Math.max(0.03, 300 / Math.max(1, model.edges.length)))})`;
      ctx.beginPath();
      for (const e of model.edges) {
        const ax = layout.x[e.from] + o.nodeWidth;
        const ay = layout.y[e.from] + o.nodeHeight / 2;
        const bx = layout.x[e.to];
        const by = layout.y[e.to] + o.nodeHeight / 2;
        if ((ax < x0 && bx < x0) || (ax > x1 && bx > x1) || (ay < y0 && by < y0) || (ay > y1 && by > y1)) continue;
        ctx.moveTo(ax, ay);
        ctx.lineTo(bx, by);
      }
      ctx.stroke();
      const detailed = t.k > 0.45;
      for (const n of model.nodes) {
        const x = layout.x[n.id];
        const y = layout.y[n.id];
        if (x < x0 || x > x1 || y < y0 || y > y1) continue;
        ctx.fillStyle = marks ? MARK_FILL[marks[n.id]] : ROLE_FILL[n.role];
        // At least 3 screen pixels each way, so far-out nodes stay visible.
        ctx.fillRect(x, y, Math.max(o.nodeWidth, 3 / t.k), Math.max(o.nodeHeight, 3 / t.k));
        if (outlined?.[n.id]) {
          ctx.strokeStyle = '#000';
          ctx.lineWidth = 3 / t.k;
          ctx.strokeRect(x, y, Math.max(o.nodeWidth, 3 / t.k), Math.max(o.nodeHeight, 3 / t.k));
        }
        if (detailed) {
          ctx.fillStyle = '#fff';
          ctx.font = '12px sans-serif';
          // A name from an image's history can be long: squeezed into the box rather than spilling out.
          ctx.fillText(`${n.label}`, x + 6, y + 17, o.nodeWidth - 12);
          ctx.fillText(`#${n.head} ${n.digest.slice(7, 15)}`, x + 6, y + 35);
        }
      }
    };
    const draw = (t: Transform) => {
      pending = t;
      if (!frame) frame = requestAnimationFrame(paint);
    };
    register(draw);
    draw(getTransform());
    const ro = new ResizeObserver(() => draw(getTransform()));
    ro.observe(c);
    return () => {
      register(null);
      ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [laid, marks, outlined]);

  const pick = (clientX: number, clientY: number) => {
    const c = canvas.current;
    if (!c || dragged()) return;
    const r = c.getBoundingClientRect();
    const t = getTransform();
    const gx = (clientX - r.left - t.x) / t.k;
    const gy = (clientY - r.top - t.y) / t.k;
    const { model, layout } = laid;
    const o = layout.options;
    // The nearest node within a few screen pixels, so tiny boxes far out are still clickable.
    const slack = 6 / t.k;
    let best = -1;
    let bestD = Infinity;
    for (const n of model.nodes) {
      const dx = Math.max(layout.x[n.id] - gx, 0, gx - layout.x[n.id] - o.nodeWidth);
      const dy = Math.max(layout.y[n.id] - gy, 0, gy - layout.y[n.id] - o.nodeHeight);
      const d = dx + dy;
      if (d <= slack && d < bestD) {
        best = n.id;
        bestD = d;
      }
    }
    if (best >= 0) onPick(best);
  };

  return (
    <canvas
      ref={canvas}
      className="graph-canvas"
      data-testid="graph-overview"
      role="img"
      aria-label={`Overview of ${laid.model.nodes.length} nodes: click one, or search, to lay out its ancestors and dependents`}
      onClick={(e) => pick(e.clientX, e.clientY)}
    />
  );
}
