/** Field checks that name the file and the JSON path of what was wrong and what was expected. */
import { CacheError } from '../contract/errors';
import type { ErrorCode } from '../contract/errors';
import { describeType, digestProblem } from '../oci/digest';
import type { Descriptor } from '../oci/types';

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

export function asString(value: unknown, file: string, path: string, code: ErrorCode): string {
  if (typeof value !== 'string') fail(code, file, path, `expected a string, got ${describeType(value)}`);
  return value;
}

export function asInt(value: unknown, file: string, path: string, code: ErrorCode, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    fail(code, file, path, `expected an integer, got ${typeof value === 'number' ? String(value) : describeType(value)}`);
  }
  if (value < min) fail(code, file, path, `expected an integer >= ${min}, got ${value}`);
  return value;
}

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

/** Validates an OCI descriptor; the size must be a non-negative safe integer. */
export function asDescriptor(value: unknown, file: string, path: string, code: ErrorCode): Descriptor {
  const obj = asObject(value, file, path, code);
  const mediaType = obj.mediaType === undefined ? '' : asString(obj.mediaType, file, `${path}.mediaType`, code);
  const digest = asDigest(obj.digest, file, `${path}.digest`);
  const size = asInt(obj.size, file, `${path}.size`, code, 0);
  const desc: Descriptor = { mediaType, digest, size };
  if (obj.annotations !== undefined && obj.annotations !== null) desc.annotations = asStringMap(obj.annotations, file, `${path}.annotations`, code);
  if (obj.urls !== undefined && obj.urls !== null) desc.urls = asArray(obj.urls, file, `${path}.urls`, code).map((u, i) => asString(u, file, `${path}.urls[${i}]`, code));
  if (typeof obj.data === 'string') desc.data = obj.data;
  if (obj.platform !== undefined && obj.platform !== null) desc.platform = asObject(obj.platform, file, `${path}.platform`, code) as unknown as Descriptor['platform'];
  if (typeof obj.artifactType === 'string') desc.artifactType = obj.artifactType;
  return desc;
}
