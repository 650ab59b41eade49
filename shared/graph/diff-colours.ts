/** How the diff overlay marks B's records: matched in A (dimmed), result changed (amber), only in B (red), first divergences (outlined). */
import type { CacheDiff } from '../diff/types';
import type { GraphModel } from './graph-model';

export type DiffMark = 'matched' | 'changed' | 'new';

export interface DiffColours {
  /** Per record of B. */
  record: DiffMark[];
  /** Records of B where a first divergence is. */
  divergence: Set<number>;
}

export function diffColours(diff: CacheDiff, recordsB: number): DiffColours {
  const record: DiffMark[] = new Array<DiffMark>(recordsB).fill('new');
  for (const m of diff.matched) if (m.b >= 0 && m.b < recordsB) record[m.b] = 'matched';
  // A result change outranks a plain match: the key is reused, its layers are not.
  for (const m of diff.resultChanged) if (m.b >= 0 && m.b < recordsB) record[m.b] = 'changed';
  for (const b of diff.newRecords) if (b >= 0 && b < recordsB) record[b] = 'new';
  return { record, divergence: new Set(diff.divergences.map((d) => d.record)) };
}

const RANK: Record<DiffMark, number> = { matched: 0, changed: 1, new: 2 };

/** A collapsed node shows the strongest mark of its records (one new record makes the run new). */
export function nodeDiffMarks(model: GraphModel, colours: DiffColours): { mark: DiffMark[]; outlined: boolean[] } {
  const mark = model.nodes.map((n) => n.records.reduce<DiffMark>((m, r) => (RANK[colours.record[r] ?? 'new'] > RANK[m] ? colours.record[r] : m), 'matched'));
  const outlined = model.nodes.map((n) => n.records.some((r) => colours.divergence.has(r)));
  return { mark, outlined };
}
