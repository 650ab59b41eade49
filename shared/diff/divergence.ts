/**
 * Why a final result of B was not served by A: from an unmatched leaf, walk down B's inputs towards
 * the records A still has, and name the first input that diverged; then count what had to be rebuilt
 * above it.
 */
import type { NormConfig, NormInput } from '../cache/parse-config';
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

/** Unmatched links of a slot, by link index: deterministic whatever order the config lists them in. */
function unmatchedLinks(ctx: WalkContext, slot: NormInput[]): NormInput[] {
  return slot.filter((l) => ctx.matches[l.link].size === 0).sort((x, y) => x.link - y.link);
}

/** A slot none of whose alternatives A serves: BuildKit could not satisfy it with any key it had. */
function slotLost(ctx: WalkContext, slot: NormInput[]): boolean {
  return slot.every((l) => ctx.matches[l.link].size === 0);
}

/**
 * Whether the change behind an unmatched record lies further down: A knows its key (so its inputs or
 * selectors changed), or its key is new and one of its slots lost every alternative (so what it was
 * built on changed too, and its own key changed because of that).
 */
function changeIsBelow(ctx: WalkContext, record: number): boolean {
  if (ctx.matches[record].size > 0) return false;
  const r = ctx.b.records[record];
  if (ctx.byDigestA.has(r.digest)) return true;
  return r.inputs.some((slot) => slotLost(ctx, slot));
}

/** The changed link of a slot: a changed content checksum first ("your files changed", the usual cause), else the first. */
function changedLink(ctx: WalkContext, links: NormInput[]): NormInput | undefined {
  return links.find((l) => l.selector === null && ctx.checksumKey[l.link]) ?? links[0];
}

/**
 * From an unmatched leaf, the first change: walk down through records A cannot serve until the
 * deepest one whose inputs are all served except the changed one.
 *
 * At a record whose key A knows with the same input count, the A record that agrees on the most
 * slots is the one B was meant to reuse (the lowest index on ties); its first unsatisfied slot is
 * where B went another way. At a record whose key is new, the first slot that lost every
 * alternative is. In that slot a link whose change lies further down (`changeIsBelow`) is followed,
 * known keys first, then by link index; under a new key, any op is. Otherwise the change is here:
 * the changed link of that slot (a root: a source or a content checksum; or, under a known key, an
 * op that A did not have, named with what A had), or, for a new key whose every slot is still
 * served, the key itself (slot -1: its definition changed). Deterministic.
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
      const lost = sameDigest.length === 0 ? rb.inputs.findIndex((slot) => slotLost(ctx, slot)) : -1;
      if (lost < 0) {
        // The key is new with every input served, or A knew it with another number of inputs
        // (a dependency added or removed): the definition of this record changed.
        const other = sameDigest.length > 0 ? sameDigest[0] : null;
        return { record, slot: -1, selector: null, selectorA: null, digestA: other === null ? null : rb.digest, digestB: rb.digest, recordA: other, kind: kindOf(ctx, record) };
      }
      const links = unmatchedLinks(ctx, rb.inputs[lost]);
      // Under a new key any op is followed: A has no record here to name what the slot held before.
      const deeper =
        links.find((l) => byDigestA.has(b.records[l.link].digest)) ??
        links.find((l) => changeIsBelow(ctx, l.link)) ??
        links.find((l) => b.records[l.link].inputs.length > 0);
      if (deeper) {
        record = deeper.link;
        continue;
      }
      // A new key over a changed root (a source or a content checksum): the root is the first change.
      const changed = changedLink(ctx, links)!;
      return { record, slot: lost, selector: changed.selector, selectorA: null, digestA: null, digestB: b.records[changed.link].digest, recordA: null, kind: kindOf(ctx, changed.link) };
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
    const changedLinks = unmatchedLinks(ctx, rb.inputs[slot]);
    const deeper = changedLinks.find((l) => byDigestA.has(b.records[l.link].digest)) ?? changedLinks.find((l) => changeIsBelow(ctx, l.link));
    if (deeper) {
      record = deeper.link;
      continue;
    }
    const changed = changedLink(ctx, changedLinks) ?? linksB[0];
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
