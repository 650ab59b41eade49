/** Image history normalised against the layers, as moby's exporter does (normalizeLayersAndHistory). */

/** An OCI image config history entry (ocispec.History): every field omitempty. */
export interface ImageHistory {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** What a layer's descriptor tells about it: `buildkit/createdat` and `buildkit/description`. */
export interface LayerMeta {
  createdAt: string | null;
  description: string | null;
}

/** The comment BuildKit gives history entries it adds for layers the config did not account for. */
export const EXPORTER_COMMENT = 'buildkit.exporter.image.v0';

export interface NormalizedHistory {
  history: ImageHistory[];
  /** Set when the config named more layers than the image has (moby logs `invalid image config with unaccounted layers`). */
  warning: string | null;
}

/**
 * Pairs history with `layers.length` layers: entries past the last layer are marked empty, missing
 * entries are added from the layers' metadata, and a non-empty entry without `created` takes its layer's time.
 */
export function normalizeHistory(history: readonly ImageHistory[], layers: readonly LayerMeta[]): NormalizedHistory {
  let out = history.map((h) => ({ ...h }));
  const historyLayers = out.filter((h) => !h.empty_layer).length;
  let warning: string | null = null;
  if (historyLayers > layers.length) {
    // This should not happen; moby then marks every entry after the last layer empty.
    warning = `invalid image config with unaccounted layers: history names ${historyLayers} layers, the image has ${layers.length}`;
    let l = 0;
    out = out.map((h) => {
      const e = l >= layers.length ? { ...h, empty_layer: true } : h;
      if (!e.empty_layer) l++;
      return e;
    });
  }
  if (layers.length > historyLayers) {
    for (const md of layers.slice(historyLayers)) {
      const h: ImageHistory = {};
      if (md.createdAt) h.created = md.createdAt;
      if (md.description) h.created_by = md.description;
      h.comment = EXPORTER_COMMENT;
      out.push(h);
    }
  }
  let layerIndex = 0;
  for (const h of out) {
    if (h.empty_layer) continue;
    if (h.created === undefined && layers[layerIndex]?.createdAt) h.created = layers[layerIndex].createdAt!;
    layerIndex++;
  }
  return { history: out, warning };
}

/** The image's `created`: the last history entry that has one (moby's patchImageConfig), else null. */
export function lastCreated(history: readonly ImageHistory[]): string | null {
  let t: string | null = null;
  for (const h of history) if (h.created !== undefined) t = h.created;
  return t;
}
