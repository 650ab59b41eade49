/**
 * The cache graph, built once: BuildKit's import-time checks (cache/remotecache/v1/parse.go, in its
 * order and with its texts), layer chains (parents may point forward; loops detected), record inputs
 * and dependents, resolved result stacks, sizes. Nodes are array indexes: record digests repeat.
 *
 * Everything here is iterative: a config is untrusted input, and a chain or a record graph 100k deep
 * must not overflow the call stack.
 */
import { CacheError } from '../contract/errors';
import type { Descriptor } from '../oci/types';
import { fail } from './field-checks';
import type { NormConfig } from './parse-config';
import { compareTimestamps } from './time';

export interface RecordResolution {
  /** Layer entry indexes of the shown result, base first; empty without a result (or when a dropped result's chain is broken). */
  stack: number[];
  /** Why the result was dropped (a blob absent from the manifest), or null. */
  dropped: string | null;
  /** Which result is shown: BuildKit's best (the newest usable one), else the newest dropped one; null without results. */
  chosen: { kind: 'layers' | 'chains'; index: number } | null;
}

export interface CacheGraph {
  /** Per layer entry: its stack (base first, ending with the entry), or null when its chain never reaches -1. */
  layerStacks: (number[] | null)[];
  /** Per layer entry: why its chain never reaches -1 (`invalid looping layer`, `invalid layer index %d`), or null. */
  layerProblems: (string | null)[];
  dependents: number[][];
  resolutions: RecordResolution[];
  resultSizes: number[];
  /** Bytes of each record's result that some other record's result also uses. */
  sharedBytes: number[];
  /** Records BuildKit's CacheChains.Add ignores: `random:` keys and records that link to an ignored one. */
  ignored: boolean[];
  /** Record indexes in dependency order: every record after the records it links to (the parse order). */
  recordOrder: number[];
  /** Results (of any record, `layers` and `chains` alike) skipped because a blob is not among the descriptors. */
  droppedResults: number;
}

/**
 * Stack positions resolved at most, summed over all layer entries (128 MB of indexes). Real chains
 * are a few hundred entries deep at most (a generated 20k-entry cache holds 5M); a crafted chain
 * 100k deep would need 5 billion.
 */
export const MAX_STACK_POSITIONS = 16_000_000;

const CODE = 'invalid-config' as const;

interface Candidate {
  kind: 'layers' | 'chains';
  index: number;
  createdAt: string;
  missing: string | null;
}

export interface Validation {
  /** Per record, per `layers` result: the first blob of its chain absent from the descriptors, or null. */
  resultMissing: (string | null)[][];
  /** Per record, per `chains` result: the first absent blob, or null. */
  chainMissing: (string | null)[][];
  ignored: boolean[];
  /** Records in the order they were finished: dependencies first. */
  order: number[];
}

/**
 * BuildKit's ParseConfig, iteratively: records in array order, each one's input links first (slot by
 * slot, depth first, memoised), then its results. The first problem found is the one BuildKit reports:
 * `invalid looping record`, `invalid record ID: %d`, `invalid empty input for record %d`,
 * `invalid layer index %d`, `invalid looping layer`. A chain that reaches a blob absent from the
 * descriptors stops there and its result is dropped, silently in BuildKit, before anything above
 * the missing blob is checked.
 */
