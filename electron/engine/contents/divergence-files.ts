/**
 * The miss explanation taken down to files: for a divergence, the layers B rebuilt above it and the
 * layers A had at the same positions of the chain, read pairwise, and the paths that differ. Reads
 * blobs (from the listing cache when it can), so it runs only when asked (`diff --files`, the GUI).
 */
import type { Divergence } from '../../../shared/diff/types';
import { CacheError } from '../../../shared/contract/errors';
import { chainProgress } from './chain-progress';
import type { ChainProgress } from './chain-progress';
import { hashLayerFiles } from './content-hashes';
import { diffEntries, summarizePaths } from './file-diff';
import { openLayer } from './open-layer';
import type { LayerSource, OpenLayerOptions } from './open-layer';

export interface LayerPairFiles {
  /** Position in the chain (0 = base layer). */
  position: number;
  blobA: string;
  blobB: string;
  /** Paths that differ between the two layers, sorted (empty when a blob is missing). */
  paths: string[];
  /** Why the pair could not be compared: a missing blob, named. */
  missing: string[];
}

export interface DivergenceFiles {
  leaf: number;
  record: number;
  /** The record of A whose result was compared, or null when A has none. */
  recordA: number | null;
  pairs: LayerPairFiles[];
  /** Every path that differs, over all pairs, sorted and distinct. */
  paths: string[];
  missing: string[];
  /** One clause for the explanation: "files that differ: …", or why there are none to name. */
  text: string;
}

function stackBlobs(source: LayerSource, record: number | null): string[] {
  if (record === null) return [];
  const res = source.model.graph.resolutions[record];
  if (!res || res.dropped || res.stack.length === 0) return [];
  return res.stack.map((e) => source.model.norm.layers[e].blob);
}

/** B's first record from the divergence up to the leaf that has a result: what the rebuild produced. */
function rebuiltRecord(b: LayerSource, d: Divergence): number | null {
  for (const r of [d.record, ...d.rebuiltRecords]) if (stackBlobs(b, r).length > 0) return r;
  return null;
}

/** A blob's stated size (0 when the cache does not state one: it then counts once its read reports it). */
function sizeOf(source: LayerSource, blob: string): number {
  return source.model.descriptors.get(blob)?.size ?? 0;
}

async function listingOrMissing(source: LayerSource, blob: string, side: 'A' | 'B', options: OpenLayerOptions, onSkip?: () => void) {
  try {
    return { listing: (await openLayer(source, blob, options)).listing, missing: null };
  } catch (err) {
    if (err instanceof CacheError && (err.code === 'missing-blob' || err.code === 'not-found')) {
      onSkip?.();
      return { listing: null, missing: `${side}'s blob ${blob} is missing, so its files cannot be compared` };
    }
    throw err;
  }
}

export interface DivergenceFilesOptions extends OpenLayerOptions {
  contentHashes?: boolean;
  /** Bytes of both sides' layer blobs read so far, of all the pairs to read (A's then B's blob of each pair, in chain order). */
  onChainProgress?: (p: ChainProgress) => void;
}

/** Names the files that differ between A's and B's layers at the rebuilt positions of a divergence. */
export async function divergenceFiles(a: LayerSource, b: LayerSource, d: Divergence, options: DivergenceFilesOptions = {}): Promise<DivergenceFiles> {
  const recordB = rebuiltRecord(b, d);
  const recordA = d.recordA !== null && stackBlobs(a, d.recordA).length > 0 ? d.recordA : null;
  const stackB = stackBlobs(b, recordB);
  const stackA = stackBlobs(a, recordA);
  let common = 0;
  while (common < stackA.length && common < stackB.length && stackA[common] === stackB[common]) common++;
  const pairs: LayerPairFiles[] = [];
  // The positions whose blobs differ are known before any is read, so the bar's total is too.
  const positions: number[] = [];
  for (let p = common; p < Math.min(stackA.length, stackB.length); p++) if (stackA[p] !== stackB[p]) positions.push(p);
  const { onChainProgress, ...layerOptions } = options;
  const progress = onChainProgress ? chainProgress(positions.flatMap((p) => [sizeOf(a, stackA[p]), sizeOf(b, stackB[p])]), onChainProgress) : null;
  const sideOptions = (k: number): OpenLayerOptions => (progress ? { ...layerOptions, onProgress: progress.layer(k) } : layerOptions);
  for (const [i, p] of positions.entries()) {
    options.signal?.throwIfAborted();
    const blobA = stackA[p];
    const blobB = stackB[p];
    const la = await listingOrMissing(a, blobA, 'A', sideOptions(2 * i), () => progress?.skip(2 * i));
    const lb = await listingOrMissing(b, blobB, 'B', sideOptions(2 * i + 1), () => progress?.skip(2 * i + 1));
    const missing = [la.missing, lb.missing].filter((m): m is string => m !== null);
    let paths: string[] = [];
    if (la.listing && lb.listing) {
      const diff = diffEntries(la.listing.entries, lb.listing.entries);
      paths = diff.paths;
      if (options.contentHashes) {
        // Only files whose metadata matched on both sides are worth reading for their content.
        const differ = new Set(paths);
        const inA = new Set(la.listing.entries.filter((e) => e.type === 'file').map((e) => e.path));
        const same = new Set(lb.listing.entries.filter((e) => e.type === 'file' && inA.has(e.path) && !differ.has(e.path)).map((e) => e.path));
        const hashes = { a: await hashLayerFiles(a, blobA, same, options), b: await hashLayerFiles(b, blobB, same, options) };
        paths = diffEntries(la.listing.entries, lb.listing.entries, hashes).paths;
      }
    }
    pairs.push({ position: p, blobA, blobB, paths, missing });
  }
  progress?.finish();
  const paths = [...new Set(pairs.flatMap((x) => x.paths))].sort();
  const missing = pairs.flatMap((x) => x.missing);
  let text: string;
  if (pairs.length === 0) text = 'no rebuilt layer in both A and B at the same chain position to compare';
  else if (paths.length > 0) text = `files that differ: ${summarizePaths(paths)}${missing.length > 0 ? `; ${missing.join('; ')}` : ''}`;
  else if (missing.length > 0) text = missing.join('; ');
  else if (options.contentHashes) text = 'files that differ: none (same paths, sizes, modes, link targets and contents)';
  else text = 'files that differ: none by size, mode or link target (--content compares the contents)';
  return { leaf: d.leaf, record: d.record, recordA, pairs, paths, missing, text };
}
