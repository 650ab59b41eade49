/**
 * The config of an image reference, as the starting config of an image export: a local OCI layout
 * (`DIR`, `DIR:tag`, `DIR@sha256:…`) or a registry (`host/repo:tag`, through the registry client).
 * An index (multi-platform image) picks the manifest of the chosen platform, as containerd's platform
 * matcher does; every document read is checked against its digest.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { parseImageConfig } from '../../../shared/image/image-config';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import type { Descriptor, Platform } from '../../../shared/oci/types';
import { formatReference } from '../registry/reference';
import { MAX_JSON_BLOB } from '../sources/manifest-model';
import { defaultRegistryAccess } from '../sources/registry-source';
import type { RegistryAccess } from '../sources/registry-source';
import { parseSource } from '../sources/source-ref';
import { listTags, readIndex } from '../store/layout-index';

/** Reads the documents of one image, wherever it lives. */
interface ImageReader {
  /** What the reference is called in messages. */
  name: string;
  root(): Promise<{ bytes: Buffer; mediaType: string | null; digest: string }>;
  blob(desc: Descriptor): Promise<Buffer>;
}

export interface ImageConfigFromRef {
  config: Record<string, unknown>;
  /** `image REF` or `image REF (linux/arm64 of 3 platforms)`, for messages and the result. */
  origin: string;
  /** The platform picked from an index, or null for a single-platform image. */
  picked: Platform | null;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function checkBytes(name: string, what: string, bytes: Buffer, desc: Pick<Descriptor, 'digest' | 'size'>): void {
  const problem = digestProblem(desc.digest);
  if (problem) throw new CacheError('invalid-digest', `${name}: ${what}: ${problem}`, { digest: desc.digest });
  const actual = `${parseDigest(desc.digest).algorithm}:${createHash(parseDigest(desc.digest).algorithm).update(bytes).digest('hex')}`;
  if (actual !== desc.digest) throw new CacheError('digest-mismatch', `${name}: ${what} ${desc.digest} hashes to ${actual}`, { digest: desc.digest, actual });
  if (bytes.length !== desc.size) throw new CacheError('size-mismatch', `${name}: ${what} ${desc.digest} is ${bytes.length} bytes, its descriptor says ${desc.size}`, { digest: desc.digest });
}

function layoutReader(dir: string, tag: string | null, digest: string | null, name: string): ImageReader {
  const blobFile = (d: string): string => {
    const p = parseDigest(d);
    return join(dir, 'blobs', p.algorithm, p.hex);
  };
  const readBlobFile = async (desc: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Buffer> => {
    if (desc.size > MAX_JSON_BLOB) throw new CacheError('too-large', `${name}: ${what} ${desc.digest} is too large (${desc.size} bytes)`, { digest: desc.digest });
    let bytes: Buffer;
    try {
      bytes = await readFile(blobFile(desc.digest));
    } catch (err) {
      throw new CacheError('missing-blob', `${name}: ${what} ${desc.digest} is missing: ${blobFile(desc.digest)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { digest: desc.digest });
    }
    checkBytes(name, what, bytes, desc);
    return bytes;
  };
  return {
    name,
    async root() {
      const index = await readIndex(dir);
      let desc: Descriptor | undefined;
      if (digest) {
        desc = index.manifests.find((m) => m.digest === digest);
        if (!desc) {
          // A digest the index does not list: any manifest blob in the layout.
          const bytes = await readFile(blobFile(digest)).catch(() => null);
          if (!bytes) throw new CacheError('not-found', `${name}: no manifest ${digest} in ${dir}`, { digest });
          if (sha256(bytes) !== digest) throw new CacheError('digest-mismatch', `${name}: blob ${digest} hashes to ${sha256(bytes)}`, { digest });
          return { bytes, mediaType: null, digest };
        }
      } else if (tag) {
        desc = index.manifests.find((m) => m.annotations?.[Annotation.imageName] === tag) ?? index.manifests.find((m) => m.annotations?.[Annotation.refName] === tag);
        if (!desc) {
          const tags = listTags(index);
          throw new CacheError('unknown-tag', `${name}: no image tagged "${tag}" in ${join(dir, 'index.json')}${tags.length ? ` (tags: ${tags.join(', ')})` : ' (it has no tagged entries)'}`, { tag, tags });
        }
      } else {
        if (index.manifests.length !== 1) {
          const tags = listTags(index);
          throw new CacheError('bad-request', `${name}: ${join(dir, 'index.json')} lists ${index.manifests.length} manifests: name one as DIR:tag or DIR@sha256:…${tags.length ? ` (tags: ${tags.join(', ')})` : ''}`, { tags });
        }
        desc = index.manifests[0];
      }
      return { bytes: await readBlobFile(desc, 'manifest'), mediaType: desc.mediaType, digest: desc.digest };
    },
    blob: (desc) => readBlobFile(desc, desc.mediaType.includes('config') ? 'config' : 'manifest'),
  };
}

function registryReader(source: string, access: RegistryAccess, signal?: AbortSignal): ImageReader {
  const spec = parseSource(source);
  if (spec.kind !== 'registry') throw new CacheError('internal', `${source} is not a registry reference`);
  const ref = spec.reference;
  const client = access.client(ref.registry, spec.insecure);
  const repo = { registry: ref.registry, repository: ref.repository };
  const name = formatReference(ref);
  return {
    name,
    async root() {
      const m = await client.getManifest(ref, { signal, maxBytes: MAX_JSON_BLOB });
      return { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
    },
    async blob(desc) {
      if (desc.mediaType === MediaType.ociManifest || desc.mediaType === MediaType.dockerManifest) {
        const m = await client.getManifest({ ...repo, digest: desc.digest }, { signal, maxBytes: MAX_JSON_BLOB });
        checkBytes(name, 'manifest', m.bytes, desc);
        return m.bytes;
      }
      const bytes = await client.readBlob(repo, { digest: desc.digest, size: desc.size }, { signal, maxBytes: MAX_JSON_BLOB });
      checkBytes(name, 'config', bytes, desc);
      return bytes;
    },
  };
}

export function platformText(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** containerd's Normalize: arm64's v8 is no variant; arm without one is v7. */
export function normalizedPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  let variant = p.variant ?? '';
  if (p.architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = '';
  if (p.architecture === 'arm' && variant === '') variant = 'v7';
  return `${p.os}/${p.architecture}${variant ? `/${variant}` : ''}`;
}

function json(bytes: Buffer, name: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CacheError('invalid-config', `${name}: its ${what} is not JSON (${(err as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CacheError('invalid-config', `${name}: its ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);

/** The image config `reader` leads to, for `platform` when it is a multi-platform index. */
async function configOf(reader: ImageReader, platform: Platform): Promise<ImageConfigFromRef> {
  const root = await reader.root();
  let doc = json(root.bytes, reader.name, 'manifest');
  const rootType = (typeof doc.mediaType === 'string' ? doc.mediaType : null) ?? root.mediaType ?? '';
  let picked: Platform | null = null;
  let count = 0;
  if (INDEX_TYPES.has(rootType) || (Array.isArray(doc.manifests) && !('config' in doc))) {
    const manifests = (Array.isArray(doc.manifests) ? doc.manifests : []) as Descriptor[];
    // Attestation manifests (BuildKit's unknown/unknown) are not platforms anyone runs.
    const images = manifests.filter((m) => m && typeof m === 'object' && m.platform && m.platform.os !== 'unknown');
    count = images.length;
    const want = normalizedPlatform(platform);
    const match = images.find((m) => normalizedPlatform(m.platform!) === want);
    if (!match) {
      const have = images.map((m) => platformText(m.platform!));
      if (have.length === 0) throw new CacheError('invalid-config', `${reader.name}: not an image: its index lists no platform manifests (a BuildKit cache index?)`);
      throw new CacheError('bad-request', `${reader.name}: no image for platform ${platformText(platform)}; the index has ${have.join(', ')} (choose one with --platform)`, { field: 'platform', platforms: have });
    }
    picked = match.platform!;
    doc = json(await reader.blob(match), reader.name, `manifest for ${platformText(picked)}`);
  }
  const config = doc.config as Descriptor | undefined;
  if (!config || typeof config !== 'object' || typeof config.digest !== 'string' || typeof config.size !== 'number') {
    throw new CacheError('invalid-config', `${reader.name}: not an image: its manifest has no config descriptor`);
  }
  if (config.mediaType === MediaType.cacheConfigV0 || config.mediaType === MediaType.legacyBuildCacheV0) {
    throw new CacheError('invalid-config', `${reader.name}: not an image config: the manifest's config is a BuildKit cache config (${config.mediaType}); give an image`, { field: 'config.mediaType' });
  }
  if (config.mediaType !== undefined && config.mediaType !== MediaType.ociConfig && config.mediaType !== MediaType.dockerConfig) {
    throw new CacheError('invalid-config', `${reader.name}: not an image config: the manifest's config has media type ${config.mediaType}`, { field: 'config.mediaType' });
  }
  const bytes = await reader.blob({ ...config, mediaType: config.mediaType ?? MediaType.ociConfig });
  const parsed = parseImageConfig(bytes.toString('utf8'), `${reader.name} (config ${config.digest})`);
  return { config: parsed, origin: `image ${reader.name}${picked ? ` (${platformText(picked)} of ${count} platforms)` : ''}`, picked };
}

export interface ImageRefOptions {
  registry?: RegistryAccess;
  signal?: AbortSignal;
}

/** The config of image `ref` (a layout folder with optional tag or digest, or a registry reference). */
export async function imageConfigFromRef(ref: string, platform: Platform, options: ImageRefOptions = {}): Promise<ImageConfigFromRef> {
  const spec = parseSource(ref);
  if (spec.kind === 'registry') return configOf(registryReader(ref, options.registry ?? defaultRegistryAccess(), options.signal), platform);
  return configOf(layoutReader(spec.ref.path, spec.ref.tag, spec.ref.digest, ref), platform);
}
