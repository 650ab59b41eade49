/**
 * The cache graph, built once: layer chains (parents may point forward; loops detected), record
 * inputs and dependents, resolved result stacks, sizes. Nodes are array indexes: record digests repeat.
 */
import { CacheError } from '../contract/errors';
import type { Descriptor } from '../oci/types';
import type { NormConfig } from './parse-config';
import { compareTimestamps } from './time';

export interface RecordResolution {
  /** Layer entry indexes of the best result, base first; empty when the record has no result. */
  stack: number[];
  /** Why the result was dropped (a blob absent from the manifest), or null. */
  dropped: string | null;
}

export interface CacheGraph {
  /** Per layer entry: its stack (base first, ending with the entry), or null when its chain loops. */
  layerStacks: (number[] | null)[];
  dependents: number[][];
  resolutions: RecordResolution[];
  resultSizes: number[];
  /** Bytes of each record's result that some other record's result also uses. */
  sharedBytes: number[];
}

/** Throws BuildKit's `invalid looping record` when the links form a cycle. */
export function checkRecordLoops(config: NormConfig, file: string): void {
  const n = config.records.length;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  for (let start = 0; start < n; start++) {
    if (state[start] !== 0) continue;
    const stack: { node: number; slot: number; alt: number }[] = [{ node: start, slot: 0, alt: 0 }];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const inputs = config.records[top.node].inputs;
      if (top.slot >= inputs.length) {
        state[top.node] = 2;
        stack.pop();
        continue;
      }
      const slot = inputs[top.slot];
      if (top.alt >= slot.length) {
        top.slot++;
        top.alt = 0;
        continue;
      }
      const next = slot[top.alt++].link;
      if (state[next] === 1) {
        throw new CacheError('invalid-config', `${file}: records[${top.node}].inputs[${top.slot}]: invalid looping record`, { file, field: `records[${top.node}].inputs[${top.slot}]` });
      }
      if (state[next] === 0) {
        state[next] = 1;
        stack.push({ node: next, slot: 0, alt: 0 });
      }
    }
  }
}

function resolveLayerStacks(config: NormConfig): (number[] | null)[] {
  const n = config.layers.length;
  const memo: (number[] | null | undefined)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (memo[i] !== undefined) continue;
    const path: number[] = [];
    const onPath = new Set<number>();
    let cur = i;
    let base: number[] | null = [];
    while (cur !== -1) {
      if (memo[cur] !== undefined) {
        base = memo[cur]!;
        break;
      }
      if (onPath.has(cur)) {
        base = null;
        break;
      }
      onPath.add(cur);
      path.push(cur);
      cur = config.layers[cur].parent;
    }
    for (let k = path.length - 1; k >= 0; k--) {
      base = base === null ? null : [...base, path[k]];
      memo[path[k]] = base;
    }
  }
  return memo as (number[] | null)[];
}

export function buildGraph(config: NormConfig, descriptors: Map<string, Descriptor>, file: string): CacheGraph {
  checkRecordLoops(config, file);
  const layerStacks = resolveLayerStacks(config);
  const dependents: number[][] = config.records.map(() => []);
  config.records.forEach((r, i) => {
    const seen = new Set<number>();
    for (const slot of r.inputs) for (const { link } of slot) if (!seen.has(link)) (seen.add(link), dependents[link].push(i));
  });
  const resolutions: RecordResolution[] = config.records.map((r, i) => {
    let stack: number[] = [];
    if (r.results.length > 0) {
      // BuildKit exports at most one result per record: the newest (bestResult).
      const best = r.results.reduce((a, b) => (compareTimestamps(b.createdAt, a.createdAt) > 0 ? b : a));
      const s = layerStacks[best.layer];
      if (s === null) {
        throw new CacheError('invalid-config', `${file}: records[${i}].layers: invalid looping layer`, { file, field: `records[${i}].layers` });
      }
      stack = s;
    } else if (r.chains.length > 0) {
      const best = r.chains.reduce((a, b) => (compareTimestamps(b.createdAt, a.createdAt) > 0 ? b : a));
      stack = best.layers;
    }
    const absent = stack.find((l) => !descriptors.has(config.layers[l].blob));
    return { stack, dropped: absent === undefined ? null : `blob ${config.layers[absent].blob} is not among the manifest's descriptors; BuildKit skips this result` };
  });
  const sizeOf = (l: number) => descriptors.get(config.layers[l].blob)?.size ?? 0;
  // Summed per stack position, like the size of BuildKit's Remote (its descriptor list keeps duplicates).
  const resultSizes = resolutions.map((res) => (res.dropped ? 0 : res.stack.reduce((sum, l) => sum + sizeOf(l), 0)));
  const blobUsers = new Map<string, number>();
  resolutions.forEach((res) => {
    if (res.dropped) return;
    for (const blob of new Set(res.stack.map((l) => config.layers[l].blob))) blobUsers.set(blob, (blobUsers.get(blob) ?? 0) + 1);
  });
  const sharedBytes = resolutions.map((res) => {
    if (res.dropped) return 0;
    let shared = 0;
    for (const blob of new Set(res.stack.map((l) => config.layers[l].blob))) {
      if ((blobUsers.get(blob) ?? 0) > 1) shared += descriptors.get(blob)?.size ?? 0;
    }
    return shared;
  });
  return { layerStacks, dependents, resolutions, resultSizes, sharedBytes };
}
