/**
 * SourceBlobs of a registry: blobs are fetched only when asked for, into the per-user blob cache
 * (store/blob-cache.ts), which verifies them, resumes partial downloads and makes concurrent asks for
 * one blob share one download. `has` asks the registry (HEAD): whether it still holds the blob is the
 * question (`verify --shallow`), not whether this machine once downloaded it.
 */
import type { BlobCache, BlobCacheProgress } from '../store/blob-cache';
import type { RegistryClient } from '../registry/client';
import type { RepositoryRef } from '../registry/reference';
import type { SourceBlobProgress, SourceBlobs } from './source-blobs';

function progressOf(p: BlobCacheProgress): SourceBlobProgress {
  const state = p.state === 'cached' ? 'cached' : p.state === 'done' ? 'done' : 'downloading';
  return { digest: p.digest, state, bytes: p.bytes, total: p.total };
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
      const blob = await cache.get(
        desc.digest,
        desc.size,
        // The blob cache hashes every byte (the resumed prefix too) and commits only a match, so the
        // client need not hash the same bytes a second time.
        (offset, sink, signal, resume) => client.fetchBlob(repo, desc, sink, { signal, resume: offset > 0 ? resume : undefined, callerVerifies: true }).then(() => undefined),
        { signal: options.signal, onProgress: onProgress ? (p) => onProgress(progressOf(p)) : undefined },
      );
      return { digest: blob.digest, size: blob.size, path: blob.path, outcome: blob.outcome, resumedFrom: blob.resumedFrom, release: () => blob.release() };
    },
  };
}
