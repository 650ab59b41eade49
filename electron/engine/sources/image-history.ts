/**
 * Reads the history of an image attached to name a cache's records: from a local OCI layout
 * (`DIR`, `DIR:tag`, `DIR@sha256:…`), an image config file, or a registry reference. Only the
 * manifest(s) and the config are read, each checked against its digest; a multi-platform index
 * picks this machine's platform or lists the ones it has.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import type { CacheView } from '../../../shared/cache/view-types';
import { historyNames } from '../../../shared/graph/history-names';
import type { ImageHistorySource } from '../../../shared/graph/history-names';
import { historyOf, parseImageConfig } from '../../../shared/image/image-config';
import { isCacheConfigMediaType } from '../../../shared/cache/parse-manifest';
import { Annotation } from '../../../shared/oci/media-types';
import type { Descriptor, Platform } from '../../../shared/oci/types';
import { defaultPlatform, platformText } from '../export/image-config';
import { formatReference } from '../registry/reference';
import { openContentStore } from '../store/content-store';
import { readIndex, resolveTag } from '../store/layout-index';
import { defaultRegistryAccess } from './registry-source';
import type { RegistryAccess } from './registry-source';
import { parseSource } from './source-ref';

/** Manifests and image configs are small; refuse anything bigger before reading it. */
const MAX_IMAGE_JSON = 4 << 20;

/** Where the image's manifests and config come from: a layout's blobs or a registry's. */
interface ImageReader {
  /** The manifest the reference names (its digest verified by the reader). */
  top(): Promise<{ bytes: Buffer; digest: string }>;
  manifest(desc: Descriptor): Promise<Buffer>;
  blob(desc: Descriptor): Promise<Buffer>;
  /** How to open one platform's image, for the "pick one" message. */
  platformRef(digest: string): string;
}

export interface ReadImageOptions {
  registry?: RegistryAccess;
  signal?: AbortSignal;
  /** The platform to pick from a multi-platform index (default: this machine's). */
  platform?: Platform;
}

function json(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CacheError('invalid-source', `${what}: not an image: not JSON (${(err as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new CacheError('invalid-source', `${what}: not an image: expected a JSON object`);
  return value as Record<string, unknown>;
}

function descriptor(raw: unknown, what: string, field: string): Descriptor {
  const d = raw as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || typeof d.size !== 'number') {
    throw new CacheError('invalid-source', `${what}: ${field}: not a descriptor (digest and size)`, { field });
  }
  return d as Descriptor;
}

/** An attestation or other non-image entry of an index (BuildKit's `unknown/unknown` provenance). */
function isImageEntry(d: Descriptor): boolean {
  return !(d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown') && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest';
}

function samePlatform(a: Platform | undefined, b: Platform): boolean {
  if (!a) return false;
  const variant = (p: Platform) => (p.architecture === 'arm64' && (p.variant === 'v8' || p.variant === '8') ? undefined : p.variant) ?? '';
  return a.os === b.os && a.architecture === b.architecture && (variant(a) === variant(b) || !variant(b) || !variant(a));
}

/** Follows an index down to one image manifest, then reads its config. */
async function imageConfigOf(reader: ImageReader, ref: string, options: ReadImageOptions): Promise<{ config: Record<string, unknown>; configDigest: string; file: string }> {
  let { bytes, digest } = await reader.top();
  let what = `${ref} (${digest})`;
  for (let depth = 0; ; depth++) {
    const doc = json(bytes, what);
    if (Array.isArray(doc.manifests)) {
      if (depth > 2) throw new CacheError('invalid-source', `${what}: not an image: indexes nested too deep`);
      const entries = doc.manifests.map((m, i) => descriptor(m, what, `manifests[${i}]`));
      if (entries.some((d) => isCacheConfigMediaType(d.mediaType ?? ''))) {
        throw new CacheError('invalid-source', `${ref} is a build cache (an index with a BuildKit cache config), not an image: attach the image the same build produced`, { field: 'image' });
      }
      const images = entries.filter(isImageEntry);
      const want = options.platform ?? defaultPlatform();
      const pick = images.length === 1 ? images[0] : images.find((d) => samePlatform(d.platform, want));
      if (!pick) {
        const list = images.map((d) => `${reader.platformRef(d.digest)} (${d.platform ? platformText(d.platform) : 'no platform'})`).join(', ');
        throw new CacheError('not-found', `${ref}: a multi-platform image without a ${platformText(want)} image; attach one platform's image: ${list || '(the index lists none)'}`, { field: 'image' });
      }
      bytes = await reader.manifest(pick);
      digest = pick.digest;
      what = `${ref} (${digest})`;
      continue;
    }
    const cfg = doc.config;
    if (cfg === undefined) throw new CacheError('invalid-source', `${what}: not an image: no config and no manifests`, { field: 'config' });
    const desc = descriptor(cfg, what, 'config');
    if (isCacheConfigMediaType(desc.mediaType ?? '')) {
      throw new CacheError('invalid-source', `${ref} is a build cache (its config is ${desc.mediaType}), not an image: attach the image the same build produced`, { field: 'image' });
    }
    const configBytes = await reader.blob(desc);
    return { config: parseImageConfig(configBytes.toString('utf8'), `${ref} config ${desc.digest}`), configDigest: desc.digest, file: `${ref} config ${desc.digest}` };
  }
}

