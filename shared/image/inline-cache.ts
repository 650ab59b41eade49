/**
 * The inline cache of an exported image (format doc §8): the records needed to reach the chosen
 * result, results rewritten to refer to the image's own layers (`{layer: i}` = image layer i).
 */
import type { CacheGraph } from '../cache/graph';
import type { NormConfig } from '../cache/parse-config';
import type { CacheRecord } from '../cache/config-types';

export interface InlineCacheInput {
  norm: NormConfig;
  graph: CacheGraph;
  /** Records whose result is the image: the subgraph is everything they link to, transitively. */
  targets: readonly number[];
  /** Blob digests of the image layers, base first. */
  imageBlobs: readonly string[];
  /** A cache blob's `containerd.io/uncompressed`, to match a layer by diffID as BuildKit does. */
  diffIDOf: (blob: string) => string | null;
  /** The image layers' diffIDs, base first. */
  imageDiffIDs: readonly string[];
}

/** The records of the subgraph, dependencies first, links renumbered; results that are not a prefix of the image are dropped. */
export function inlineCacheRecords(input: InlineCacheInput): CacheRecord[] {
  const { norm, graph } = input;
  const wanted = new Set<number>();
  const todo = [...input.targets];
  while (todo.length > 0) {
    const r = todo.pop()!;
    if (wanted.has(r)) continue;
    wanted.add(r);
    for (const slot of norm.records[r].inputs) for (const i of slot) todo.push(i.link);
  }
  const order = graph.recordOrder.filter((r) => wanted.has(r));
  const newIndex = new Map<number, number>();
  order.forEach((r, i) => newIndex.set(r, i));
  const matches = (blob: string, k: number): boolean => blob === input.imageBlobs[k] || (input.diffIDOf(blob) ?? '') === input.imageDiffIDs[k];
  /** The image layer index a chain of blobs ends at when it is a prefix of the image, else null. */
  const prefixEnd = (blobs: string[]): number | null => {
    if (blobs.length === 0 || blobs.length > input.imageBlobs.length) return null;
    for (let k = 0; k < blobs.length; k++) if (!matches(blobs[k], k)) return null;
    return blobs.length - 1;
  };
  return order.map((r) => {
    const rec = norm.records[r];
    const out: CacheRecord = { digest: rec.digest };
    const results = new Map<number, string>();
    for (const res of rec.results) {
      const stack = graph.layerStacks[res.layer];
      const end = stack ? prefixEnd(stack.map((i) => norm.layers[i].blob)) : null;
      if (end !== null && (results.get(end) ?? '') < res.createdAt) results.set(end, res.createdAt);
    }
    for (const ch of rec.chains) {
      const end = prefixEnd(ch.layers.map((i) => norm.layers[i]?.blob ?? ''));
      if (end !== null && (results.get(end) ?? '') < ch.createdAt) results.set(end, ch.createdAt);
    }
    if (results.size > 0) out.layers = [...results].sort((a, b) => a[0] - b[0]).map(([layer, createdAt]) => ({ layer, createdAt }));
    if (rec.inputs.length > 0) {
      out.inputs = rec.inputs.map((slot) => slot.map((i) => (i.selector ? { selector: i.selector, link: newIndex.get(i.link)! } : { link: newIndex.get(i.link)! })));
    }
    return out;
  });
}
