/**
 * Names from an image's history, mapped onto a cache's layer entries and records by diffID: the
 * image's `rootfs.diff_ids[i]` pairs with its i-th history entry that is not `empty_layer` (as
 * BuildKit's inline-cache importer pairs them), and every record whose result ends at a layer entry
 * with that diffID is named by the entry's `created_by`. Pure data: no I/O.
 */
import type { AttachedImage, CacheNames, HistoryName, LayerRow, RecordRow } from '../cache/view-types';
import type { ImageHistory } from '../image/history';

/** An image as far as naming needs it: its layers' diffIDs and its history. */
export interface ImageHistorySource {
  /** What the user attached (`DIR:tag`, `host/repo:tag`…), or the inline-cache source. */
  ref: string;
  configDigest: string | null;
  diffIds: readonly string[];
  history: readonly ImageHistory[];
  /** The image config an inline-cache source carries itself. */
  inline?: boolean;
}

/** The history entry that made one image layer. */
export interface LayerHistory {
  history: number;
  createdBy: string | null;
  created: string | null;
}

/**
 * Pairs each image layer with its history entry: layer i ↔ the i-th entry without `empty_layer`.
 * Entries past the last layer name nothing (BuildKit marks them empty); layers past the last entry
 * have no history (BuildKit would add one from the layer's own description).
 */
export function pairHistory(image: Pick<ImageHistorySource, 'diffIds' | 'history'>): { perLayer: (LayerHistory | null)[]; notes: string[] } {
  const perLayer: (LayerHistory | null)[] = image.diffIds.map(() => null);
  let k = 0;
  let extra = 0;
  let unnamed = 0;
  image.history.forEach((h, i) => {
    if (h.empty_layer === true) return;
    if (k >= perLayer.length) {
      extra++;
      return;
    }
    const createdBy = h.created_by?.trim() ? h.created_by : null;
    if (!createdBy) unnamed++;
    perLayer[k++] = { history: i, createdBy, created: h.created ?? null };
  });
  const notes: string[] = [];
  const layers = perLayer.length;
  if (extra > 0) notes.push(`the history has ${k + extra} entries with a layer but the image has ${layers} layer${layers === 1 ? '' : 's'}: the last ${extra} name nothing`);
  if (k < layers) notes.push(`the image has ${layers} layers but only ${k} history entr${k === 1 ? 'y' : 'ies'} with a layer: layer${layers - k === 1 ? '' : 's'} ${k}${layers - k > 1 ? `–${layers - 1}` : ''} ha${layers - k === 1 ? 's' : 've'} no name`);
  if (unnamed > 0) notes.push(`${unnamed} history entr${unnamed === 1 ? 'y has' : 'ies have'} no created_by`);
  return { perLayer, notes };
}

type LayerLike = Pick<LayerRow, 'diffID' | 'parent'>;
type RecordLike = Pick<RecordRow, 'stack'>;

/**
 * For each layer entry: its position in the image when its whole chain (base first) is the image's
 * first layers, else -1. A looping or broken parent chain matches nothing.
 */
export function chainPositions(layers: readonly LayerLike[], diffIds: readonly string[]): Int32Array {
  const n = layers.length;
  const UNKNOWN = -2;
  const pos = new Int32Array(n).fill(UNKNOWN);
  const onWalk = new Uint8Array(n);
  for (let e = 0; e < n; e++) {
    if (pos[e] !== UNKNOWN) continue;
    const walk: number[] = [];
    for (let cur = e; cur >= 0 && cur < n && pos[cur] === UNKNOWN && !onWalk[cur]; cur = layers[cur].parent) {
      onWalk[cur] = 1;
      walk.push(cur);
    }
    // Base first: each entry's parent is settled before it (a parent still unknown closes a loop).
    for (let i = walk.length - 1; i >= 0; i--) {
      const x = walk[i];
      const { parent, diffID } = layers[x];
      let p = -1;
      if (diffID !== null) {
        if (parent === -1) p = diffIds[0] === diffID ? 0 : -1;
        else if (parent >= 0 && parent < n && pos[parent] >= 0) p = diffIds[pos[parent] + 1] === diffID ? pos[parent] + 1 : -1;
      }
      pos[x] = p;
    }
    for (const x of walk) onWalk[x] = 0;
  }
  return pos;
}

