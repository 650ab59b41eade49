/**
 * Images written by hand to name a cache's records: an OCI layout whose config's `rootfs.diff_ids`
 * are a chain of the cache's layers and whose history says which Dockerfile step made each one.
 * The layer blobs are not copied (naming reads only the manifest and the config).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { CacheView } from '../../shared/cache/view-types';
import type { ImageHistory } from '../../shared/image/history';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function put(dir: string, text: string): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(text);
  const digest = sha256(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

export interface HistoryImage {
  /** Layer entries of the cache, base first: the image's layers. */
  chain: number[];
  history: ImageHistory[];
  tag?: string;
  platform?: { os: string; architecture: string };
}

/** The image's manifest text (OCI) and what it refers to, written into `dir`'s blobs. */
async function writeManifest(dir: string, view: CacheView, image: HistoryImage): Promise<{ digest: string; size: number }> {
  const platform = image.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' },
    created: image.history.at(-1)?.created ?? '2026-11-29T19:05:36Z',
    history: image.history,
    rootfs: { type: 'layers', diff_ids: image.chain.map((e) => view.layers[e].diffID) },
  };
  const cfg = await put(dir, JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: image.chain.map((e) => ({ mediaType: view.layers[e].mediaType, digest: view.layers[e].blob, size: view.layers[e].size })),
  };
  return put(dir, JSON.stringify(manifest));
}

async function writeIndex(dir: string, entries: unknown[]): Promise<void> {
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
}

async function init(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

/** Copies the cache's layer blobs of `images` into the image layout (a registry push needs them; naming does not). */
async function copyLayers(dir: string, view: CacheView, images: HistoryImage[], from: string): Promise<void> {
  for (const e of new Set(images.flatMap((i) => i.chain))) {
    const hex = view.layers[e].blob.slice(7);
    await copyFile(join(from, 'blobs', 'sha256', hex), join(dir, 'blobs', 'sha256', hex));
  }
}

/** One image per tag in one OCI layout folder; with `layersFrom` (the cache folder) the layer blobs too. */
export async function writeHistoryImages(dir: string, view: CacheView, images: HistoryImage[], layersFrom?: string): Promise<void> {
  await init(dir);
  if (layersFrom) await copyLayers(dir, view, images, layersFrom);
  const entries = [];
  for (const image of images) {
    const m = await writeManifest(dir, view, image);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': image.tag ?? 'latest' } });
  }
  await writeIndex(dir, entries);
}

/** A multi-platform image (one image index tagged `tag`) with one manifest per platform and a BuildKit attestation entry. */
export async function writeMultiPlatformImage(dir: string, view: CacheView, images: HistoryImage[], tag = 'latest', layersFrom?: string): Promise<string[]> {
  await init(dir);
  if (layersFrom) await copyLayers(dir, view, images, layersFrom);
  await put(dir, '{}');
  const entries = [];
  const digests: string[] = [];
  for (const image of images) {
    const m = await writeManifest(dir, view, image);
    digests.push(m.digest);
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: image.platform ?? { os: 'linux', architecture: 'amd64' } });
  }
  const att = await put(dir, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 }, layers: [] }));
  entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...att, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': digests[0] } });
  const index = await put(dir, JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries }));
  await writeIndex(dir, [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }]);
  return digests;
}

/** The paths a gzip (or plain) tar layer holds, from its headers: enough to tell which COPY made it. */
export function layerPaths(file: string): string[] {
  let tar = readFileSync(file);
  if (tar[0] === 0x1f && tar[1] === 0x8b) tar = gunzipSync(tar);
  const out: string[] = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156]);
    if (type !== 'x' && type !== 'g' && type !== 'L') out.push(prefix ? `${prefix}/${name}` : name);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * A writable copy of an image-manifest cache layout in which one record's key is another one: as if
 * the files behind that content checksum had changed. Returns the copy's folder.
 */
export async function copyWithChangedKey(from: string, to: string, digest: string, replacement: string): Promise<string> {
  const { editTopManifest, putBlob, writableCopy } = await import('./layout-copy');
  const { readFile: read } = await import('node:fs/promises');
  await writableCopy(from, to);
  let configDesc: { digest: string; size: number } | null = null;
  await editTopManifest(to, (manifest) => {
    configDesc = manifest.config as { digest: string; size: number };
  });
  const config = JSON.parse(await read(join(to, 'blobs', 'sha256', configDesc!.digest.slice(7)), 'utf8')) as { records: { digest: string }[] };
  const hit = config.records.find((r) => r.digest === digest);
  if (!hit) throw new Error(`no record ${digest} in ${from}`);
  hit.digest = replacement;
  const text = JSON.stringify(config);
  const newDigest = await putBlob(to, text);
  await editTopManifest(to, (manifest) => {
    manifest.config = { ...(manifest.config as object), digest: newDigest, size: Buffer.byteLength(text) };
  });
  return to;
}
