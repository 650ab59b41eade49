/**
 * Blob and manifest uploads (the distribution spec v1.1, registries.md §4): HEAD first and skip what
 * the registry has; a cross-repository mount when the blob lives in another repository of the same
 * registry; monolithic POST+PUT for small blobs, chunked PATCH for large ones. A chunked upload
 * always continues from the newest `Location` (distribution 2.8 signs the offset into it); after a
 * dropped connection or a failed PATCH it asks the registry where the upload stands (GET → `Range`)
 * and goes on from there; a 413 halves the chunk; ECR's 201 on PATCH is taken as 202. With a
 * `stateDir`, the newest Location and offset (and the registry's OCI-Chunk-Min-Length, which only
 * the POST announces) are kept on disk (written atomically) after every chunk, so a killed process
 * resumes the blob; a forgotten upload (404) or a stale Location (416)
 * starts that blob over. A PUT whose answer was lost is checked with HEAD first: the blob may have
 * landed. 404 or 416 on a PATCH or PUT is asked about (GET), never taken as the end of the push.
 *
 * What distribution 2.8 really does (measured in test/integration/registry/push-resume-large.test.ts):
 * a connection cut before a chunk's body arrives loses nothing (resume at the last acknowledged
 * chunk); a cut in the middle of a body leaves the bytes that did arrive in the session, but 2.8
 * never hands out a Location for that size, so every later request on the session, GET included,
 * answers 404 BLOB_UPLOAD_INVALID ("upload resumed at wrong offest" in its log) and the blob starts
 * over in a new session. A stale Location gets the same 404 (not 416), while the newest one keeps
 * working. Registries that report a partial chunk in `Range` resume from there.
 *
 * Verification: every byte read from the local file is hashed on its way out (unless the caller
 * says the file is already verified: a remembered verification, a download hashed on its way in,
 * bytes we made ourselves), and the request that commits the blob (the monolithic PUT, or the final
 * PUT with the last chunk) is sent only once the whole file hashed to the digest. A blob that fits
 * one PUT is thus verified before any of its bytes leave; a chunked one before it can land. A
 * mismatch cancels the session (DELETE), drops its saved state and fails naming the file. A resumed
 * upload hashes the bytes the registry already holds from the local file first (nothing is sent).
 *
 * Speed (bench/push-bench.ts; the push is CPU-bound on loopback, and distribution's own hashing and
 * writing, ~3.3 s of CPU per GiB here, is most of it): every answer is read to its end so its
 * keep-alive connection serves the next request (`discard()` closed it: ~230 connections per GiB
 * pushed, which cost the registry ~0.3 s of CPU; now the 4 lanes keep their 4-8); chunk buffers come
 * from a small pool instead of a fresh allocation per request (~0.6 s of GC per GiB on the main
 * thread, more than hashing it). 8, 16 or 32 MiB chunks and monolithic PUTs measured the same within
 * noise once connections were kept, so the default stays 8 MiB (less memory, finer resume).
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import type { Descriptor } from '../../../shared/oci/types';
import { makeDirs } from '../store/atomic-file';
import { repositoryScope } from './auth';
import type { RegistryClient } from './client';
import { explainRejection } from './push-advice';
import type { Reference, RepositoryRef } from './reference';
import { formatReference } from './reference';
import { responseError, scrub } from './registry-error';
import { abortError, isRetryableError } from './retry';
import type { HttpMethod, TransportResponse } from './transport';
import { headerValue } from './transport';

/** What `RegistryClient.uploadRequest` takes. */
export interface UploadRequest {
  method: HttpMethod;
  scopes: string[];
  headers?: Record<string, string>;
  body?: Buffer;
  /** false for PATCH/PUT of data: a blind re-send to a stale Location cannot succeed (we resume instead). */
  retry?: boolean;
  /** Redirects followed (default none). */
  maxRedirects?: number;
  signal?: AbortSignal;
  action: string;
}

export type BlobPushOutcome = 'exists' | 'mounted' | 'uploaded' | 'resumed';

