/** Shared by the export tests: generated sources, blob checks, and the meaning of a cache (records over diffIDs). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createDecompressor } from '../../../electron/engine/export/compression';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { marshalIndex, marshalManifest } from '../../../shared/cache/serialize';
import { Annotation, compressionOfMediaType } from '../../../shared/oci/media-types';
import type { ImageIndex, ImageManifest } from '../../../shared/oci/types';
import { generateCache } from '../../../scripts/cache-generator/generate';
import type { GenerateOptions } from '../../../scripts/cache-generator/generate';

export const sha256 = (data: string | Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export async function generate(dir: string, opts: Partial<GenerateOptions> = {}) {
  return generateCache(dir, { seed: 7, stages: 2, layersPerStage: 3, layerBytes: 40_000, compression: 'gzip', form: 'image-manifest', withBlobs: true, concurrency: 2, ...opts });
}

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Every file under blobs/sha256 hashes to its name: no partial or damaged blob is visible. */
export async function assertBlobsComplete(dir: string): Promise<number> {
  const blobDir = join(dir, 'blobs', 'sha256');
  const names = await readdir(blobDir).catch(() => [] as string[]);
  for (const name of names) assert.equal(await hashFile(join(blobDir, name)), `sha256:${name}`, `${blobDir}/${name} is not a complete blob`);
  return names.length;
}

/** sha256 of the decompressed bytes of a blob. */
export async function diffIdOf(file: string, mediaType: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(
    createReadStream(file),
    createDecompressor(compressionOfMediaType(mediaType) ?? 'uncompressed'),
    new Writable({
      write(chunk: Buffer, _e, done) {
        h.update(chunk);
        done();
      },
    }),
  );
  return `sha256:${h.digest('hex')}`;
}

/**
 * What a cache means, independent of blob encodings and layer order: each record's digest and
 * inputs, and its result as the stack of diffIDs it resolves to.
 */
export function meaning(o: OpenedSource): unknown[] {
  const L = o.model.norm.layers;
  const diff = (b: string) => o.model.descriptors.get(b)?.annotations?.[Annotation.uncompressed] ?? '?';
  return o.model.norm.records.map((r, i) => ({
    digest: r.digest,
    inputs: r.inputs,
    stack: o.model.graph.resolutions[i].stack.map((l) => diff(L[l].blob)),
    dropped: o.model.graph.resolutions[i].dropped !== null,
  }));
}

export async function copyLayout(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Rewrites the tagged manifest of a layout through `mutate` (e.g. a lying media type, a wrong
 * diffID), writing the new manifest blob and pointing index.json at it.
 */
export async function rewriteManifest(dir: string, mutate: (m: ImageManifest) => void): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  const entry = index.manifests[index.manifests.length - 1];
  const m = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8')) as ImageManifest;
  mutate(m);
  const text = marshalManifest(m);
  const digest = sha256(text);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), text);
  index.manifests[index.manifests.length - 1] = { ...entry, digest, size: Buffer.byteLength(text) };
  await writeFile(join(dir, 'index.json'), marshalIndex(index));
}
