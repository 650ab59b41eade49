/**
 * The layer chains as an icicle: base layers on the top row, each entry under its parent, as wide as
 * the bytes of everything stacked on it (its own blob included). Chains that share a prefix share its
 * blocks and split where they diverge. Pure geometry in a fixed-width space; no DOM.
 */
import type { CacheView, HistoryName } from '../cache/view-types';
import { displayName } from './history-names';

export const ICICLE_WIDTH = 1200;
/** Width of one character of a block's 11px monospace label, in picture units, and the padding around it. */
export const LABEL_CHAR = 6.7;
export const LABEL_PAD = 5;

export interface IcicleBlock {
  index: number;
  depth: number;
  x: number;
  w: number;
  /** The step that made this layer (an attached image's history, shortened for a label), or null. */
  name: string | null;
  /** That name's history entry and where it comes from (for the hover and the selection details). */
  nameFrom: HistoryName | null;
}

/** The label as it fits a block `w` units wide: cut with an ellipsis, or "" when not even 4 characters fit. */
export function fitLabel(text: string, w: number): string {
  const room = Math.floor((w - 2 * LABEL_PAD) / LABEL_CHAR);
  if (room < 4) return '';
  return text.length <= room ? text : `${text.slice(0, room - 1)}…`;
}

/** Subtree bytes (own blob plus everything under it), iteratively, then x/width per entry. */
export function icicle(view: Pick<CacheView, 'layers' | 'chain'> & Partial<Pick<CacheView, 'names'>>): { blocks: IcicleBlock[]; depth: number } {
  const n = view.layers.length;
  const order: number[] = [];
  const depthOf = new Int32Array(n);
  const seen = new Uint8Array(n);
  const stack = [...view.chain.roots];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (seen[i]) continue;
    seen[i] = 1;
    order.push(i);
    for (const c of view.chain.children[i] ?? []) {
      depthOf[c] = depthOf[i] + 1;
      stack.push(c);
    }
  }
  const total = new Float64Array(n);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k];
    // Every block gets at least one byte of weight, so an empty layer is still visible.
    total[i] += Math.max(1, view.layers[i].size);
    const p = view.layers[i].parent;
    if (p >= 0 && p < n && seen[p]) total[p] += total[i];
  }
  const rootsTotal = view.chain.roots.reduce((s, r) => s + total[r], 0) || 1;
  const blocks: IcicleBlock[] = [];
  const place = (i: number, x: number, w: number) => {
    const nameFrom = view.names?.layers[i] ?? null;
    blocks.push({ index: i, depth: depthOf[i], x, w, name: nameFrom ? displayName(nameFrom.text) : null, nameFrom });
    let cx = x;
    const kids = [...(view.chain.children[i] ?? [])].filter((c) => seen[c]).sort((a, b) => total[b] - total[a]);
    // The parent's own bytes stay as a gap at the right: the width under it is what is stacked on it.
    const scale = w / Math.max(1, total[i]);
    for (const c of kids) {
      const cw = total[c] * scale;
      work.push([c, cx, cw]);
      cx += cw;
    }
  };
  const work: [number, number, number][] = [];
  let x = 0;
  for (const r of [...view.chain.roots].sort((a, b) => total[b] - total[a])) {
    const w = (total[r] / rootsTotal) * ICICLE_WIDTH;
    work.push([r, x, w]);
    x += w;
  }
  // Breadth-first: a queue read by index (shift() would make 2k entries quadratic).
  for (let q = 0; q < work.length; q++) place(...work[q]);
  let depth = 0;
  for (const b of blocks) depth = Math.max(depth, b.depth + 1);
  return { blocks, depth };
}