/** What a name's source says, for tooltips and the detail pane. */
function fromText(image: ImageHistorySource, history: number, match: HistoryName['match']): string {
  const what = image.inline ? `from image ${image.ref} history[${history}] (the image config carrying this inline cache)` : `from image ${image.ref} history[${history}]`;
  return match === 'diffID' ? `${what}, matched by diffID only (the layers below it differ from the image's)` : what;
}

/**
 * Names every layer entry and record the images' histories can name. A match of the whole chain
 * beats a match of the diffID alone; between equal matches the earlier image wins. Images that name
 * nothing are still listed, with `matchedLayers` 0.
 */
export function historyNames(layers: readonly LayerLike[], records: readonly RecordLike[], images: readonly ImageHistorySource[]): CacheNames {
  const layerNames: (HistoryName | null)[] = layers.map(() => null);
  const infos: AttachedImage[] = [];
  const cacheDiffIds = new Set<string>();
  for (const l of layers) if (l.diffID) cacheDiffIds.add(l.diffID);
  for (const image of images) {
    const { perLayer, notes } = pairHistory(image);
    const positions = new Map<string, number[]>();
    image.diffIds.forEach((d, i) => {
      const at = positions.get(d);
      if (at) at.push(i);
      else positions.set(d, [i]);
    });
    const chain = chainPositions(layers, image.diffIds);
    layers.forEach((l, e) => {
      if (!l.diffID) return;
      let at = chain[e];
      let match: HistoryName['match'] = 'chain';
      if (at < 0) {
        const candidates = positions.get(l.diffID);
        if (!candidates) return;
        // A diffID the image has twice: prefer the place whose layer below is this entry's parent's content.
        const parentDiff = l.parent >= 0 ? (layers[l.parent]?.diffID ?? null) : null;
        at = candidates.find((p) => (p === 0 ? l.parent === -1 : image.diffIds[p - 1] === parentDiff)) ?? candidates[0];
        match = 'diffID';
      }
      const h = perLayer[at];
      if (!h || !h.createdBy) return;
      const prev = layerNames[e];
      if (prev && (prev.match === 'chain' || match === 'diffID')) return;
      layerNames[e] = { text: h.createdBy, from: fromText(image, h.history, match), image: image.ref, history: h.history, imageLayer: at, created: h.created, match };
    });
    const matchedLayers = image.diffIds.filter((d) => cacheDiffIds.has(d)).length;
    if (matchedLayers < image.diffIds.length && matchedLayers > 0) {
      const missing = image.diffIds.length - matchedLayers;
      notes.push(`${missing} of the image's ${image.diffIds.length} layers ${missing === 1 ? 'is' : 'are'} not in this cache`);
    }
    infos.push({ ref: image.ref, configDigest: image.configDigest, layers: image.diffIds.length, matchedLayers, namedLayers: 0, namedRecords: 0, notes, inline: image.inline === true });
  }
  const recordNames = records.map((r) => (r.stack.length > 0 ? (layerNames[r.stack[r.stack.length - 1]] ?? null) : null));
  // Counted at the end: a later image's chain match can take over an earlier image's diffID-only name.
  infos.forEach((info) => {
    info.namedLayers = layerNames.filter((nm) => nm?.image === info.ref).length;
    info.namedRecords = recordNames.filter((nm) => nm?.image === info.ref).length;
  });
  return { images: infos, layers: layerNames, records: recordNames };
}

/**
 * The name as a picture shows it: without BuildKit's ` # buildkit` suffix and the classic builder's
 * `/bin/sh -c #(nop) ` prefix (a `/bin/sh -c` command reads as the RUN it was).
 */
export function displayName(text: string): string {
  let t = text.trim().replace(/\s+# buildkit$/, '');
  const nop = /^\/bin\/sh -c #\(nop\)\s+/.exec(t);
  if (nop) t = t.slice(nop[0].length);
  else if (t.startsWith('/bin/sh -c ')) t = `RUN ${t.slice('/bin/sh -c '.length)}`;
  return t.replace(/\s+/g, ' ');
}

/** A record's name for one line of text (`COPY a.txt /a.txt`), or null when no image names it. */
export function recordName(names: CacheNames | undefined, record: number): string | null {
  const nm = names?.records[record];
  return nm ? displayName(nm.text) : null;
}
