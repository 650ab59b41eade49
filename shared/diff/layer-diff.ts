/**
 * The layer side of a diff: blobs on each side (recompressed ones told apart by their diffID), layer
 * chains compared by content, and what content a cache holds. Bytes are descriptor sizes, and a blob
 * is counted once however many chain positions use it.
 */
import type { CacheModel } from '../cache/model';
import { Annotation } from '../oci/media-types';
import type { BlobDiffRow } from './types';

export interface BlobInfo {
  size: number;
  diffID: string | null;
}

/** Distinct blobs of the config's layer entries: the descriptor's size and diffID, else the gha-style layer annotations. */
export function blobsOf(m: CacheModel): Map<string, BlobInfo> {
  const out = new Map<string, BlobInfo>();
  for (const l of m.norm.layers) {
    if (out.has(l.blob)) continue;
    const d = m.descriptors.get(l.blob);
    out.set(l.blob, { size: d?.size ?? l.annotations?.size ?? 0, diffID: d?.annotations?.[Annotation.uncompressed] ?? l.annotations?.diffID ?? null });
  }
  return out;
}

/** A layer's content identity: its diffID when known (so recompression is not a change), else its blob digest. */
export function contentOf(blobs: Map<string, BlobInfo>, blob: string): string {
  return blobs.get(blob)?.diffID ?? blob;
}

const byDigest = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** The smallest digest per diffID: which blob a recompressed one is named after (the same on either side of the diff). */
function firstByDiffId(blobs: Map<string, BlobInfo>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [digest, info] of blobs) {
    if (!info.diffID) continue;
    const known = out.get(info.diffID);
    if (known === undefined || digest < known) out.set(info.diffID, digest);
  }
  return out;
}

export interface BlobDiff {
  rows: BlobDiffRow[];
  recompressed: number;
  recompressedBytesA: number;
  recompressedBytesB: number;
}

export function diffBlobs(ba: Map<string, BlobInfo>, bb: Map<string, BlobInfo>): BlobDiff {
  const firstA = firstByDiffId(ba);
  const firstB = firstByDiffId(bb);
  const rows: BlobDiffRow[] = [];
  // Contents whose blob sets differ between the sides, with the bytes of their one-sided blobs.
  const recompressedContents = new Set<string>();
  let recompressedBytesA = 0;
  let recompressedBytesB = 0;
  for (const [digest, info] of ba) {
    if (bb.has(digest)) {
      rows.push({ digest, size: info.size, side: 'both', diffID: info.diffID, recompressedFrom: null });
      continue;
    }
    const other = info.diffID ? (firstB.get(info.diffID) ?? null) : null;
    if (other !== null) {
      recompressedContents.add(info.diffID!);
      recompressedBytesA += info.size;
    }
    rows.push({ digest, size: info.size, side: 'a', diffID: info.diffID, recompressedFrom: other });
  }
  for (const [digest, info] of bb) {
    if (ba.has(digest)) continue;
    const other = info.diffID ? (firstA.get(info.diffID) ?? null) : null;
    if (other !== null) {
      recompressedContents.add(info.diffID!);
      recompressedBytesB += info.size;
    }
    rows.push({ digest, size: info.size, side: 'b', diffID: info.diffID, recompressedFrom: other });
  }
  const order = { a: 0, both: 1, b: 2 } as const;
  rows.sort((x, y) => order[x.side] - order[y.side] || byDigest(x.digest, y.digest));
  return { rows, recompressed: recompressedContents.size, recompressedBytesA, recompressedBytesB };
}

/**
 * Interns layer chains (base first, by content) as small integers shared by both sides, so a chain is
 * compared in O(1) and a stack is interned in O(its new positions): id = intern(parent id, content).
 */
export class ChainInterner {
  private readonly ids = new Map<string, number>();

  intern(parent: number, content: string): number {
    const key = `${parent}>${content}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(key, id);
    }
    return id;
  }
}

export interface ChainIndex {
  /** Chain id of every layer entry's stack, or -1 when its chain never reaches a root. */
  entry: Int32Array;
  /** Chain id of every record's shown result, or -1 without a result. */
  result: Int32Array;
  /** Every chain the cache holds: layer entries, results, and the prefixes of `chains` results. */
  all: Set<number>;
}

export function indexChains(m: CacheModel, blobs: Map<string, BlobInfo>, interner: ChainInterner): ChainIndex {
  const { layers } = m.norm;
  const { layerStacks, resolutions } = m.graph;
  const content = layers.map((l) => contentOf(blobs, l.blob));
  const entry = new Int32Array(layers.length).fill(-1);
  const all = new Set<number>();
  for (let i = 0; i < layers.length; i++) {
    const stack = layerStacks[i];
    if (!stack || entry[i] >= 0) continue;
    // Walk down to the highest position already interned, then intern upwards: each entry once.
    let k = stack.length - 1;
    while (k >= 0 && entry[stack[k]] < 0) k--;
    let id = k >= 0 ? entry[stack[k]] : -1;
    for (k++; k < stack.length; k++) {
      id = interner.intern(id, content[stack[k]]);
      entry[stack[k]] = id;
      all.add(id);
    }
  }
  const result = new Int32Array(resolutions.length).fill(-1);
  resolutions.forEach((res, i) => {
    if (res.chosen === null || res.stack.length === 0) return;
    if (res.chosen.kind === 'layers') {
      result[i] = entry[m.norm.records[i].results[res.chosen.index].layer];
      return;
    }
    // A `chains` result lists its entries without following parents: a chain of its own.
    let id = -1;
    for (const l of res.stack) {
      id = interner.intern(id, content[l]);
      all.add(id);
    }
    result[i] = id;
  });
  return { entry, result, all };
}

/** The content (blob digests and diffIDs) a cache holds: what it could serve, whatever the compression. */
export function heldContent(blobs: Map<string, BlobInfo>): Set<string> {
  const held = new Set<string>();
  for (const [digest, info] of blobs) {
    held.add(digest);
    if (info.diffID) held.add(info.diffID);
  }
  return held;
}
