/**
 * Why a final result of B was not served by A: from an unmatched leaf, walk down B's inputs towards
 * the records A still has, and name the first input that diverged; then count what had to be rebuilt
 * above it.
 */
import type { NormConfig } from '../cache/parse-config';
import { satisfiedSlots } from './record-matching';
import type { Divergence } from './types';

export type DivergencePoint = Omit<Divergence, 'leaf' | 'rebuiltRecords' | 'rebuiltLayers' | 'rebuiltBytes' | 'explanation'>;

export interface WalkContext {
  a: NormConfig;
  b: NormConfig;
  matches: Set<number>[];
  byDigestA: Map<string, number[]>;
  /** Per record of B: a content-checksum key (see `contentChecksumKeys`). */
  checksumKey: boolean[];
}

/**
 * Roots that BuildKit made from a dependency's content checksum (`NewCacheKey(checksum, "", -1)`, so
 * their digest is sha256("<checksum>@-1")), told from sources by how they are linked: without a
 * selector, from a slot that also holds the dependency's selector links (`processDepSlowCacheReq`),
 * or from an input slot after the first. The second case is COPY from the build context: a local
 * source's own key is `random:` (its CacheKey starts with `session:`), which is never exported, so
 * the checksum is all the slot keeps (dto-pattern's record d340c4b5…). Slot 0 of an op is the
 * filesystem it runs on, a base image or an earlier op, never a checksum.
 */
export function contentChecksumKeys(config: NormConfig): boolean[] {
  const out: boolean[] = new Array(config.records.length).fill(false);
  for (const r of config.records) {
    r.inputs.forEach((slot, k) => {
      if (k === 0 && !slot.some((l) => l.selector !== null)) return;
      for (const l of slot) if (l.selector === null && config.records[l.link].inputs.length === 0) out[l.link] = true;
    });
  }
  return out;
}

export function kindOf(ctx: WalkContext, record: number): Divergence['kind'] {
  if (ctx.b.records[record].inputs.length > 0) return 'op';
  return ctx.checksumKey[record] ? 'content-checksum' : 'source';
}

/**
 * From an unmatched leaf, the first input whose record A did not have. At each record the A record
 * with the same digest and input count that agrees on the most slots is the one B was meant to reuse
 * (the lowest index on ties); in its first unsatisfied slot, a link to a record whose digest A knows
 * but whose inputs changed is followed down (the change is further down). Otherwise the change is
 * here: the content checksum when it changed ("your files changed", the usual cause), else the first
 * changed link. Deterministic: links are taken in index order.
 */
export function firstDivergence(leaf: number, ctx: WalkContext): DivergencePoint {
  const { a, b, matches, byDigestA } = ctx;
  let record = leaf;
  // Each step descends one link; the graph has no loops (checked when it was opened), so this ends.
  for (;;) {
    const rb = b.records[record];
    const sameDigest = byDigestA.get(rb.digest) ?? [];
    const candidates = sameDigest.filter((j) => a.records[j].inputs.length === rb.inputs.length);
    if (candidates.length === 0) {
      // The key itself is new, or A knew it with another number of inputs (a dependency added or removed).
      const other = sameDigest.length > 0 ? sameDigest[0] : null;
      return { record, slot: -1, selector: null, selectorA: null, digestA: other === null ? null : rb.digest, digestB: rb.digest, recordA: other, kind: kindOf(ctx, record) };
    }
    let best = candidates[0];
    let bestSat = satisfiedSlots(rb, a.records[best], matches);
    let bestCount = bestSat.filter(Boolean).length;
    for (let c = 1; c < candidates.length; c++) {
      const sat = satisfiedSlots(rb, a.records[candidates[c]], matches);
      const count = sat.filter(Boolean).length;
      if (count > bestCount) {
        best = candidates[c];
        bestSat = sat;
        bestCount = count;
      }
    }
    // A record with the same digest and input count and every slot satisfied would match: one slot is not.
    const slot = bestSat.indexOf(false);
    const ra = a.records[best];
    const linksB = [...rb.inputs[slot]].sort((x, y) => x.link - y.link);
    const deeper = linksB.find((l) => matches[l.link].size === 0 && byDigestA.has(b.records[l.link].digest));
    if (deeper) {
      record = deeper.link;
      continue;
    }
    const changedLinks = linksB.filter((l) => matches[l.link].size === 0);
    const changed = changedLinks.find((l) => l.selector === null && ctx.checksumKey[l.link]) ?? changedLinks[0] ?? linksB[0];
    // What A had in that slot: the link with the same selector, else (a changed selector) the link to the
    // record B still links to, else the first.
    const linkA =
      ra.inputs[slot].find((l) => l.selector === changed.selector) ??
      ra.inputs[slot].find((l) => matches[changed.link].has(l.link)) ??
      ra.inputs[slot][0];
    return {
      record,
      slot,
      selector: changed.selector,
      selectorA: linkA.selector,
      digestA: a.records[linkA.link].digest,
      digestB: b.records[changed.link].digest,
      recordA: best,
      kind: kindOf(ctx, changed.link),
    };
  }
}

/**
 * The records of B that had to be rebuilt for a divergence: every record on a path from the leaf down
 * to the diverged record that A cannot serve (unmatched), both ends included. Records off the leaf's
 * own layer stack count too, e.g. a builder stage that a COPY --from reads.
 */
export function rebuiltRecords(leaf: number, record: number, b: NormConfig, dependents: number[][], matches: Set<number>[]): number[] {
  // Down from the leaf through unmatched records…
  const below = new Set<number>([leaf]);
  const queue = [leaf];
  while (queue.length > 0) {
    const r = queue.pop()!;
    for (const slot of b.records[r].inputs) {
      for (const { link } of slot) {
        if (matches[link].size > 0 || below.has(link)) continue;
        below.add(link);
        queue.push(link);
      }
    }
  }
  // …then up from the diverged record, staying among them.
  const out = new Set<number>([record]);
  queue.push(record);
  while (queue.length > 0) {
    const r = queue.pop()!;
    for (const d of dependents[r]) {
      if (!below.has(d) || out.has(d)) continue;
      out.add(d);
      queue.push(d);
    }
  }
  return [...out].sort((x, y) => x - y);
}