export function validateConfig(config: NormConfig, hasBlob: (digest: string) => boolean, file: string): Validation {
  const { records, layers } = config;
  const n = records.length;
  const state = new Uint8Array(n); // 0 new, 1 in progress, 2 done
  const ignored: boolean[] = new Array(n).fill(false);
  const resultMissing: (string | null)[][] = new Array(n);
  const chainMissing: (string | null)[][] = new Array(n);
  const visitedAt = new Int32Array(layers.length);
  let walkId = 0;
  // Walks are memoised per entry once they end without an error: from an entry, getRemoteChain is
  // deterministic, and a walk that ended cleanly cannot be part of a loop another walk would meet.
  const RESOLVES = 1;
  const STOPS = 2;
  const outcome = new Uint8Array(layers.length);
  const stopsAt: (string | undefined)[] = new Array(layers.length);
  const path: number[] = [];

  /** getRemoteChain: the first blob absent from the descriptors, or null when the whole chain resolves. */
  const walk = (record: number, result: number, start: number): string | null => {
    walkId++;
    path.length = 0;
    let cur = start;
    let from = -1;
    let missing: string | null;
    for (;;) {
      if (cur < 0 || cur >= layers.length) {
        if (from === -1) fail(CODE, file, `records[${record}].layers[${result}].layer`, `invalid layer index ${cur}`);
        fail(CODE, file, `layers[${from}].parent`, `invalid layer index ${cur} (on the chain of records[${record}].layers[${result}])`);
      }
      if (outcome[cur] !== 0) {
        missing = outcome[cur] === RESOLVES ? null : stopsAt[cur]!;
        break;
      }
      if (visitedAt[cur] === walkId) {
        fail(CODE, file, `records[${record}].layers[${result}]`, `invalid looping layer (layers[${from}].parent leads back to layers[${cur}])`);
      }
      visitedAt[cur] = walkId;
      path.push(cur);
      const l = layers[cur];
      if (!hasBlob(l.blob)) {
        missing = l.blob;
        break;
      }
      if (l.parent === -1) {
        missing = null;
        break;
      }
      from = cur;
      cur = l.parent;
    }
    for (const e of path) {
      outcome[e] = missing === null ? RESOLVES : STOPS;
      if (missing !== null) stopsAt[e] = missing;
    }
    return missing;
  };

  const order: number[] = [];
  const finish = (i: number) => {
    order.push(i);
    const r = records[i];
    resultMissing[i] = r.results.map((res, j) => walk(i, j, res.layer));
    chainMissing[i] = r.chains.map((c, j) => {
      for (let k = 0; k < c.layers.length; k++) {
        const idx = c.layers[k];
        if (idx < 0 || idx >= layers.length) fail(CODE, file, `records[${i}].chains[${j}].layers[${k}]`, `invalid layer index ${idx}`);
        if (!hasBlob(layers[idx].blob)) return layers[idx].blob;
      }
      return null;
    });
    let skip = r.digest.startsWith('random:');
    for (const slot of r.inputs) for (const { link } of slot) skip ||= ignored[link];
    ignored[i] = skip;
    state[i] = 2;
  };

  const recStack: number[] = [];
  const slotStack: number[] = [];
  const altStack: number[] = [];
  for (let start = 0; start < n; start++) {
    if (state[start] === 2) continue;
    state[start] = 1;
    recStack.push(start);
    slotStack.push(0);
    altStack.push(0);
    while (recStack.length > 0) {
      const top = recStack.length - 1;
      const i = recStack[top];
      const inputs = records[i].inputs;
      const k = slotStack[top];
      if (k >= inputs.length) {
        finish(i);
        recStack.pop();
        slotStack.pop();
        altStack.pop();
        continue;
      }
      const slot = inputs[k];
      if (slot.length === 0) fail(CODE, file, `records[${i}].inputs[${k}]`, `invalid empty input for record ${i}`);
      const j = altStack[top];
      if (j >= slot.length) {
        slotStack[top] = k + 1;
        altStack[top] = 0;
        continue;
      }
      altStack[top] = j + 1;
      const link = slot[j].link;
      if (link < 0 || link >= n) fail(CODE, file, `records[${i}].inputs[${k}][${j}].link`, `invalid record ID: ${link}`);
      if (state[link] === 2) continue;
      if (state[link] === 1) fail(CODE, file, `records[${i}].inputs[${k}][${j}].link`, `invalid looping record (records[${i}] links to records[${link}], which depends on it)`);
      state[link] = 1;
      recStack.push(link);
      slotStack.push(0);
      altStack.push(0);
    }
  }
  return { resultMissing, chainMissing, ignored, order };
}

/**
 * Every layer entry's stack, memoised and iterative; null (with the reason) when its chain never
 * reaches -1. Depths are found first, so a crafted config whose stacks would not fit in memory is
 * refused before anything is allocated.
 */
export function resolveLayerStacks(config: NormConfig, file: string): { stacks: (number[] | null)[]; problems: (string | null)[] } {
  const { layers } = config;
  const n = layers.length;
  const depth = new Int32Array(n); // 0 unknown, -1 never reaches a root, k >= 1 entries in the stack
  const problems: (string | null)[] = new Array(n).fill(null);
  const seenAt = new Int32Array(n);
  const path: number[] = [];
  let total = 0;
  let deepest = 0;
  for (let i = 0; i < n; i++) {
    if (depth[i] !== 0) continue;
    path.length = 0;
    let cur = i;
    let base: number; // depth below the path, or -1
    let problem: string | null = null;
    for (;;) {
      if (cur === -1) {
        base = 0;
        break;
      }
      if (cur < -1 || cur >= n) {
        base = -1;
        problem = `invalid layer index ${cur} (layers[${path[path.length - 1]}].parent)`;
        break;
      }
      if (depth[cur] !== 0) {
        base = depth[cur];
        problem = problems[cur];
        break;
      }
      if (seenAt[cur] === i + 1) {
        base = -1;
        problem = `invalid looping layer (the parent chain comes back to layers[${cur}])`;
        break;
      }
      seenAt[cur] = i + 1;
      path.push(cur);
      cur = layers[cur].parent;
    }
    for (let k = path.length - 1; k >= 0; k--) {
      if (base >= 0) {
        base++;
        total += base;
        if (base > deepest) deepest = base;
      } else problems[path[k]] = problem;
      depth[path[k]] = base;
    }
  }
  if (total > MAX_STACK_POSITIONS) {
    throw new CacheError('too-large', `${file}: layers: the layer chains hold ${total} positions in all (the deepest is ${deepest} entries); over the ${MAX_STACK_POSITIONS} this viewer resolves`, { file, field: 'layers' });
  }
  const stacks: (number[] | null)[] = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    if (depth[i] < 0 || stacks[i] !== null) continue;
    path.length = 0;
    let cur = i;
    while (cur !== -1 && stacks[cur] === null) {
      path.push(cur);
      cur = layers[cur].parent;
    }
    let below: number[] = cur === -1 ? [] : stacks[cur]!;
    for (let k = path.length - 1; k >= 0; k--) {
      const next = below.slice();
      next.push(path[k]);
      stacks[path[k]] = below = next;
    }
  }
  return { stacks, problems };
}

