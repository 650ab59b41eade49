/**
 * BuildKit's `sortConfig` (cache/remotecache/v1/utils.go, format doc §4.5), reproduced so that a config
 * we build or rewrite comes out in the order BuildKit would give it, and so gets the same digest.
 *
 * Quirks kept on purpose, because they decide the bytes:
 *   - layers are ordered by (blob, *old* parent index), so entries sharing a blob need not end up
 *     ordered by their final parent;
 *   - records compare their links through the *old* indexes (the digest of the record linked to);
 *   - `chains` indexes are not remapped (BuildKit does not; only the inline exporter writes chains,
 *     after sorting).
 * BuildKit sorts records with sort.Slice, which is not stable: exact ties may come out in any order
 * there. We use a stable sort, so ties keep their input order; for ≤ 12 records Go's sort is an
 * insertion sort and agrees with us.
 */
import type { CacheConfig, CacheInput, CacheLayer, CacheRecord } from './config-types';
import { compareGoStrings } from '../json/go-json';

/** Returns a sorted copy; the input is not modified. */
export function sortConfig(config: CacheConfig): CacheConfig {
  const oldLayers = config.layers ?? [];
  const oldRecords = config.records ?? [];

  // Layers: sort old indexes by (blob, old parent), then remap parents through the new positions.
  const layerOrder = oldLayers.map((_, i) => i);
  layerOrder.sort((i, j) => {
    const a = oldLayers[i];
    const b = oldLayers[j];
    return compareGoStrings(a.blob ?? '', b.blob ?? '') || (a.parent ?? 0) - (b.parent ?? 0);
  });
  const newLayerIndex = new Array<number>(oldLayers.length);
  layerOrder.forEach((oldIndex, newIndex) => {
    newLayerIndex[oldIndex] = newIndex;
  });
  const remapLayer = (index: number, what: string): number => {
    const mapped = newLayerIndex[index];
    // Go would panic with "index out of range" here; say which reference was bad instead.
    if (!Number.isInteger(index) || mapped === undefined) throw new RangeError(`sortConfig: ${what} refers to layer ${index}, but there are ${oldLayers.length} layers`);
    return mapped;
  };
  const layers = layerOrder.map((oldIndex): CacheLayer => {
    const l = oldLayers[oldIndex];
    const parent = l.parent ?? 0;
    const copy: CacheLayer = { ...l };
    const newParent = parent === -1 ? -1 : remapLayer(parent, `layers[${oldIndex}].parent`);
    // 0 is what an absent `parent` means (omitempty); keep the shape a parsed config would have.
    if (newParent === 0) delete copy.parent;
    else copy.parent = newParent;
    return copy;
  });

  // Records: the comparator reads link targets through the old array, as BuildKit's does.
  const digestOf = (link: number, where: string): string => {
    const target = oldRecords[link];
    if (!Number.isInteger(link) || target === undefined) throw new RangeError(`sortConfig: ${where} links to record ${link}, but there are ${oldRecords.length} records`);
    return target.digest ?? '';
  };
  const recordOrder = oldRecords.map((_, i) => i);
  recordOrder.sort((i, j) => compareRecords(oldRecords[i], oldRecords[j], i, j, digestOf));
  const newRecordIndex = new Array<number>(oldRecords.length);
  recordOrder.forEach((oldIndex, newIndex) => {
    newRecordIndex[oldIndex] = newIndex;
  });

  const records = recordOrder.map((oldIndex): CacheRecord => {
    const r = oldRecords[oldIndex];
    const copy: CacheRecord = { ...r };
    if (r.layers) {
      copy.layers = r.layers.map((res, k) => ({ ...res, layer: remapLayer(res.layer, `records[${oldIndex}].layers[${k}].layer`) }));
    }
    if (r.inputs) {
      copy.inputs = r.inputs.map((slot, s) => {
        if (!slot) return slot; // a null slot stays null (BuildKit's parser rejects it later, §4.4)
        const links = slot.map((input, k): CacheInput => {
          digestOf(input.link, `records[${oldIndex}].inputs[${s}][${k}]`);
          return { ...input, link: newRecordIndex[input.link] };
        });
        // Within a slot, by the new link index (slices.SortFunc: ties are equal links, order is moot
        // unless selectors differ, and then insertion order is what Go's small-slice sort keeps).
        return links.sort((a, b) => a.link - b.link);
      });
    }
    return copy;
  });

  const out: CacheConfig = { ...config };
  if (config.layers !== undefined) out.layers = layers;
  if (config.records !== undefined) out.records = records;
  return out;
}

function compareRecords(
  ri: CacheRecord,
  rj: CacheRecord,
  i: number,
  j: number,
  digestOf: (link: number, where: string) => string,
): number {
  const byDigest = compareGoStrings(ri.digest ?? '', rj.digest ?? '');
  if (byDigest !== 0) return byDigest;
  const inI = ri.inputs ?? [];
  const inJ = rj.inputs ?? [];
  if (inI.length !== inJ.length) return inI.length - inJ.length;
  for (let s = 0; s < inI.length; s++) {
    const slotI = inI[s] ?? [];
    const slotJ = inJ[s] ?? [];
    if (slotI.length !== slotJ.length) return slotI.length - slotJ.length;
    for (let k = 0; k < slotI.length; k++) {
      const bySelector = compareGoStrings(slotI[k].selector ?? '', slotJ[k].selector ?? '');
      if (bySelector !== 0) return bySelector;
      const byTarget = compareGoStrings(
        digestOf(slotI[k].link, `records[${i}].inputs[${s}][${k}]`),
        digestOf(slotJ[k].link, `records[${j}].inputs[${s}][${k}]`),
      );
      if (byTarget !== 0) return byTarget;
    }
  }
  return 0;
}
