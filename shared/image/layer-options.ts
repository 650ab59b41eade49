/**
 * The layer options of an image export: BuildKit's `compression`, `compression-level`,
 * `force-compression` and `oci-mediatypes`, with the cache export's names, defaults and errors
 * (shared/export/options.ts). Layers keep their compression unless `force-compression` asks for another.
 */
import { CacheError } from '../contract/errors';
import { resolveExportOptions } from '../export/options';
import type { ExportCompression, ExportOptions } from '../export/types';

/** The attributes an image export takes (the cache export's others, `tag`, `image-manifest`, … do not apply). */
export const IMAGE_LAYER_ATTRS = ['oci-mediatypes', 'compression', 'compression-level', 'force-compression'] as const;

export type ImageLayerOptions = Pick<ExportOptions, (typeof IMAGE_LAYER_ATTRS)[number]>;

export interface ResolvedImageLayers {
  /** OCI manifest, config and layer media types (default), or Docker's. */
  oci: boolean;
  /** The compression layers are converted to, or null: every layer keeps its own. */
  target: ExportCompression | null;
  /** The level a conversion runs (BuildKit's mapping), null for the codec default or uncompressed. */
  level: number | null;
  /** One line on what the options do, for previews and logs; null when nothing is converted. */
  describe: string | null;
}

/** Decides the layer options; a key that only the cache export knows is an error naming it. */
export function resolveImageLayers(options: ExportOptions = {}): ResolvedImageLayers {
  for (const key of Object.keys(options)) {
    if (!(IMAGE_LAYER_ATTRS as readonly string[]).includes(key)) {
      throw new CacheError('invalid-options', `${key} does not apply to an image export (it takes ${IMAGE_LAYER_ATTRS.join(', ')})`, { field: key });
    }
  }
  // image-manifest is a cache-export form: switched off so oci-mediatypes=false is not BuildKit's cache error.
  const r = resolveExportOptions({ ...options, 'image-manifest': false });
  let describe: string | null = null;
  if (r.target !== null) describe = `layers not already ${r.target} are converted to ${r.target}${r.level !== null ? ` (level ${r.level})` : ''}`;
  else if (options.compression !== undefined) describe = `compression=${options.compression} without force-compression converts nothing: layers keep their compression, as in BuildKit`;
  return { oci: r.oci, target: r.target, level: r.target === null || r.target === 'uncompressed' ? null : r.level, describe };
}
