/**
 * Image configs as moby's image exporter writes them: the empty config (emptyImageConfig) and the
 * patch that sets rootfs, history, created and the inline cache (patchImageConfig).
 */
import { CacheError } from '../contract/errors';
import { goArray, goBool, goMarshal, goPointer, goString, goStruct } from '../json/go-json';
import type { GoSchema } from '../json/go-json';
import { marshalPatchedImageConfig } from '../cache/serialize';
import { Annotation } from '../oci/media-types';
import type { Platform } from '../oci/types';
import { lastCreated } from './history';
import type { ImageHistory } from './history';

/** system.DefaultPathEnv for Linux (and every non-Windows OS). */
export const DEFAULT_PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** ocispec.History field order. */
const historySchema: GoSchema = goStruct([
  ['created', goString, true],
  ['created_by', goString, true],
  ['author', goString, true],
  ['comment', goString, true],
  ['empty_layer', goBool, true],
]);

const rootfsSchema: GoSchema = goStruct([
  ['type', goString],
  ['diff_ids', goArray(goString)],
]);

/** ocispec.Image with only what emptyImageConfig sets. */
const emptyImageSchema: GoSchema = goStruct([
  ['architecture', goString],
  ['os', goString],
  ['os.version', goString, true],
  ['os.features', goArray(goString), true],
  ['variant', goString, true],
  ['config', goStruct([
    ['Env', goArray(goString), true],
    ['WorkingDir', goString, true],
  ])],
  ['rootfs', goPointer(rootfsSchema)],
]);

/** BuildKit's empty image config for `platform`: os, architecture, the default PATH, WorkingDir `/`. */
export function emptyImageConfig(platform: Platform): string {
  const windows = platform.os === 'windows';
  return goMarshal(
    {
      architecture: platform.architecture,
      os: platform.os,
      'os.version': platform['os.version'],
      'os.features': platform['os.features'],
      variant: platform.variant,
      config: { Env: windows ? [] : [`PATH=${DEFAULT_PATH_ENV}`], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: null },
    },
    emptyImageSchema,
  );
}

/** Reads `text` as an image config (a JSON object with `os` and `architecture` strings); throws naming `file` and the field. */
export function parseImageConfig(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CacheError('invalid-config', `${file}: not an image config: not JSON (${(err as Error).message})`, { file });
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new CacheError('invalid-config', `${file}: not an image config: expected a JSON object`, { file });
  }
  const obj = value as Record<string, unknown>;
  if ('layers' in obj && 'records' in obj) throw new CacheError('invalid-config', `${file}: not an image config: this is a cache config (layers, records)`, { file });
  if ('schemaVersion' in obj || 'manifests' in obj) throw new CacheError('invalid-config', `${file}: not an image config: this is a manifest or index (schemaVersion)`, { file });
  for (const field of ['os', 'architecture'] as const) {
    if (typeof obj[field] !== 'string' || obj[field] === '') {
      throw new CacheError('invalid-config', `${file}: not an image config: ${field}: expected a non-empty string, got ${JSON.stringify(obj[field]) ?? 'nothing'}`, { file, field });
    }
  }
  for (const field of ['config', 'rootfs'] as const) {
    if (obj[field] !== undefined && obj[field] !== null && (typeof obj[field] !== 'object' || Array.isArray(obj[field]))) {
      throw new CacheError('invalid-config', `${file}: not an image config: ${field}: expected an object`, { file, field });
    }
  }
  if (obj.history !== undefined && obj.history !== null && !Array.isArray(obj.history)) {
    throw new CacheError('invalid-config', `${file}: not an image config: history: expected an array`, { file, field: 'history' });
  }
  return obj;
}

/** The config's history (parseHistoryFromConfig), each entry checked. */
export function historyOf(config: Record<string, unknown>, file: string): ImageHistory[] {
  const raw = config.history;
  if (raw === undefined || raw === null) return [];
  return (raw as unknown[]).map((h, i) => {
    if (!h || typeof h !== 'object' || Array.isArray(h)) throw new CacheError('invalid-config', `${file}: history[${i}]: expected an object`, { file, field: `history[${i}]` });
    const o = h as Record<string, unknown>;
    const out: ImageHistory = {};
    for (const k of ['created', 'created_by', 'author', 'comment'] as const) {
      if (o[k] === undefined || o[k] === null) continue;
      if (typeof o[k] !== 'string') throw new CacheError('invalid-config', `${file}: history[${i}].${k}: expected a string`, { file, field: `history[${i}].${k}` });
      out[k] = o[k] as string;
    }
    if (o.empty_layer === true) out.empty_layer = true;
    return out;
  });
}

export interface PatchInput {
  diffIDs: readonly string[];
  history: readonly ImageHistory[];
  /** The inline cache payload (marshalled records) already base64-encoded, for `moby.buildkit.cache.v0`. */
  inlineCacheBase64: string | null;
}

/** patchImageConfig: a Go map of raw values, so top-level keys come out sorted; `created` only when absent. */
export function patchImageConfig(config: Record<string, unknown>, input: PatchInput): string {
  const m: Record<string, unknown> = { ...config };
  m.rootfs = JSON.parse(goMarshal({ type: 'layers', diff_ids: input.diffIDs.length > 0 ? [...input.diffIDs] : null }, rootfsSchema));
  m.history = JSON.parse(goMarshal(input.history.length > 0 ? input.history : null, goArray(historySchema)));
  if (!('created' in m)) m.created = lastCreated(input.history);
  if (input.inlineCacheBase64 !== null) m[Annotation.inlineCacheKey] = input.inlineCacheBase64;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort(compareBytes)) sorted[k] = m[k];
  return marshalPatchedImageConfig(sorted);
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