export interface BlobPushResult {
  outcome: BlobPushOutcome;
  /** Blob bytes sent in request bodies (0 for exists/mounted). */
  bytesSent: number;
  /** Where a resumed upload started (bytes the registry already had), else null. */
  resumedFrom: number | null;
}

export interface PushBlobOptions {
  signal?: AbortSignal;
  /** Another repository of the same registry that holds the blob: try a mount first. */
  mountFrom?: string | null;
  /** Skip the HEAD (the caller knows the blob is absent). */
  skipHead?: boolean;
  /** Blobs up to this size go in one PUT (default: the chunk size). */
  monolithicMax?: number;
  /** PATCH chunk size (default 8 MiB; raised to the registry's OCI-Chunk-Min-Length). */
  chunkSize?: number;
  /**
   * The file is known to hold the digest (a remembered verification, a download hashed on its way in,
   * bytes made here): send without hashing. Otherwise every byte is hashed and the blob is committed
   * only when the file hashed to its digest (see the module comment).
   */
  verified?: boolean;
  /** Per-user folder for resumable upload state (across runs), or null/undefined for none. */
  stateDir?: string | null;
  /** Told when the blob's state changes (`uploading`, `resumed`…). */
  onState?: (state: 'uploading' | 'resumed', offset: number) => void;
  /** Bytes the registry holds so far for this blob. */
  onProgress?: (bytes: number) => void;
}

export interface MountResult {
  mounted: boolean;
  /** The upload session a 202 opened instead (absolute Location), or null. */
  location: string | null;
  minChunk: number | null;
}

export interface ManifestPutResult {
  digest: string;
  location: string | null;
}

export const DEFAULT_CHUNK_SIZE = 8 << 20;
/** Never halve below this on 413: a proxy that refuses 64 KiB bodies is not a size problem. */
const MIN_CHUNK_ON_413 = 64 << 10;
/** Failures in a row without the registry gaining a byte before giving up on a blob. */
const MAX_STALLS = 6;

function pushScopes(repository: string, from?: string | null): string[] {
  const scopes = [repositoryScope(repository, 'pull,push')];
  // A mount asks only `pull` on the source repository (registries.md §2).
  if (from && from !== repository) scopes.push(repositoryScope(from, 'pull'));
  return scopes;
}

function absoluteLocation(res: TransportResponse, what: string, host: string): string {
  const loc = headerValue(res.headers.location);
  if (!loc) throw new CacheError('io', `${what}: the registry answered ${res.status} without a Location for the upload`, { host, field: 'Location' });
  return new URL(loc, res.url).href;
}

/** `Range: 0-N` (or `bytes=0-N`) → N+1 bytes held; absent → null. distribution writes `0-0` for an empty upload: taken as 0. */
export function rangeEnd(value: string | undefined): number | null {
  const m = /^(?:bytes=)?(\d+)-(\d+)$/.exec((value ?? '').trim());
  if (!m) return null;
  return Number(m[2]) === 0 ? 0 : Number(m[2]) + 1;
}

/** A dropped connection, raw or as the transport's CacheError (which keeps the errno). */
function isDropped(err: unknown): boolean {
  if (isRetryableError(err)) return true;
  const errno = err instanceof CacheError && err.code === 'io' ? err.details?.errno : undefined;
  return typeof errno === 'string' && isRetryableError(Object.assign(new Error(errno), { code: errno }));
}

/** Short answers (upload sessions answer with empty bodies) are read to their end. */
const SHORT_ANSWER = 64 << 10;

/**
 * Done with an answer: a short body is read to its end, so its keep-alive connection goes back to the
 * pool (`discard()` closes the connection when the body has not ended yet, and a new connection per
 * request costs both sides a handshake and the registry a new connection state); a long or unknown one is dropped.
 */