function layoutReader(dir: string, tag: string | null, digest: string | null): ImageReader {
  const storeP = openContentStore(dir);
  const read = async (desc: { digest: string }) => (await storeP).readBytes(desc.digest, { maxSize: MAX_IMAGE_JSON });
  return {
    async top() {
      if (digest) return { bytes: await read({ digest }), digest };
      const index = await readIndex(dir);
      let d: Descriptor;
      try {
        d = resolveTag(index, tag ?? 'latest', `${dir}/index.json`);
      } catch (err) {
        // The layout reader's words speak of caches; here the user named an image.
        if (err instanceof CacheError && err.code === 'unknown-tag') throw new CacheError('not-found', err.message.replace(/^no cache tagged/, 'no image tagged'), err.details);
        throw err;
      }
      return { bytes: await read(d), digest: d.digest };
    },
    manifest: read,
    blob: read,
    platformRef: (d) => `${dir}@${d}`,
  };
}

function asSource(config: Record<string, unknown>, ref: string, configDigest: string | null, file: string, inline = false): ImageHistorySource {
  const rootfs = config.rootfs as { diff_ids?: unknown } | null | undefined;
  const raw = rootfs?.diff_ids ?? [];
  if (!Array.isArray(raw) || raw.some((d) => typeof d !== 'string')) throw new CacheError('invalid-config', `${file}: rootfs.diff_ids: expected an array of digests`, { field: 'rootfs.diff_ids' });
  return { ref, configDigest, diffIds: raw as string[], history: historyOf(config, file), inline };
}

/** Reads an image's diffIDs and history from any reference `attachImage` takes. */
export async function readImageHistory(ref: string, options: ReadImageOptions = {}): Promise<ImageHistorySource> {
  const spec = parseSource(ref);
  if (spec.kind === 'registry') {
    const access = options.registry ?? defaultRegistryAccess();
    const r = spec.reference;
    const client = access.client(r.registry, spec.insecure);
    const repo = { registry: r.registry, repository: r.repository };
    const reader: ImageReader = {
      async top() {
        const m = await client.getManifest(r, { signal: options.signal, maxBytes: MAX_IMAGE_JSON });
        return { bytes: m.bytes, digest: m.digest };
      },
      async manifest(desc) {
        return (await client.getManifest({ ...repo, digest: desc.digest }, { signal: options.signal, maxBytes: MAX_IMAGE_JSON })).bytes;
      },
      blob: (desc) => client.readBlob(repo, { digest: desc.digest, size: desc.size }, { signal: options.signal, maxBytes: MAX_IMAGE_JSON }),
      platformRef: (d) => `${r.registry}/${r.repository}@${d}`,
    };
    const name = formatReference(r);
    const { config, configDigest, file } = await imageConfigOf(reader, name, options);
    return asSource(config, ref, configDigest, file);
  }
  const path = resolve(spec.ref.path);
  const info = await stat(path).catch(() => null);
  if (!info) throw new CacheError('not-found', `${spec.ref.path}: no such file or directory`, { path: spec.ref.path });
  if (info.isDirectory()) {
    const { config, configDigest, file } = await imageConfigOf(layoutReader(path, spec.ref.tag, spec.ref.digest), ref, options);
    return asSource(config, ref, configDigest, file);
  }
  if (spec.ref.tag || spec.ref.digest) throw new CacheError('invalid-source', `${spec.ref.path} is not a directory: a tag or digest can only follow a layout folder`, { path: spec.ref.path });
  // A file: an image config as `docker inspect`'s config or a build's `--metadata-file` config.
  if (info.size > MAX_IMAGE_JSON) throw new CacheError('too-large', `${path} is ${info.size} bytes, over the ${MAX_IMAGE_JSON}-byte limit for an image config`, { file: path });
  const config = parseImageConfig(await readFile(path, 'utf8'), path);
  return asSource(config, ref, null, path);
}

/** The image config an inline-cache source carries (its own text), as a history source; null for other sources. */
export function inlineImageHistory(view: Pick<CacheView, 'variant' | 'source' | 'config'>, configText: string | null): ImageHistorySource | null {
  if (view.variant !== 'inline' || configText === null) return null;
  try {
    const config = parseImageConfig(configText, view.source);
    if (config[Annotation.inlineCacheKey] === undefined) return null;
    return asSource(config, view.source, view.config.digest, view.source, true);
  } catch {
    // The inline cache opened, so its config parsed; a config without os/architecture just goes unnamed.
    return null;
  }
}

/** The view with names from these images (in order: earlier images win between equal matches); the view itself when there are none. */
export function namesFor(view: CacheView, images: ImageHistorySource[]): CacheView {
  if (images.length === 0) return view;
  const names = historyNames(view.layers, view.records, images);
  return { ...view, names };
}

/** Refuses an image that names nothing in this cache, saying why. */
export function checkAttachable(view: CacheView, image: ImageHistorySource): void {
  if (image.diffIds.length === 0) throw new CacheError('invalid-source', `${image.ref}: the image has no layers (rootfs.diff_ids is empty), so it names nothing`, { field: 'rootfs.diff_ids' });
  const names = historyNames(view.layers, view.records, [image]);
  if (names.images[0].matchedLayers === 0) {
    const withDiff = view.layers.filter((l) => l.diffID).length;
    const why = withDiff === 0 ? 'this cache records no diffID (containerd.io/uncompressed) for any layer' : `none of its ${image.diffIds.length} layer diffIDs is among this cache's ${withDiff} layers`;
    throw new CacheError('not-found', `${image.ref}: no diffID in common with this cache: ${why}. Attach the image built with this cache`, { field: 'image' });
  }
}
