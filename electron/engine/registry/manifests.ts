/**
 * Manifests as the registry serves them, checked: the Accept list of every OCI and Docker manifest
 * and index type, a 4 MiB cap (distribution's own limit), the digest of the bytes always computed
 * and compared with `Docker-Content-Digest` when sent and with the reference's digest when asked by
 * digest. A manifest that fails any check is never handed on.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { MediaType } from '../../../shared/oci/media-types';
import { headerValue } from './transport';

/** Every manifest type a cache or an image with inline cache can be stored as. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList];

export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** distribution refuses manifests above 4 MiB; so do we, before reading more. */
export const MAX_MANIFEST_BYTES = 4 << 20;

export interface ManifestInfo {
  digest: string;
  mediaType: string;
  size: number;
}

export interface FetchedManifest extends ManifestInfo {
  bytes: Buffer;
}

/** `algorithm:hex` of `bytes`, in the algorithm of `like` (sha256 unless it says sha512). */
export function digestOf(bytes: Uint8Array, like?: string): string {
  const algorithm = like && !digestProblem(like) ? parseDigest(like).algorithm : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** The media type without parameters (`; charset=utf-8`), lower-cased. */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** A manifest's media type: the body's own `mediaType` when present, else Content-Type. */
export function manifestMediaType(bytes: Buffer, contentType: string | undefined): string {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof parsed?.mediaType === 'string' && parsed.mediaType) return parsed.mediaType;
  } catch {
    /* not JSON: the parser above us reports that, with the file and field */
  }
  return bareMediaType(contentType);
}

/** Checks a GET answer's bytes against every digest we know; returns the verified manifest. */
export function checkManifest(what: string, bytes: Buffer, headers: IncomingHttpHeaders, expectedDigest?: string): FetchedManifest {
  const served = headerValue(headers['docker-content-digest']);
  const computed = digestOf(bytes, expectedDigest);
  if (expectedDigest && computed !== expectedDigest) {
    throw new CacheError('digest-mismatch', `${what}: the registry sent bytes of ${computed}, not the requested ${expectedDigest}`, { expected: expectedDigest, actual: computed, field: 'digest' });
  }
  if (served && !digestProblem(served)) {
    const check = digestOf(bytes, served);
    if (check !== served) {
      throw new CacheError('digest-mismatch', `${what}: Docker-Content-Digest says ${served} but the bytes are ${check}`, { expected: served, actual: check, field: 'Docker-Content-Digest' });
    }
  }
  return { bytes, digest: expectedDigest ?? computed, mediaType: manifestMediaType(bytes, headerValue(headers['content-type'])), size: bytes.length };
}

/** Refuses before reading when Content-Length already says the manifest is too big. */
export function checkManifestLength(what: string, headers: IncomingHttpHeaders, maxBytes: number): void {
  const length = Number(headerValue(headers['content-length']));
  if (Number.isFinite(length) && length > maxBytes) {
    throw new CacheError('too-large', `${what}: the manifest is ${length} bytes, more than the ${maxBytes} allowed`, { size: length, limit: maxBytes });
  }
}