async function finish(res: TransportResponse, head = false): Promise<void> {
  // A HEAD answer never has a body (its Content-Length is the blob's).
  const declared = head ? 0 : Number(headerValue(res.headers['content-length']) ?? NaN);
  if (!(declared <= SHORT_ANSWER)) return res.discard();
  await res.text(SHORT_ANSWER).catch(() => res.discard());
}

function minChunkOf(res: TransportResponse): number | null {
  const v = Number(headerValue(res.headers['oci-chunk-min-length']) ?? NaN);
  return Number.isSafeInteger(v) && v > 0 ? v : null;
}

async function failure(res: TransportResponse, what: string, host: string, context: Parameters<typeof explainRejection>[1]): Promise<CacheError> {
  const body = await res.text();
  return explainRejection(responseError({ action: what, status: res.status, statusText: res.statusText, body, host }), { ...context, status: res.status, challenge: headerValue(res.headers['www-authenticate']) });
}

/**
 * Where the upload state of one blob lives: `<stateDir>/<host>/<repo>/<algo>-<hex>.json`. The digest
 * must parse and no part may be `.`/`..`, so no digest, host or repository can name a file outside `stateDir`.
 */
export function uploadStateFile(stateDir: string, repo: RepositoryRef, digest: string): string {
  const problem = digestProblem(digest);
  if (problem) throw new CacheError('invalid-options', `upload state for ${repo.registry}/${repo.repository}: digest: ${problem}`, { field: 'digest' });
  const { algorithm, hex } = parseDigest(digest);
  const safeHost = repo.registry.toLowerCase().replace(/[^a-z0-9.-]/g, '_');
  const parts = [safeHost, ...repo.repository.split('/')];
  if (parts.some((p) => p === '' || p === '.' || p === '..' || /[\\/\0]/.test(p))) {
    throw new CacheError('invalid-options', `upload state for ${JSON.stringify(`${repo.registry}/${repo.repository}`)}: the registry or repository is not a safe folder name`, { field: 'repository' });
  }
  const file = join(stateDir, ...parts, `${algorithm}-${hex}.json`);
  const inside = relative(resolve(stateDir), resolve(file));
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new CacheError('invalid-options', `upload state for ${repo.registry}/${repo.repository}: ${file} is outside ${stateDir}`, { field: 'repository' });
  }
  return file;
}

interface SavedUpload {
  location: string;
  offset: number;
  size: number;
  /** The session's OCI-Chunk-Min-Length: announced on the POST only, which a resumed run never sees. */
  minChunk?: number | null;
}

async function loadState(file: string | null, size: number): Promise<SavedUpload | null> {
  if (!file) return null;
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<SavedUpload>;
    if (typeof v.location === 'string' && typeof v.offset === 'number' && v.size === size && v.offset >= 0 && v.offset <= size) {
      const minChunk = Number.isSafeInteger(v.minChunk) && (v.minChunk as number) > 0 ? (v.minChunk as number) : null;
      return { location: v.location, offset: v.offset, size: v.size, minChunk };
    }
  } catch {
    /* absent or unreadable: start over */
  }
  return null;
}

/** State folders made by this process: one mkdir per folder, not one per chunk. */
const madeStateDirs = new Set<string>();

async function saveState(file: string | null, state: SavedUpload): Promise<void> {
  if (!file) return;
  // Atomic: a kill mid-write leaves the previous state, never half a file.
  const dir = dirname(file);
  if (!madeStateDirs.has(dir)) {
    await makeDirs(dir);
    madeStateDirs.add(dir);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(state));
  } catch (err) {
    // The folder was removed since (a cleared cache): make it again once.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await makeDirs(dir);
    await writeFile(tmp, JSON.stringify(state));
  }
  await rename(tmp, file);
}

/** Forgets the saved upload of a blob the registry has now (found by HEAD or mounted). */
export async function forgetUpload(stateDir: string | null | undefined, repo: RepositoryRef, digest: string): Promise<void> {
  if (stateDir) await dropState(uploadStateFile(stateDir, repo, digest));
}

async function dropState(file: string | null): Promise<void> {
  if (file) await rm(file, { force: true }).catch(() => undefined);
}

