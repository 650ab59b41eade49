/**
 * SourceBlobs of a registry: blobs are fetched only when asked for, into the per-user blob cache
 * (store/blob-cache.ts), which verifies them, resumes partial downloads and makes concurrent asks for
 * one blob share one download. `has` asks the registry (HEAD): whether it still holds the blob is the
 * question (`verify --shallow`), not whether this machine once downloaded it.
 */
import { BLOB_REDIRECTS } from '../registry/client';
import { directDownload } from '../registry/direct-download';
import type { DirectOutcome } from '../registry/direct-download';
import { isRetryableError, isRetryableStatus } from '../registry/retry';
import type { BlobCache, BlobCacheProgress, BlobFetch, DirectBlobFetch } from '../store/blob-cache';
import type { RegistryClient } from '../registry/client';
import type { RepositoryRef } from '../registry/reference';
import type { Descriptor } from '../../../shared/oci/types';
import type { SourceBlobProgress, SourceBlobs } from './source-blobs';

function progressOf(p: BlobCacheProgress): SourceBlobProgress {
  const state = p.state === 'cached' ? 'cached' : p.state === 'done' ? 'done' : 'downloading';
  return { digest: p.digest, state, bytes: p.bytes, total: p.total };
}

/**
 * A layer GET on a download thread (registry/direct-download.ts: sockets, hashing and writes off the
 * main thread), when the client can plan one; the cache falls back to the stream fetcher otherwise.
 */
async function directFetch(client: RegistryClient, repo: RepositoryRef, desc: Pick<Descriptor, 'digest' | 'size'>, offset: number, fd: number, signal: AbortSignal, onBytes: (n: number) => void): ReturnType<DirectBlobFetch> {
  let planned = await client.directBlobGet(repo, desc, signal);
  for (let hops = 0; planned; hops++) {
    let outcome: DirectOutcome;
    try {
      outcome = await directDownload(planned.plan, fd, { algorithm: desc.digest.slice(0, desc.digest.indexOf(':')), offset, size: desc.size, signal, onBytes });
      planned.report(outcome.kind === 'fallback' && !outcome.status ? { error: outcome.reason } : { status: outcome.kind === 'fallback' ? outcome.status : offset > 0 ? 206 : 200, ...(outcome.kind === 'partial' ? { error: outcome.reason } : {}) });
    } finally {
      planned.release();
    }
    // Blob storage behind a redirect (registries hand blobs to a CDN): followed on the threads too.
    if (outcome.kind !== 'fallback' || !outcome.location || hops >= BLOB_REDIRECTS) {
      // The stream fetcher's next GET retries this one: it waits as the transport would (the slot given back first).
      if (needsPause(outcome)) await planned.pause(outcome.kind === 'fallback' ? outcome.retryAfter : undefined, signal);
      return outcome;
    }
    planned = await client.directRedirect(planned, outcome.location, signal);
  }
  return null;
}

/** A cut body, a retryable status (408, 429, 5xx) or a retryable network error: not a 401, 404 or redirect. */
function needsPause(outcome: DirectOutcome): boolean {
  if (outcome.kind === 'partial') return true;
  if (outcome.kind !== 'fallback') return false;
  if (outcome.status) return isRetryableStatus(outcome.status);
  return outcome.code !== undefined && isRetryableError(Object.assign(new Error(outcome.reason), { code: outcome.code }));
}

export function registrySourceBlobs(client: RegistryClient, repo: RepositoryRef, blobCache: () => Promise<BlobCache>): SourceBlobs {
  return {
    kind: 'registry',
    location: `${repo.registry}/${repo.repository}`,
    async has(digest, options = {}) {
      return (await client.headBlob(repo, digest, { signal: options.signal })) !== null;
    },
    async hold(digests) {
      return (await blobCache()).hold(digests);
    },
    async get(desc, options = {}) {
      const cache = await blobCache();
      const onProgress = options.onProgress;
      // The blob cache hashes every byte (the resumed prefix too) and commits only a match, so the
      // client need not hash the same bytes a second time.
      const fetch: BlobFetch = (offset, sink, signal, resume) => client.fetchBlob(repo, desc, sink, { signal, resume: offset > 0 ? resume : undefined, callerVerifies: true }).then(() => undefined);
      fetch.direct = (offset, fd, signal, onBytes) => directFetch(client, repo, desc, offset, fd, signal, onBytes);
      const blob = await cache.get(desc.digest, desc.size, fetch, { signal: options.signal, onProgress: onProgress ? (p) => onProgress(progressOf(p)) : undefined });
      return { digest: blob.digest, size: blob.size, path: blob.path, outcome: blob.outcome, resumedFrom: blob.resumedFrom, release: () => blob.release() };
    },
  };
}