/** Validates like BuildKit (throws CacheError 'invalid-config'), then builds everything the views need. */
export function buildGraph(config: NormConfig, descriptors: ReadonlyMap<string, Descriptor>, file: string): CacheGraph {
  const has = (d: string) => descriptors.has(d);
  const { resultMissing, chainMissing, ignored, order: recordOrder } = validateConfig(config, has, file);
  const { stacks: layerStacks, problems: layerProblems } = resolveLayerStacks(config, file);
  const dependents: number[][] = config.records.map(() => []);
  config.records.forEach((r, i) => {
    for (let k = 0; k < r.inputs.length; k++) {
      for (const { link } of r.inputs[k]) {
        const list = dependents[link];
        if (list[list.length - 1] !== i) list.push(i); // i only grows, so this dedupes
      }
    }
  });
  let droppedResults = 0;
  const resolutions: RecordResolution[] = config.records.map((r, i) => {
    const candidates: Candidate[] = [];
    r.results.forEach((res, j) => candidates.push({ kind: 'layers', index: j, createdAt: res.createdAt, missing: resultMissing[i][j] }));
    r.chains.forEach((c, j) => candidates.push({ kind: 'chains', index: j, createdAt: c.createdAt, missing: chainMissing[i][j] }));
    let best: Candidate | null = null;
    let newest: Candidate | null = null;
    for (const c of candidates) {
      // BuildKit's bestResult: the newest wins, the first on ties; dropped results were never added.
      if (newest === null || compareTimestamps(c.createdAt, newest.createdAt) > 0) newest = c;
      if (c.missing !== null) droppedResults++;
      else if (best === null || compareTimestamps(c.createdAt, best.createdAt) > 0) best = c;
    }
    const chosen = best ?? newest;
    if (chosen === null) return { stack: [], dropped: null, chosen: null };
    const stack = chosen.kind === 'layers' ? (layerStacks[r.results[chosen.index].layer] ?? []) : r.chains[chosen.index].layers.slice();
    const dropped = best === null ? `blob ${chosen.missing} is not among the manifest's descriptors; BuildKit skips this result` : null;
    return { stack, dropped, chosen: { kind: chosen.kind, index: chosen.index } };
  });
  const layers = config.layers;
  // Blobs as small integers, so counting them per result is array work, not string hashing.
  const blobIds = new Map<string, number>();
  const blobOf = new Int32Array(layers.length);
  const blobSizes: number[] = [];
  layers.forEach((l, i) => {
    let id = blobIds.get(l.blob);
    if (id === undefined) {
      id = blobSizes.length;
      blobIds.set(l.blob, id);
      blobSizes.push(descriptors.get(l.blob)?.size ?? 0);
    }
    blobOf[i] = id;
  });
  const seenIn = new Int32Array(blobSizes.length); // record index + 1 that last counted the blob
  const users = new Int32Array(blobSizes.length);
  // Summed per stack position, like the size of BuildKit's Remote (its descriptor list keeps duplicates).
  const resultSizes = resolutions.map((res, i) => {
    if (res.dropped) return 0;
    let sum = 0;
    for (const l of res.stack) {
      const b = blobOf[l];
      sum += blobSizes[b];
      if (seenIn[b] !== i + 1) {
        seenIn[b] = i + 1;
        users[b]++;
      }
    }
    return sum;
  });
  seenIn.fill(0);
  const sharedBytes = resolutions.map((res, i) => {
    if (res.dropped) return 0;
    let shared = 0;
    for (const l of res.stack) {
      const b = blobOf[l];
      if (seenIn[b] !== i + 1) {
        seenIn[b] = i + 1;
        if (users[b] > 1) shared += blobSizes[b];
      }
    }
    return shared;
  });
  return { layerStacks, layerProblems, dependents, resolutions, resultSizes, sharedBytes, ignored, recordOrder, droppedResults };
}