/** See the module comment. */
export async function mountBlob(client: RegistryClient, repo: RepositoryRef, digest: string, from: string, options: { signal?: AbortSignal } = {}): Promise<MountResult> {
  const what = `mount blob ${digest} from ${repo.registry}/${from} into ${repo.registry}/${repo.repository}`;
  const res = await client.uploadRequest(repo.registry, `/v2/${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
    method: 'POST',
    scopes: pushScopes(repo.repository, from),
    headers: { 'content-length': '0' },
    signal: options.signal,
    action: what,
  });
  if (res.status === 201) {
    await finish(res);
    return { mounted: true, location: null, minChunk: null };
  }
  if (res.status === 202) {
    await finish(res);
    return { mounted: false, location: absoluteLocation(res, what, repo.registry), minChunk: minChunkOf(res) };
  }
  // 401/403 (no pull on the source) and anything else: the caller falls back to a plain upload.
  await finish(res);
  return { mounted: false, location: null, minChunk: null };
}

async function startUpload(client: RegistryClient, repo: RepositoryRef, signal?: AbortSignal): Promise<{ location: string; minChunk: number | null }> {
  const what = `POST blob upload to ${repo.registry}/${repo.repository}`;
  const res = await client.uploadRequest(repo.registry, `/v2/${repo.repository}/blobs/uploads/`, {
    method: 'POST',
    scopes: pushScopes(repo.repository),
    headers: { 'content-length': '0' },
    signal,
    action: what,
  });
  if (res.status !== 202) throw await failure(res, what, repo.registry, { kind: 'blob', repo });
  await finish(res);
  return { location: absoluteLocation(res, what, repo.registry), minChunk: minChunkOf(res) };
}

/** GET the upload URL: bytes held, or null when the registry forgot the upload or refuses this Location (404, 416…). */
async function uploadStatus(client: RegistryClient, repo: RepositoryRef, location: string, signal?: AbortSignal): Promise<{ offset: number; location: string; minChunk: number | null } | null> {
  let res: TransportResponse;
  try {
    res = await client.uploadRequest(repo.registry, location, { method: 'GET', scopes: pushScopes(repo.repository), signal, action: `GET upload status on ${repo.registry}/${repo.repository}` });
  } catch (err) {
    if (signal?.aborted) throw err;
    return null;
  }
  await finish(res);
  if (res.status !== 204 && res.status !== 200) return null;
  const held = rangeEnd(headerValue(res.headers.range)) ?? 0;
  const loc = headerValue(res.headers.location);
  return { offset: held, location: loc ? new URL(loc, res.url).href : location, minChunk: minChunkOf(res) };
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.href;
}

/**
 * Chunk buffers, reused across requests and blobs: a fresh 8 MiB allocation per request makes V8
 * collect garbage constantly. A buffer goes back only after a 2xx answer (the registry read the whole
 * body); after anything else the socket may still hold it, so it is left to the GC. The pool empties
 * when no push is running, so an idle app keeps nothing.
 */
const bufferPool: Buffer[] = [];
const POOL_MAX = 8;
let pushesRunning = 0;

function takeBuffer(length: number): Buffer {
  const i = bufferPool.findIndex((b) => b.length >= length);
  const buf = i >= 0 ? bufferPool.splice(i, 1)[0] : Buffer.allocUnsafe(length);
  return buf.length === length ? buf : buf.subarray(0, length);
}

function giveBack(buf: Buffer | undefined): void {
  if (!buf || pushesRunning === 0 || bufferPool.length >= POOL_MAX) return;
  // Only our own large allocations (small ones share Node's slab); the whole allocation, not the subarray handed out.
  if (buf.byteOffset !== 0 || buf.buffer.byteLength < 1 << 20) return;
  bufferPool.push(Buffer.from(buf.buffer, 0, buf.buffer.byteLength));
}

async function readSlice(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = takeBuffer(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) throw new CacheError('io', `the local blob file ended at ${offset + got} bytes, before ${offset + length}`, { field: 'size' });
    got += bytesRead;
  }
  return buf;
}

/** HEAD: does the repository hold the blob now? (false on any failure: the caller goes on uploading). */
async function blobPresent(client: RegistryClient, repo: RepositoryRef, digest: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const res = await client.uploadRequest(repo.registry, `/v2/${repo.repository}/blobs/${digest}`, { method: 'HEAD', scopes: pushScopes(repo.repository), signal, action: `HEAD blob ${repo.registry}/${repo.repository}@${digest}` });
    await finish(res, true);
    return res.status === 200;
  } catch (err) {
    if (signal?.aborted) throw err;
    return false;
  }
}

/**
 * RegistryClient.headBlob for a push (same scope, redirects and errors): the blob's size, or null
 * when the repository lacks it. It keeps the connection for the next request (see `finish`).
 */
export async function headBlobForPush(client: RegistryClient, repo: RepositoryRef, digest: string, signal?: AbortSignal): Promise<{ digest: string; size: number } | null> {
  const what = `HEAD blob ${repo.registry}/${repo.repository}@${digest}`;
  const res = await client.uploadRequest(repo.registry, `/v2/${repo.repository}/blobs/${digest}`, { method: 'HEAD', scopes: [repositoryScope(repo.repository, 'pull')], signal, maxRedirects: 5, action: what });
  await finish(res, true);
  if (res.status === 404) return null;
  if (res.status !== 200) {
    const err = responseError({ action: what, status: res.status, statusText: res.statusText, body: '', host: repo.registry });
    const challenge = headerValue(res.headers['www-authenticate']);
    if (res.status === 401 && challenge && /error="?insufficient_scope/.test(challenge)) throw new CacheError(err.code, `${err.message} (insufficient_scope)`, err.details);
    throw err;
  }
  return { digest, size: Number(headerValue(res.headers['content-length']) ?? -1) };
}

/** Cancels an upload session where the registry allows it (best effort: distribution may answer 404/405). */
async function cancelUpload(client: RegistryClient, repo: RepositoryRef, location: string): Promise<void> {
  try {
    const res = await client.uploadRequest(repo.registry, location, { method: 'DELETE', scopes: pushScopes(repo.repository), retry: false, action: `DELETE upload on ${repo.registry}/${repo.repository}` });
    await finish(res);
  } catch {
    /* nothing to do: the registry purges stale uploads itself */
  }
}

/** See the module comment. */
export async function pushBlob(client: RegistryClient, repo: RepositoryRef, desc: Pick<Descriptor, 'digest' | 'size'>, file: string, options: PushBlobOptions = {}): Promise<BlobPushResult> {
  const { signal } = options;
  const name = `${repo.registry}/${repo.repository}@${desc.digest}`;
  if (!options.skipHead) {
    const what = `HEAD blob ${name}`;
    const res = await client.uploadRequest(repo.registry, `/v2/${repo.repository}/blobs/${desc.digest}`, { method: 'HEAD', scopes: pushScopes(repo.repository), signal, action: what });
    await finish(res, true);
    if (res.status === 200) {
      // A run killed between its final PUT and forgetting the state leaves a stale file: drop it.
      if (options.stateDir) await dropState(uploadStateFile(options.stateDir, repo, desc.digest));
      return { outcome: 'exists', bytesSent: 0, resumedFrom: null };
    }
    if (res.status !== 404) throw await failure(res, what, repo.registry, { kind: 'blob', repo });
  }
  const stateFile = options.stateDir ? uploadStateFile(options.stateDir, repo, desc.digest) : null;
  let location: string | null = null;
  let minChunk: number | null = null;
  let offset = 0;
  let resumedFrom: number | null = null;

  // A run killed mid-blob left its newest Location: ask the registry what it still holds.
  const saved = await loadState(stateFile, desc.size);
  if (saved) {
    const status = await uploadStatus(client, repo, saved.location, signal);
    if (status && status.offset <= desc.size) {
      location = status.location;
      offset = status.offset;
      // The minimum came with the POST of the run that opened the session.
      minChunk = saved.minChunk ?? status.minChunk;
      resumedFrom = offset;
      options.onState?.('resumed', offset);
    } else await dropState(stateFile);
  }
  if (!location && options.mountFrom && options.mountFrom !== repo.repository) {
    const m = await mountBlob(client, repo, desc.digest, options.mountFrom, { signal });
    if (m.mounted) {
      await dropState(stateFile);
      return { outcome: 'mounted', bytesSent: 0, resumedFrom: null };
    }
    location = m.location;
    minChunk = m.minChunk;
  }
  let chunk = Math.max(options.chunkSize ?? DEFAULT_CHUNK_SIZE, 1);
  const monolithicMax = options.monolithicMax ?? chunk;
  let bytesSent = 0;
  let stalls = 0;
  let monolithic = true;
  // Which PUT is in flight (its answer may be lost after the blob landed), and whether one did.
  let putting: 'monolithic' | 'final' | null = null;
  let landed = false;
  const { algorithm } = parseDigest(desc.digest);
  const fh = await open(file, 'r');
  pushesRunning++;
  // The file's bytes [0, hashedTo) have been hashed, whatever was sent (each byte is hashed once).
  let hash: Hash | null = options.verified ? null : createHash(algorithm);
  let hashedTo = 0;
  const hashBytes = async (at: number, body: Buffer | undefined): Promise<void> => {
    if (!hash) return;
    // A resume skipped bytes sent in an earlier run or attempt: hash them from the file (nothing is sent).
    while (hashedTo < at) {
      const piece = await readSlice(fh, hashedTo, Math.min(at - hashedTo, chunk, DEFAULT_CHUNK_SIZE));
      hash.update(piece);
      hashedTo += piece.length;
      giveBack(piece);
    }
    const end = at + (body?.length ?? 0);
    if (body && hashedTo < end) {
      hash.update(hashedTo === at ? body : body.subarray(hashedTo - at));
      hashedTo = end;
    }
  };
  /** Before the request that commits the blob: the whole file must hash to the digest. */
  const checkDigest = async (): Promise<void> => {
    if (!hash) return;
    await hashBytes(desc.size, undefined);
    const actual = `${algorithm}:${hash.digest('hex')}`;
    hash = null;
    if (actual === desc.digest) return;
    // Nothing may land: the session is cancelled and its saved state dropped.
    if (location) await cancelUpload(client, repo, location);
    location = null;
    await dropState(stateFile);
    throw new CacheError('digest-mismatch', `${file}: blob ${desc.digest} hashes to ${actual}: the local file is damaged, so it was not pushed to ${repo.registry}/${repo.repository}`, {
      digest: desc.digest,
      expected: desc.digest,
      actual,
      file,
    });
  };
  try {
    if (resumedFrom === null) options.onState?.('uploading', 0);
    for (;;) {
      signal?.throwIfAborted();
      if (!location) {
        const started = await startUpload(client, repo, signal);
        location = started.location;
        minChunk = started.minChunk;
        offset = 0;
      }
      if (minChunk) chunk = Math.max(chunk, minChunk);
      try {
        putting = null;
        if (monolithic && offset === 0 && desc.size <= monolithicMax) {
          // Monolithic: one PUT with the whole blob (a failure starts the blob over: nothing to resume).
          const body = await readSlice(fh, 0, desc.size);
          await hashBytes(0, body);
          await checkDigest();
          putting = 'monolithic';
          const what = `PUT blob ${name}`;
          bytesSent += body.length;
          const res = await client.uploadRequest(repo.registry, withDigest(location, desc.digest), {
            method: 'PUT',
            scopes: pushScopes(repo.repository),
            headers: { 'content-type': 'application/octet-stream' },
            body,
            retry: false,
            signal,
            action: what,
          });
          if (res.status === 201 || res.status === 204) {
            await finish(res);
            giveBack(body);
            options.onProgress?.(desc.size);
            break;
          }
          if (res.status === 413 && desc.size > MIN_CHUNK_ON_413) {
            // Too big for a proxy in front: go chunked with half the size.
            await finish(res);
            chunk = Math.max(MIN_CHUNK_ON_413, Math.floor(Math.min(chunk, desc.size) / 2));
            monolithic = false;
            await cancelUpload(client, repo, location);
            location = null;
            continue;
          }
          // 404/416: the session is unusable (distribution 2.8 refuses one whose stored size disagrees with
          // its Location, e.g. after a cut body landed late): a new session starts the blob over.
          if (res.status >= 500 || res.status === 408 || res.status === 429 || res.status === 404 || res.status === 416) {
            await finish(res);
            throw Object.assign(new Error(`${what}: ${res.status}`), { code: 'ECONNRESET' });
          }
          throw await failure(res, what, repo.registry, { kind: 'blob', repo });
        }
        // PATCH while more than one chunk is left; the final PUT carries the last one (one request fewer).
        while (desc.size - offset > chunk) {
          signal?.throwIfAborted();
          const len = chunk;
          const body = await readSlice(fh, offset, len);
          await hashBytes(offset, body);
          const what = `PATCH blob ${name} bytes ${offset}-${offset + len - 1}`;
          bytesSent += len;
          const res = await client.uploadRequest(repo.registry, location, {
            method: 'PATCH',
            scopes: pushScopes(repo.repository),
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + len - 1}` },
            body,
            retry: false,
            signal,
            action: what,
          });
          // ECR answers 201 where the spec says 202.
          if (res.status === 202 || res.status === 201) {
            await finish(res);
            giveBack(body);
            location = absoluteLocation(res, what, repo.registry);
            const held = rangeEnd(headerValue(res.headers.range));
            // A PATCH silently dropped on the way leaves Range where it was: continue from what is held.
            const before = offset;
            offset = held ?? offset + len;
            options.onProgress?.(offset);
            await saveState(stateFile, { location, offset, size: desc.size, minChunk });
            if (offset > before) stalls = 0;
            else if (++stalls > MAX_STALLS) throw new CacheError('io', `${what}: the registry's Range stopped advancing at ${offset} bytes`, { host: repo.registry });
            continue;
          }
          if (res.status === 413 && len > MIN_CHUNK_ON_413) {
            await finish(res);
            chunk = Math.max(MIN_CHUNK_ON_413, minChunk ?? 0, Math.floor(len / 2));
            if (chunk >= len) throw await failure(res, what, repo.registry, { kind: 'blob', repo });
            // The refused body may have been cut mid-way: ask where the upload stands.
            throw Object.assign(new Error(`${what}: 413`), { code: 'ECONNRESET', tooLarge: true });
          }
          // 416 (wrong offset) and 404 (session forgotten or cancelled): ask where the upload stands, else start over.
          if (res.status === 416 || res.status === 404 || res.status >= 500 || res.status === 408 || res.status === 429) {
            await finish(res);
            throw Object.assign(new Error(`${what}: ${res.status}`), { code: 'ECONNRESET' });
          }
          throw await failure(res, what, repo.registry, { kind: 'blob', repo });
        }
        const tail = desc.size - offset;
        const what = `PUT blob ${name}${tail > 0 ? ` bytes ${offset}-${desc.size - 1}` : ''}`;
        const body = tail > 0 ? await readSlice(fh, offset, tail) : undefined;
        await hashBytes(offset, body);
        await checkDigest();
        bytesSent += tail;
        putting = 'final';
        const res = await client.uploadRequest(repo.registry, withDigest(location, desc.digest), {
          method: 'PUT',
          scopes: pushScopes(repo.repository),
          headers: body ? { 'content-type': 'application/octet-stream' } : { 'content-length': '0' },
          body,
          retry: false,
          signal,
          action: what,
        });
        if (res.status === 201 || res.status === 204) {
          await finish(res);
          giveBack(body);
          options.onProgress?.(desc.size);
          break;
        }
        if (res.status === 413 && tail > MIN_CHUNK_ON_413) {
          await finish(res);
          chunk = Math.max(MIN_CHUNK_ON_413, minChunk ?? 0, Math.floor(tail / 2));
          if (chunk >= tail) throw await failure(res, what, repo.registry, { kind: 'blob', repo });
          throw Object.assign(new Error(`${what}: 413`), { code: 'ECONNRESET', tooLarge: true });
        }
        if (res.status >= 500 || res.status === 408 || res.status === 429 || res.status === 404 || res.status === 416) {
          await finish(res);
          throw Object.assign(new Error(`${what}: ${res.status}`), { code: 'ECONNRESET' });
        }
        throw await failure(res, what, repo.registry, { kind: 'blob', repo });
      } catch (err) {
        if (signal?.aborted) throw abortError(signal);
        if (!isDropped(err)) throw err;
        if (!(err as { tooLarge?: boolean }).tooLarge) stalls++;
        if (stalls > MAX_STALLS) throw new CacheError('io', scrub(`push blob ${name}: gave up after ${stalls} failed attempts without progress: ${(err as Error).message}`), { host: repo.registry });
        // A PUT whose answer was lost may have landed: then the blob is there and nothing is left to send.
        if (putting && (await blobPresent(client, repo, desc.digest, signal))) {
          landed = true;
          break;
        }
        // Where does the upload stand? A forgotten upload or a stale Location (416) starts the blob over.
        // Not after a monolithic PUT: there is nothing to resume, and the registry may still be writing
        // the cut body, so a status asked now could race it and send us on into a session about to break.
        const status = location && putting !== 'monolithic' ? await uploadStatus(client, repo, location, signal) : null;
        if (status && status.offset <= desc.size) {
          location = status.location;
          offset = status.offset;
          if (offset > 0) options.onState?.('resumed', offset);
        } else {
          if (location) await cancelUpload(client, repo, location);
          location = null;
          offset = 0;
          await dropState(stateFile);
        }
      }
    }
  } catch (err) {
    // A cancel (not a failure) leaves nothing behind: the session is DELETEd and its saved state dropped.
    if (signal?.aborted && location) {
      await cancelUpload(client, repo, location);
      await dropState(stateFile);
    }
    throw err;
  } finally {
    if (--pushesRunning === 0) bufferPool.length = 0;
    await fh.close();
  }
  await dropState(stateFile);
  if (landed) options.onProgress?.(desc.size);
  return { outcome: resumedFrom !== null ? 'resumed' : 'uploaded', bytesSent, resumedFrom };
}

/** See the module comment. */
export async function putManifest(client: RegistryClient, ref: Reference, bytes: Buffer, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<ManifestPutResult> {
  const target = ref.tag ?? ref.digest;
  if (!target) throw new CacheError('invalid-options', `${formatReference(ref)}: a tag is needed to push a manifest`, { field: 'tag' });
  const what = `PUT manifest ${formatReference(ref)}`;
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const res = await client.uploadRequest(ref.registry, `/v2/${ref.repository}/manifests/${target}`, {
    method: 'PUT',
    scopes: pushScopes(ref.repository),
    headers: { 'content-type': mediaType },
    body: bytes,
    signal: options.signal,
    action: what,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) {
    throw await failure(res, what, ref.registry, { kind: 'manifest', repo: ref, mediaType, tag: ref.tag ?? null });
  }
  await finish(res);
  const answered = headerValue(res.headers['docker-content-digest']);
  if (answered && answered !== digest) {
    throw new CacheError('digest-mismatch', `${what}: the registry says it stored ${answered}, our bytes are ${digest}`, { expected: digest, actual: answered, field: 'Docker-Content-Digest' });
  }
  const loc = headerValue(res.headers.location);
  return { digest, location: loc ? new URL(loc, res.url).href : null };
}
