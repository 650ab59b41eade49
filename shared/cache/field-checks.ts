/**
 * Field checks that name the file and the JSON path of what was wrong and what was expected. They
 * follow Go's encoding/json where BuildKit relies on it: a wrong type is an error, `null` reads as
 * absent.
 */
import { CacheError } from '../contract/errors';
import type { ErrorCode } from '../contract/errors';
import { describeType, digestProblem } from '../oci/digest';
import { numberAsWritten } from './json-text';
import type { Descriptor, Platform } from '../oci/types';

export function fail(code: ErrorCode, file: string, path: string, message: string): never {
  throw new CacheError(code, `${file}: ${path}: ${message}`, { file, field: path });
}

export function asObject(value: unknown, file: string, path: string, code: ErrorCode): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(code, file, path, `expected an object, got ${describeType(value)}`);
  }
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, file: string, path: string, code: ErrorCode): unknown[] {
  if (!Array.isArray(value)) fail(code, file, path, `expected an array, got ${describeType(value)}`);
  return value;
}

/** An optional array: absent or null (Go's nil slice) reads as empty. */
export function asOptionalArray(value: unknown, file: string, path: string, code: ErrorCode): unknown[] {
  return value === undefined || value === null ? [] : asArray(value, file, path, code);
}

export function asString(value: unknown, file: string, path: string, code: ErrorCode): string {
  if (typeof value !== 'string') fail(code, file, path, `expected a string, got ${describeType(value)}`);
  return value;
}

/** An optional string: absent or null reads as "". */
export function asOptionalString(value: unknown, file: string, path: string, code: ErrorCode): string {
  return value === undefined || value === null ? '' : asString(value, file, path, code);
}

/** Integers must be safe integers: 1e300 and 2^63 are refused rather than rounded, and quoted as the file wrote them. */
export function asInt(value: unknown, file: string, path: string, code: ErrorCode, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    const beyond = typeof value === 'number' && Number.isInteger(value) ? ' (beyond 2^53, where JSON numbers lose digits)' : '';
    fail(code, file, path, `expected an integer, got ${typeof value === 'number' ? numberAsWritten(value) : describeType(value)}${beyond}`);
  }
  if (value < min) fail(code, file, path, `expected an integer >= ${min}, got ${value}`);
  return value;
}

/** Digests become blob paths: only `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>` pass. */
export function asDigest(value: unknown, file: string, path: string): string {
  const problem = digestProblem(value);
  if (problem) fail('invalid-digest', file, path, problem);
  return value as string;
}

export function asStringMap(value: unknown, file: string, path: string, code: ErrorCode): Record<string, string> {
  const obj = asObject(value, file, path, code);
  for (const [k, v] of Object.entries(obj)) asString(v, file, `${path}[${JSON.stringify(k)}]`, code);
  return obj as Record<string, string>;
}

function asPlatform(value: unknown, file: string, path: string, code: ErrorCode): Platform {
  // Copied field by field: a platform object is kept, and an arbitrary (deeply nested) one must not be.
  const o = asObject(value, file, path, code);
  const p: Platform = { architecture: asOptionalString(o.architecture, file, `${path}.architecture`, code), os: asOptionalString(o.os, file, `${path}.os`, code) };
  const version = asOptionalString(o['os.version'], file, `${path}["os.version"]`, code);
  if (version) p['os.version'] = version;
  const features = asOptionalArray(o['os.features'], file, `${path}["os.features"]`, code);
  if (features.length > 0) p['os.features'] = features.map((f, i) => asString(f, file, `${path}["os.features"][${i}]`, code));
  const variant = asOptionalString(o.variant, file, `${path}.variant`, code);
  if (variant) p.variant = variant;
  return p;
}

/** Validates an OCI descriptor; the size must be a non-negative safe integer. */
export function asDescriptor(value: unknown, file: string, path: string, code: ErrorCode): Descriptor {
  const obj = asObject(value, file, path, code);
  const mediaType = asOptionalString(obj.mediaType, file, `${path}.mediaType`, code);
  const digest = asDigest(obj.digest, file, `${path}.digest`);
  const size = asInt(obj.size, file, `${path}.size`, code, 0);
  const desc: Descriptor = { mediaType, digest, size };
  if (obj.annotations !== undefined && obj.annotations !== null) desc.annotations = asStringMap(obj.annotations, file, `${path}.annotations`, code);
  if (obj.urls !== undefined && obj.urls !== null) desc.urls = asArray(obj.urls, file, `${path}.urls`, code).map((u, i) => asString(u, file, `${path}.urls[${i}]`, code));
  const data = asOptionalString(obj.data, file, `${path}.data`, code);
  if (data) desc.data = data;
  if (obj.platform !== undefined && obj.platform !== null) desc.platform = asPlatform(obj.platform, file, `${path}.platform`, code);
  const artifactType = asOptionalString(obj.artifactType, file, `${path}.artifactType`, code);
  if (artifactType) desc.artifactType = artifactType;
  return desc;
}
