/**
 * Which layers a record's build added: its result's stack above what it was built on. A rebuilt
 * record costs its own layers, not its whole stack, so "rebuilt above" a change never counts the base
 * layers below it (issue 8: "5 layers above" a leaf with one layer of its own).
 */
import type { CacheModel } from '../cache/model';

export class OwnLayers {
  /** Per record: the stack (layer entries, base first) of its result, else of the tallest result among its inputs. */
  private readonly under: (number[] | null)[];

  constructor(private readonly m: CacheModel) {
    const { records } = m.norm;
    const { resolutions, recordOrder } = m.graph;
    this.under = new Array<number[] | null>(records.length).fill(null);
    // Dependencies first, so every input's value is known when a record is reached.
    for (const r of recordOrder) {
      const res = resolutions[r];
      if (!res.dropped && res.stack.length > 0) {
        this.under[r] = res.stack;
        continue;
      }
      this.under[r] = this.tallestInput(r);
    }
  }

  private tallestInput(r: number): number[] | null {
    let best: number[] | null = null;
    for (const slot of this.m.norm.records[r].inputs) {
      for (const { link } of slot) {
        const s = this.under[link];
        if (s && (best === null || s.length > best.length)) best = s;
      }
    }
    return best;
  }

  /** Blob digests of the layers `record`'s result adds on top of the longest input result it extends (all of them for a root). */
  blobs(record: number): string[] {
    const res = this.m.graph.resolutions[record];
    if (res.dropped || res.stack.length === 0) return [];
    const { layers, records } = this.m.norm;
    const blob = (entry: number) => layers[entry].blob;
    let base = 0;
    for (const slot of records[record].inputs) {
      for (const { link } of slot) {
        const s = this.under[link];
        if (!s) continue;
        let k = 0;
        while (k < s.length && k < res.stack.length && blob(s[k]) === blob(res.stack[k])) k++;
        // Only an input whose whole stack is a prefix is what this result was built on.
        if (k === s.length && k > base) base = k;
      }
    }
    return res.stack.slice(base).map(blob);
  }
}
