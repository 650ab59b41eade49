/**
 * Structural record matching. A record of B matches a record of A when their digests are equal and
 * every input slot has at least one alternative pair with the same selector whose linked records
 * match in turn — BuildKit's own rule for merging keys (§4.5: the intersection over all slots).
 * Digests repeat in real data, so the relation is computed over indexes, never keyed by digest alone.
 */
import type { NormConfig } from '../cache/parse-config';

/** Records in dependency order: every record comes after the records it links to. */
export function dependencyOrder(config: NormConfig): number[] {
  const n = config.records.length;
  const state = new Uint8Array(n);
  const order: number[] = [];
  for (let start = 0; start < n; start++) {
    if (state[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const links = config.records[top[0]].inputs.flat();
      if (top[1] < links.length) {
        const next = links[top[1]++].link;
        if (!state[next]) {
          state[next] = 1;
          stack.push([next, 0]);
        }
      } else {
        order.push(top[0]);
        stack.pop();
      }
    }
  }
  return order;
}

export function indexByDigest(config: NormConfig): Map<string, number[]> {
  const map = new Map<string, number[]>();
  config.records.forEach((r, i) => {
    const list = map.get(r.digest);
    if (list) list.push(i);
    else map.set(r.digest, [i]);
  });
  return map;
}

/** Slots of b's record that record a of A satisfies, given the matches of their children. */
export function satisfiedSlots(b: NormConfig['records'][number], a: NormConfig['records'][number], matches: Set<number>[]): boolean[] {
  return b.inputs.map((slotB, k) => {
    const slotA = a.inputs[k];
    if (!slotA) return false;
    return slotB.some((lb) => slotA.some((la) => la.selector === lb.selector && matches[lb.link].has(la.link)));
  });
}

/** For every record of B, the set of A records it matches. */
export function matchRecords(a: NormConfig, b: NormConfig): Set<number>[] {
  const byDigest = indexByDigest(a);
  const matches: Set<number>[] = b.records.map(() => new Set<number>());
  for (const i of dependencyOrder(b)) {
    const rb = b.records[i];
    for (const j of byDigest.get(rb.digest) ?? []) {
      const ra = a.records[j];
      if (ra.inputs.length !== rb.inputs.length) continue;
      if (satisfiedSlots(rb, ra, matches).every(Boolean)) matches[i].add(j);
    }
  }
  return matches;
}
