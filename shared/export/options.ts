/**
 * Export options with BuildKit's names, defaults and error texts: parsing `key=value` attributes
 * (cache/remotecache/local + util/compression/attrs.go) and resolving them into one decided shape.
 */
import { CacheError } from '../contract/errors';
import type { ExportCompression, ExportOptions } from './types';

/** Every attribute `--opt` accepts. BuildKit's own (first six) plus cachescope's two. */
export const EXPORT_ATTRS = ['oci-mediatypes', 'image-manifest', 'compression', 'compression-level', 'force-compression', 'tag', 'drop-missing', 'verify'] as const;

export const IMAGE_MANIFEST_NEEDS_OCI = 'invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format';

/** BuildKit's default compression for blobs it has to create (util/compression `Default`). */
export const DEFAULT_COMPRESSION: ExportCompression = 'gzip';

export const DEFAULT_TAG = 'latest';

export interface ResolvedExportOptions {
  oci: boolean;
  imageManifest: boolean;
  /**
   * The compression layers are converted to, or null when no layer is converted. See
   * `resolveExportOptions` for the rule.
   */
  target: ExportCompression | null;
  /** The requested compression (BuildKit's default gzip when not given); informative when `target` is null. */
  compression: ExportCompression;
  level: number | null;
  force: boolean;
  tag: string;
  dropMissing: boolean;
  verify: boolean;
}

function invalid(message: string, field: string): never {
  throw new CacheError('invalid-options', message, { field });
}

/** Go's strconv.ParseBool: exactly these spellings. */
function parseGoBool(value: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return null;
}

function goBoolError(value: string): string {
  return `strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`;
}

/**
 * Parses BuildKit-style attributes (`--opt key=value`) into options, with BuildKit's messages:
 * `failed to parse oci-mediatypes: …`, `non-bool value x specified for force-compression: …`,
 * `non-integer value x specified for compression-level: …`, `unsupported compression type x`.
 */
export function parseExportAttrs(attrs: ReadonlyArray<readonly [string, string]>): ExportOptions {
  const out: ExportOptions = {};
  for (const [key, value] of attrs) {
    switch (key) {
      case 'oci-mediatypes':
      case 'image-manifest':
      case 'drop-missing':
      case 'verify': {
        const b = parseGoBool(value);
        if (b === null) invalid(`failed to parse ${key}: ${goBoolError(value)}`, key);
        out[key] = b;
        break;
      }
      case 'force-compression': {
        // util/compression/attrs.go: an empty value means true.
        const b = value === '' ? true : parseGoBool(value);
        if (b === null) invalid(`non-bool value ${value} specified for force-compression: ${goBoolError(value)}`, key);
        out[key] = b;
        break;
      }
      case 'compression':
        out.compression = parseCompression(value);
        break;
      case 'compression-level': {
        if (!/^[+-]?\d+$/.test(value)) {
          invalid(`non-integer value ${value} specified for compression-level: strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`, key);
        }
        out['compression-level'] = Number(value);
        break;
      }
      case 'tag':
        out.tag = value;
        break;
      default:
        invalid(`unknown export option ${JSON.stringify(key)} (expected one of ${EXPORT_ATTRS.join(', ')})`, key);
    }
  }
  return out;
}

/** util/compression `Parse`, limited to the compressions cachescope can write. */
export function parseCompression(value: string): ExportCompression {
  if (value === 'uncompressed' || value === 'gzip' || value === 'zstd') return value;
  if (value === 'estargz' || value === 'nydus') {
    invalid(`unsupported compression type ${value} (cachescope writes uncompressed, gzip or zstd layers)`, 'compression');
  }
  invalid(`unsupported compression type ${value}`, 'compression');
}

/**
 * Decides every option.
 *
 * Media types and form (cache/remotecache/local): `oci-mediatypes` defaults to true;
 * `image-manifest` defaults to true, except that `oci-mediatypes=false` without an explicit
 * `image-manifest` turns it off; `image-manifest=true` with `oci-mediatypes=false` is BuildKit's
 * configuration error.
 *
 * Compression. BuildKit's `compression` (default gzip) is the compression of blobs it has to
 * *create*; a layer that already has a blob keeps it unless `force-compression` is set
 * (refs.go `getRemote` → `needsForceCompression`, then `NeedsConversion` compares media types).
 * Every layer of a cache we export already has a blob, so:
 *   - a layer is converted exactly when `force-compression` is true and its actual compression
 *     (magic bytes win over a lying media type) differs from the target; the target is
 *     `compression`, or BuildKit's default gzip when only `force-compression` is given;
 *   - `compression` without `force-compression` converts nothing (BuildKit prints no warning
 *     either: the option only governs new blobs);
 *   - the level never triggers a conversion on its own: BuildKit's `NeedsConversion` looks at the
 *     compression type only, so a gzip layer stays as it is under `compression=gzip,compression-level=9`.
 * A layer whose compression is "not acceptable" is one whose media type does not match its bytes:
 * its blob is kept but its descriptor gets the media type of the detected compression (plan-export).
 */
export function resolveExportOptions(options: ExportOptions): ResolvedExportOptions {
  const oci = options['oci-mediatypes'] ?? true;
  let imageManifest: boolean;
  if (options['image-manifest'] !== undefined) imageManifest = options['image-manifest'];
  else imageManifest = options['oci-mediatypes'] === false ? false : true;
  if (imageManifest && !oci) invalid(IMAGE_MANIFEST_NEEDS_OCI, 'image-manifest');
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const force = options['force-compression'] ?? false;
  const level = options['compression-level'] ?? null;
  if (level !== null) {
    if (!Number.isInteger(level)) invalid(`non-integer value ${String(level)} specified for compression-level`, 'compression-level');
    // The codecs' own limits: Go's gzip.NewWriterLevel and zstd's level table.
    if (compression === 'gzip' && (level < 0 || level > 9)) invalid(`gzip: invalid compression level: ${level}`, 'compression-level');
    if (compression === 'zstd' && (level < 0 || level > 22)) invalid(`zstd: invalid compression level: ${level} (expected 0 to 22)`, 'compression-level');
  }
  const tag = options.tag ?? DEFAULT_TAG;
  if (tag === '') invalid('tag must not be empty', 'tag');
  return {
    oci,
    imageManifest,
    target: force ? compression : null,
    compression,
    level: compression === 'uncompressed' ? null : level,
    force,
    tag,
    dropMissing: options['drop-missing'] ?? false,
    verify: options.verify ?? false,
  };
}
