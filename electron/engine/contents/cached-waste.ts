/**
 * Wasted bytes per record result, from cached listings only (`inspect --json`): a result counts
 * when every layer of its chain has been listed before (`files`, `diff --files`, the GUI); nothing
 * here ever reads a blob.
 */
import { chainWaste } from './chain-tree';
import type { HiddenBytes } from './chain-tree';
import type { ListingCache } from './listing-cache';
import { openListingCache } from './listing-cache';
import { cachedListing } from './open-layer';
import type { LayerSource } from './open-layer';
import type { LayerListing } from './read-layer';

export interface ResultWaste {
  record: number;
  /** dive's efficiency score of the result's chain. */
  efficiency: number;
  /** dive's potential wasted space. */
  wastedBytes: number;
  hidden: HiddenBytes;
}

export async function cachedResultWaste(source: LayerSource, cache: ListingCache = openListingCache()): Promise<ResultWaste[]> {
  const listings = new Map<string, LayerListing | null>();
  const listingOf = async (blob: string): Promise<LayerListing | null> => {
    if (!listings.has(blob)) listings.set(blob, await cachedListing(source, blob, cache));
    return listings.get(blob) ?? null;
  };
  const out: ResultWaste[] = [];
  const { resolutions } = source.model.graph;
  for (let r = 0; r < resolutions.length; r++) {
    const stack = resolutions[r].stack;
    if (stack.length === 0) continue;
    const layers: LayerListing[] = [];
    for (const e of stack) {
      const l = await listingOf(source.model.norm.layers[e].blob);
      if (!l) break;
      layers.push(l);
    }
    if (layers.length !== stack.length) continue;
    const w = chainWaste(layers.map((l) => l.entries));
    out.push({ record: r, efficiency: w.efficiency, wastedBytes: w.wastedBytes, hidden: w.hidden });
  }
  return out;
}
