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

const INT64_MAX = (1n << 63n) - 1n;

/** Go's gzip.HuffmanOnly: Huffman coding without matches (zlib's Z_HUFFMAN_ONLY strategy). */
export const GZIP_HUFFMAN_ONLY = -2;

/** Go's flate.DefaultCompression, which is level 6. */
const GZIP_DEFAULT = 6;

/**
 * The zstd levels BuildKit's encoder (klauspost/compress) can run, as the libzstd level whose ratio
 * each matches: SpeedFastest ≈ 1, SpeedDefault ≈ 3, SpeedBetterCompression ≈ 7, SpeedBestCompression ≈ 11.
 */
export const ZSTD_EFFECTIVE_LEVELS = [1, 3, 7, 11] as const;

/**
 * The level that runs for `compression` when `requested` is asked for (null: the default).
 * zstd follows `zstd.EncoderLevelFromZstd` (BuildKit's util/compression/zstd.go): below 3 → fastest,
 * 3–5 → default, 6–9 → better, 10 and above → best; without a level BuildKit's encoder runs its
 * default (≈ 3). Mapping is also what bounds memory: libzstd's level 22 takes 1.6 GB for a 10 KiB
 * cache, level 11 about 30 MB. gzip: -1 is Go's DefaultCompression (6), -2 HuffmanOnly,
 * 0..9 as given.
 */
export function effectiveLevel(compression: ExportCompression, requested: number | null): number | null {
  switch (compression) {
    case 'uncompressed':
      return null;
    case 'gzip':
      return requested === null || requested === -1 ? GZIP_DEFAULT : requested;
    case 'zstd':
      if (requested === null) return 3;
      return requested < 3 ? 1 : requested < 6 ? 3 : requested < 10 ? 7 : 11;
  }
}

/** One line for the export preview: which level runs for converted layers, and why when it is not the one asked for. */
export function describeLevel(options: Pick<ResolvedExportOptions, 'target' | 'compression' | 'level' | 'requestedLevel'>): string | null {
  const { target, requestedLevel: asked } = options;
  if (target === null) {
    return asked === null ? null : `compression-level ${asked} has no effect: no layer is converted (BuildKit applies the level only to blobs it compresses)`;
  }
  if (target === 'uncompressed') return asked === null ? null : `compression-level ${asked} has no effect on uncompressed layers`;
  const runs = options.level!;
  const shown = target === 'gzip' && runs === GZIP_HUFFMAN_ONLY ? 'level -2 (Huffman only)' : `level ${runs}`;
  if (asked === null) return `${target} ${shown} runs (the default)`;
  if (asked === runs) return `${target} ${shown} runs`;
  if (target === 'gzip') return `${target} level ${asked} runs as ${shown} (Go's DefaultCompression)`;
  const tier = runs === 1 ? 'fastest' : runs === 3 ? 'default' : runs === 7 ? 'better' : 'best';
  return `${target} level ${asked} runs as ${shown}: BuildKit's encoder maps it to its "${tier}" speed, which matches zstd level ${runs}`;
}

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
  /**
   * The level that runs when a layer is converted: BuildKit's mapping of the requested level (see
   * `effectiveLevel`), or the codec's default when none is given; null for uncompressed.
   */
  level: number | null;
  /** The `compression-level` as given, or null. */
  requestedLevel: number | null;
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
  let bigLevel: string | null = null;
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
        // strconv.ParseInt(v, 10, 64): an optional sign, decimal digits, within int64.
        if (!/^[+-]?\d+$/.test(value)) {
          invalid(`non-integer value ${value} specified for compression-level: strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`, key);
        }
        const big = BigInt(value);
        if (big > INT64_MAX || big < -INT64_MAX - 1n) {
          invalid(`non-integer value ${value} specified for compression-level: strconv.ParseInt: parsing ${JSON.stringify(value)}: value out of range`, key);
        }
        // Beyond 2^53 only the sign matters to zstd's mapping; gzip refuses it, quoting the digits as written.
        if (!Number.isSafeInteger(Number(big))) bigLevel = big.toString();
        out['compression-level'] = Number.isSafeInteger(Number(big)) ? Number(big) : big > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
        break;
      }
      case 'tag':
        out.tag = value;
        break;
      default:
        invalid(`unknown export option ${JSON.stringify(key)} (expected one of ${EXPORT_ATTRS.join(', ')})`, key);
    }
  }
  if (bigLevel !== null && (out.compression ?? DEFAULT_COMPRESSION) === 'gzip') invalid(`gzip: invalid compression level: ${bigLevel}`, 'compression-level');
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
    // Go's gzip.NewWriterLevel takes HuffmanOnly (-2), DefaultCompression (-1) and 0..9; zstd takes any integer.
    if (compression === 'gzip' && (level < GZIP_HUFFMAN_ONLY || level > 9)) invalid(`gzip: invalid compression level: ${level}`, 'compression-level');
  }
  const tag = options.tag ?? DEFAULT_TAG;
  if (tag === '') invalid('tag must not be empty', 'tag');
  return {
    oci,
    imageManifest,
    target: force ? compression : null,
    compression,
    level: effectiveLevel(compression, level),
    requestedLevel: level,
    force,
    tag,
    dropMissing: options['drop-missing'] ?? false,
    verify: options.verify ?? false,
  };
}
