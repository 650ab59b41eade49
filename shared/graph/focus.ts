/** A record's focus subgraph: its ancestors (through inputs) and dependents, nearest first, capped. */
import type { RecordRow } from '../cache/view-types';

export const FOCUS_CAP = 400;

export interface FocusSet {
  records: Set<number>;
  ancestors: Set<number>;
  dependents: Set<number>;
  /** True when the cap cut the walk short. */
  truncated: boolean;
}

/**
 * Breadth-first in both directions at once, so a record with thousands of ancestors still keeps
 * its nearest dependents: each round adds one more step up and one more step down.
 */
export function focusSubgraph(records: RecordRow[], center: number, cap = FOCUS_CAP): FocusSet {
  const all = new Set<number>([center]);
  const ancestors = new Set<number>();
  const dependents = new Set<number>();
  let up = [center];
  let down = [center];
  let truncated = false;
  const add = (i: number, side: Set<number>, next: number[]) => {
    if (i < 0 || i >= records.length || all.has(i)) return;
    if (all.size >= cap) {
      truncated = true;
      return;
    }
    all.add(i);
    side.add(i);
    next.push(i);
  };
  while ((up.length > 0 || down.length > 0) && !truncated) {
    const nextUp: number[] = [];
    for (const r of up) for (const slot of records[r].inputs) for (const l of slot) add(l.link, ancestors, nextUp);
    const nextDown: number[] = [];
    for (const r of down) for (const d of records[r].dependents) add(d, dependents, nextDown);
    up = nextUp;
    down = nextDown;
  }
  return { records: all, ancestors, dependents, truncated };
}
