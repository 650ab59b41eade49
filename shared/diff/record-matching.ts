/**
 * Structural record matching. A record of B matches a record of A when their digests are equal, they
 * have the same number of input slots, and in every slot some alternative of B and some alternative
 * of A carry the same selector and link to records that match in turn.
 *
 * "Some alternative", not "the same set of alternatives": that is BuildKit's own rule, both when it
 * merges keys at export (§4.5, the intersection over all slots) and when a build looks a key up (a
 * slot is satisfied when any of the dependency's keys links to the record). A later export of the
 * same build often adds backlinks (another alternative in a slot, as in the margo fixture); that is a
 * links change (`sameLinks`), not a different key. Digests repeat in real data, so the relation is
 * computed over indexes, never keyed by digest alone.
 */
import type { NormConfig, NormInput, NormRecord } from '../cache/parse-config';

export function indexByDigest(config: NormConfig): Map<string, number[]> {
  const map = new Map<string, number[]>();
  config.records.forEach((r, i) => {
    const list = map.get(r.digest);
    if (list) list.push(i);
    else map.set(r.digest, [i]);
  });
  return map;
}

/** Whether one alternative of slot B and one of slot A agree: same selector, matching records. */
export function slotSatisfied(slotB: NormInput[], slotA: NormInput[], matches: Set<number>[]): boolean {
  for (const lb of slotB) {
    const m = matches[lb.link];
    if (m.size === 0) continue;
    for (const la of slotA) if (la.selector === lb.selector && m.has(la.link)) return true;
  }
  return false;
}

/** Slots of B's record that A's record satisfies, given the matches of their children. */
export function satisfiedSlots(b: NormRecord, a: NormRecord, matches: Set<number>[]): boolean[] {
  return b.inputs.map((slotB, k) => k < a.inputs.length && slotSatisfied(slotB, a.inputs[k], matches));
}

/** For every record of B, the set of A records it matches (children first, memoised through `matches`). */
/** `orderB`: B's records with dependencies first (CacheGraph.recordOrder), so children are matched before parents. */
export function matchRecords(a: NormConfig, b: NormConfig, orderB: readonly number[]): Set<number>[] {
  const byDigest = indexByDigest(a);
  const matches: Set<number>[] = b.records.map(() => new Set<number>());
  for (const i of orderB) {
    const rb = b.records[i];
    const candidates = byDigest.get(rb.digest);
    if (!candidates) continue;
    for (const j of candidates) {
      const ra = a.records[j];
      if (ra.inputs.length !== rb.inputs.length) continue;
      let all = true;
      for (let k = 0; all && k < rb.inputs.length; k++) all = slotSatisfied(rb.inputs[k], ra.inputs[k], matches);
      if (all) matches[i].add(j);
    }
  }
  return matches;
}

/**
 * Whether two matched records hold the same alternatives: in every slot, each link of either side has
 * a counterpart on the other with the same selector and a matching record. Symmetric by construction.
 */
export function sameLinks(b: NormRecord, a: NormRecord, matches: Set<number>[]): boolean {
  for (let k = 0; k < b.inputs.length; k++) {
    const slotB = b.inputs[k];
    const slotA = a.inputs[k];
    for (const lb of slotB) if (!slotA.some((la) => la.selector === lb.selector && matches[lb.link].has(la.link))) return false;
    for (const la of slotA) if (!slotB.some((lb) => la.selector === lb.selector && matches[lb.link].has(la.link))) return false;
  }
  return true;
}
