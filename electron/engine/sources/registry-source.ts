/**
 * Opening a cache from a registry: only the manifest and its config (the cache config, or the image
 * config carrying inline cache) are fetched, both verified against their digests; the model is built
 * by the same parse path as a local layout (manifest-model.ts). Layer blobs stay in the registry
 * until an export, a verify or the content view asks for them (registry-blobs.ts).
 */
import { CacheError } from '../../../shared/contract/errors';
import { parseJsonText } from '../../../shared/cache/json-text';
import { RegistryClient } from '../registry/client';
import type { RegistryClientOptions } from '../registry/client';
import { registryConcurrencyFromEnv } from '../registry/concurrency-setting';
import { formatReference, parseReference } from '../registry/reference';
import type { DistributionSource } from '../../../shared/oci/distribution-source';
import type { Reference } from '../registry/reference';
import { openBlobCache } from '../store/blob-cache';
import type { BlobCache, BlobCacheOptions } from '../store/blob-cache';
import { MAX_JSON_BLOB, modelFromManifest } from './manifest-model';
import type { OpenedSource } from './open-cache';
import { registrySourceBlobs } from './registry-blobs';

/** The registry clients and the blob cache registry sources use. */
export interface RegistryAccess {
  /** The client for `registry`; `insecure` when the source said `registry.insecure=true`. */
  client(registry: string, insecure: boolean): RegistryClient;
  blobCache(): Promise<BlobCache>;
  /** Closes the clients' pooled connections. */
  close(): void;
}

/** Clients made on first use: one for every registry, plus one per registry marked insecure (the mark is a client option). */
export function createRegistryAccess(options: { client?: RegistryClientOptions; blobCache?: BlobCacheOptions } = {}): RegistryAccess {
  let shared: RegistryClient | null = null;
  const insecure = new Map<string, RegistryClient>();
  let cache: Promise<BlobCache> | null = null;
  // Read when a client is made, so a bad CACHESCOPE_REGISTRY_CONCURRENCY fails the registry work that needs it, naming the variable.
  const clientOptions = (): RegistryClientOptions => ({ ...options.client, concurrency: options.client?.concurrency ?? registryConcurrencyFromEnv(options.client?.env ?? process.env) });
  return {
    client(registry, isInsecure) {
      if (!isInsecure) return (shared ??= new RegistryClient(clientOptions()));
      const key = registry.toLowerCase();
      let c = insecure.get(key);
      if (!c) {
        c = new RegistryClient({ ...clientOptions(), insecureRegistries: [...(options.client?.insecureRegistries ?? []), key] });
        insecure.set(key, c);
      }
      return c;
    },
    blobCache() {
      cache ??= openBlobCache(options.blobCache);
      return cache;
    },
    close() {
      shared?.close();
      for (const c of insecure.values()) c.close();
      shared = null;
      insecure.clear();
    },
  };
}

let processAccess: RegistryAccess | null = null;

/** The process's own access: docker's config and the environment, the default blob cache. */
export function defaultRegistryAccess(): RegistryAccess {
  return (processAccess ??= createRegistryAccess());
}

/** The CLI's `--registry-concurrency N`: the process's access is made again with that limit (it wins over the environment). */
export function setDefaultRegistryConcurrency(concurrency: number): void {
  processAccess?.close();
  processAccess = createRegistryAccess({ client: { concurrency } });
}

/**
 * The repository an opened source's blobs are read from when that is a registry (a registry cache,
 * or an image with inline cache), else null: what the export writes into the copied layers'
 * `containerd.io/distribution.source.<host>` annotations, and a mount source for a push.
 */
export function distributionSourceOf(opened: Pick<OpenedSource, 'registry' | 'blobs'>): DistributionSource | null {
  if (!opened.registry || opened.blobs.kind !== 'registry') return null;
  try {
    const ref = parseReference(opened.registry.reference);
    return { registry: ref.registry, repository: ref.repository };
  } catch {
    return null;
  }
}

/** What a registry source is called in messages: `host/repo:tag` or `host/repo@digest`, never with credentials. */
function blobName(ref: Reference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

export async function openRegistrySource(
  source: string,
  spec: { reference: Reference; insecure: boolean; image: boolean },
  access: RegistryAccess = defaultRegistryAccess(),
  signal?: AbortSignal,
): Promise<OpenedSource> {
  const ref = spec.reference;
  const repo = { registry: ref.registry, repository: ref.repository };
  const client = access.client(ref.registry, spec.insecure);
  const name = formatReference(ref);
  const fetched = await client.getManifest(ref, { signal, maxBytes: MAX_JSON_BLOB });
  const text = fetched.bytes.toString('utf8');
  const manifest = { text, value: parseJsonText(text, `${name} (manifest)`), size: fetched.bytes.length, file: name };
  const built = await modelFromManifest(
    {
      source,
      digest: fetched.digest,
      declared: { mediaType: fetched.mediaType, by: "the registry's Content-Type", where: name },
      manifest,
      platformBase: spec.image ? `docker-image://${repo.registry}/${repo.repository}` : `${repo.registry}/${repo.repository}`,
      warnings: [],
    },
    {
      async read(desc, r) {
        if (desc.size === null) throw new CacheError('invalid-manifest', `${r.file}: ${r.field}.size: missing`, { field: `${r.field}.size` });
        let bytes: Buffer;
        try {
          bytes = await client.readBlob(repo, { digest: desc.digest, size: desc.size }, { signal, maxBytes: MAX_JSON_BLOB });
        } catch (err) {
          if (err instanceof CacheError) throw new CacheError(err.code, `${err.message} (${r.what}, referenced by ${r.file}: ${r.field})`, err.details);
          throw err;
        }
        const blobText = bytes.toString('utf8');
        const file = blobName(ref, desc.digest);
        return { text: blobText, value: parseJsonText(blobText, `${file} (${r.what})`), size: bytes.length, file };
      },
      name: (digest) => blobName(ref, digest),
    },
  );
  return {
    source,
    model: built.model,
    layout: null,
    registry: { reference: name, insecure: spec.insecure },
    manifestDescriptor: built.manifestDescriptor,
    texts: { manifest: text, config: built.configText, index: null },
    // Asking the registry blob by blob would cost a request each: every blob the manifest lists counts as there.
    present: new Set(built.model.descriptors.keys()),
    blobs: registrySourceBlobs(client, repo, () => access.blobCache()),
  };
}
