/** Small synthetic caches for the model tests: blobs written under their real digests, index.json, manifests in every form. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleCache } from '../../../shared/cache/model';
import type { CacheModel } from '../../../shared/cache/model';
import { parseCacheConfig } from '../../../shared/cache/parse-config';

export const MT = {
  cacheConfig: 'application/vnd.buildkit.cacheconfig.v0',
  legacyBuildCache: 'application/vnd.buildkit.buildcache.v0',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A digest for a layer blob that is never written (like the fixtures' large layers). */
export function fakeDigest(seed: string | number): string {
  return sha256(`layer ${seed}`);
}

const dirs: string[] = [];

export function tempDir(prefix = 'cachescope-model-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Removes every temp dir made by this module (call from an `after` hook). */
export function cleanTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg, hex);
}

/** Writes content under its sha256 and returns its descriptor fields. */
export function writeBlob(dir: string, content: string | Uint8Array, mediaType = ''): Desc {
  const digest = sha256(content);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(blobPath(dir, digest), content);
  return { mediaType, digest, size: typeof content === 'string' ? Buffer.byteLength(content) : content.length };
}

export function writeIndex(dir: string, entries: Desc[], top: Record<string, unknown> = { schemaVersion: 2, mediaType: MT.ociIndex }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ ...top, manifests: entries }));
}

export function tagged(d: Desc, tag = 'latest'): Desc {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { 'org.opencontainers.image.ref.name': tag } };
}

export function layerDesc(digest: string, size: number, mediaType: string = MT.ociGzip, annotations?: Record<string, string>): Desc {
  return annotations ? { mediaType, digest, size, annotations } : { mediaType, digest, size };
}

export interface CacheLayoutOptions {
  /** The cache config document (written compactly). */
  config: unknown;
  /** Layer descriptors in manifest order; default: one per config layer entry with size 1000 + index. */
  layers?: Desc[];
  form?: 'image-manifest' | 'index';
  /** Docker media types (manifest v2 / manifest list). */
  docker?: boolean;
  /** Leave the mediaType out of the manifest body. */
  noMediaType?: boolean;
  configMediaType?: string;
  tag?: string;
  dir?: string;
}

export interface CacheLayout {
  dir: string;
  manifest: Desc;
  config: Desc;
  layers: Desc[];
}

/** A local cache layout (index.json + manifest + config); layer blobs are referenced, not written. */
export function writeCacheLayout(opts: CacheLayoutOptions): CacheLayout {
  const dir = opts.dir ?? tempDir();
  const configText = typeof opts.config === 'string' ? opts.config : JSON.stringify(opts.config);
  const config = writeBlob(dir, configText, opts.configMediaType ?? MT.cacheConfig);
  const entries = ((opts.config as { layers?: { blob: string }[] }).layers ?? []).map((l, i) => layerDesc(l.blob, 1000 + i, opts.docker ? MT.dockerGzip : MT.ociGzip));
  const layers = opts.layers ?? entries;
  const form = opts.form ?? 'image-manifest';
  let body: Record<string, unknown>;
  let mediaType: string;
  if (form === 'image-manifest') {
    mediaType = opts.docker ? MT.dockerManifest : MT.ociManifest;
    body = { schemaVersion: 2, mediaType, config, layers };
  } else {
    mediaType = opts.docker ? MT.dockerList : MT.ociIndex;
    body = { schemaVersion: 2, mediaType, manifests: [...layers, config] };
  }
  if (opts.noMediaType) delete body.mediaType;
  const manifest = writeBlob(dir, JSON.stringify(body), mediaType);
  writeIndex(dir, [tagged(manifest, opts.tag)]);
  return { dir, manifest, config, layers };
}

/**
 * A model straight from a config document (no files): `sizes` are the blobs the "manifest" describes
 * (BuildKit's descriptor provider); every other blob is absent from it.
 */
export function configModel(config: unknown, sizes: Record<string, number>, file = 'cfg.json'): CacheModel {
  const norm = parseCacheConfig(config, file);
  return assembleCache({
    source: 'test',
    variant: 'image-manifest',
    manifest: null,
    parsedManifest: null,
    config: { mediaType: MT.cacheConfig, digest: null, size: 0, format: norm.format },
    norm,
    extraDescriptors: Object.entries(sizes).map(([d, size]) => layerDesc(d, size)),
    configFile: file,
  });
}
