/**
 * Image export: any cached result (a record's result, a layer entry's chain, or a chain by its top
 * blob) becomes an image of exactly that chain's layers, with the config moby's image exporter
 * writes (patchImageConfig, normalizeLayersAndHistory), to an OCI layout folder or a docker-archive tar.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { CacheError } from '../../../shared/contract/errors';
import { marshalInlineRecords, marshalManifest } from '../../../shared/cache/serialize';
import { historyOf, patchImageConfig } from '../../../shared/image/image-config';
import { normalizeHistory } from '../../../shared/image/history';
import { inlineCacheRecords } from '../../../shared/image/inline-cache';
import type { ImageName } from '../../../shared/image/names';
import { Annotation, compressionOfMediaType, convertLayerMediaType, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, Platform } from '../../../shared/oci/types';
import type { RegistryClient } from '../registry/client';
import { formatReference } from '../registry/reference';
import type { Reference } from '../registry/reference';
import type { OpenedSource } from '../sources/open-cache';
import type { SourceBlobFile } from '../sources/source-blobs';
import { openContentStore } from '../store/content-store';
import { putTag } from '../store/layout-index';
import { acquireLease } from '../store/leases';
import { defaultMemoDir, fileKey, nowNs, openVerifyMemo, sameContentKey } from '../store/verify-memo';
import type { FileKey, VerifyMemo } from '../store/verify-memo';
import { createDecompressor, sniffCompression } from './compression';
import { writeDockerArchive } from './image-archive';
import { baseImageConfig } from './image-config';

export type ImageSelection = { kind: 'record'; index: number } | { kind: 'layer'; index: number } | { kind: 'chain'; digest: string };

export type ImageDestination =
  | { kind: 'folder'; dir: string; tag: string }
  | { kind: 'docker-archive'; file: string }
  /** A registry by tag, through the registry push (registry/uploads.ts): layers, config, then the manifest. */
  | { kind: 'registry'; reference: Reference; client: RegistryClient };

export interface ImageExportOptions {
  selection: ImageSelection;
  destination: ImageDestination;
  names?: ImageName[];
  platform?: Platform | null;
  configFile?: string | null;
  inlineCache?: boolean;
  /** `oci-mediatypes` (default true): OCI manifest, config and layer types; false: Docker's. */
  ociMediaTypes?: boolean;
  /** Trust `containerd.io/uncompressed` instead of decompressing and hashing every layer. */
  trustDiffIDs?: boolean;
  /**
   * Remembered diffIDs: "this unchanged file decompresses to this diffID" (default: the per-user
   * cache's `diffids` folder, beside the blob verifications; null: always hash).
   */
  diffIDMemo?: VerifyMemo | null;
  signal?: AbortSignal;
  /** The exporter's progress lines: `exporting layers`, `writing image sha256:…`, `naming to …`. */
  onProgress?: (message: string) => void;
  /** The image's `created` when neither the config nor any history entry has one is left null, as moby does; tests need no clock. */
}

export interface ImageExportResult {
  'containerimage.config.digest': string;
  'containerimage.digest': string;
  'image.name'?: string;
  /** Layer entries (base first) that became the image. */
  chain: number[];
  diffIDs: string[];
  configOrigin: string;
  /** Records written as inline cache (0 without --inline-cache). */
  inlineRecords: number;
  warnings: string[];
}

/** Remembered diffIDs live beside the blob verifications, in their own folder (one record per file each). */
export function diffIDMemoDir(): string {
  return join(dirname(defaultMemoDir()), 'diffids');
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The layer entries (base first) of the selection, and the records whose result that chain is. */
export function selectChain(opened: OpenedSource, sel: ImageSelection): { chain: number[]; targets: number[] } {
  const m = opened.model;
  const { layers, records } = m.norm;
  let chain: number[];
  if (sel.kind === 'record') {
    if (sel.index < 0 || sel.index >= records.length) throw new CacheError('not-found', `record ${sel.index} does not exist: the cache has ${records.length} (0–${records.length - 1})`);
    chain = m.graph.resolutions[sel.index].stack;
    if (chain.length === 0) throw new CacheError('not-found', `record ${sel.index} has no result, so there is no image to export`);
    return { chain, targets: [sel.index] };
  }
  if (sel.kind === 'layer') {
    if (sel.index < 0 || sel.index >= layers.length) throw new CacheError('not-found', `layer entry ${sel.index} does not exist: the cache has ${layers.length} (0–${layers.length - 1})`);
    const stack = m.graph.layerStacks[sel.index];
    if (!stack) throw new CacheError('invalid-config', `layer entry ${sel.index}: ${m.graph.layerProblems[sel.index] ?? 'its chain never reaches a base layer'}`);
    chain = stack;
  } else {
    const i = layers.findIndex((l, k) => l.blob === sel.digest && m.graph.layerStacks[k] !== null);
    if (i === -1) throw new CacheError('not-found', `no chain ends in blob ${sel.digest}: no layer entry with a valid chain has that blob`, { digest: sel.digest });
    chain = m.graph.layerStacks[i]!;
  }
  const same = (s: number[]): boolean => s.length === chain.length && s.every((x, k) => layers[x].blob === layers[chain[k]].blob);
  const targets = m.graph.resolutions.flatMap((r, k) => (r.stack.length > 0 && same(r.stack) ? [k] : []));
  return { chain, targets };
}

/** Decompresses and hashes a layer blob: its diffID. */
async function computeDiffID(file: string, mediaType: string, signal?: AbortSignal): Promise<string> {
  const compression = compressionOfMediaType(mediaType) ?? (await sniffCompression(file, signal));
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(file, { highWaterMark: 1 << 20 }),
    createDecompressor(compression),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
    { signal },
  );
  return `sha256:${hash.digest('hex')}`;
}

export async function exportImage(opened: OpenedSource, options: ImageExportOptions): Promise<ImageExportResult> {
  const m = opened.model;
  const oci = options.ociMediaTypes ?? true;
  const say = options.onProgress ?? (() => {});
  const warnings: string[] = [];
  const { chain, targets } = selectChain(opened, options.selection);
  const blobs = chain.map((i) => m.norm.layers[i].blob);
  const descs: Descriptor[] = blobs.map((b, k) => {
    const d = m.descriptors.get(b);
    if (!d) throw new CacheError('missing-blob', `layer ${k} of the chain (layer entry ${chain[k]}, blob ${b}) has no descriptor in the cache's manifest, so its media type and size are unknown; an image needs every layer (drop-missing cannot apply)`, { digest: b });
    return d;
  });
  // Fail on the base before starting: a missing blob is named with its position.
  say('exporting layers');
  const files: SourceBlobFile[] = [];
  const diffIDs: string[] = [];
  const memo = options.diffIDMemo === undefined ? openVerifyMemo(diffIDMemoDir()) : options.diffIDMemo;
  /** Hashed layers to remember once the export is written (a hard link changes the source's ctime). */
  const hashed: { path: string; key: FileKey | null; diffID: string; readFrom: bigint }[] = [];
  try {
    for (const [k, d] of descs.entries()) {
      let f: SourceBlobFile;
      try {
        f = await opened.blobs.get(d, { signal: options.signal });
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new CacheError('missing-blob', `layer ${k} of the chain (layer entry ${chain[k]}, blob ${d.digest}) is not available: ${why}; an image needs every layer (drop-missing cannot apply)`, { digest: d.digest });
      }
      files.push(f);
      const annotated = d.annotations?.[Annotation.uncompressed] ?? null;
      if (options.trustDiffIDs && annotated) {
        diffIDs.push(annotated);
        continue;
      }
      const key = memo ? await fileKey(f.path) : null;
      if (memo && key && annotated && (await memo.known(key, annotated))) {
        diffIDs.push(annotated);
        continue;
      }
      const readFrom = nowNs();
      const computed = await computeDiffID(f.path, d.mediaType, options.signal);
      hashed.push({ path: f.path, key, diffID: computed, readFrom });
      if (annotated && annotated !== computed) {
        throw new CacheError('digest-mismatch', `layer ${k} (blob ${d.digest}): diffID mismatch: ${Annotation.uncompressed} says ${annotated}, the decompressed blob hashes to ${computed}`, { digest: d.digest });
      }
      diffIDs.push(computed);
    }

    const base = await baseImageConfig(opened, options.configFile ?? null, options.platform ?? null);
    const layerMeta = descs.map((d) => ({ createdAt: d.annotations?.[Annotation.createdAt] ?? null, description: d.annotations?.[Annotation.description] ?? null }));
    const norm = normalizeHistory(historyOf(base.config, base.origin), layerMeta);
    if (norm.warning) warnings.push(norm.warning);
    let inlineBase64: string | null = null;
    let inlineRecords = 0;
    if (options.inlineCache) {
      const records = inlineCacheRecords({
        norm: m.norm,
        graph: m.graph,
        targets,
        imageBlobs: blobs,
        imageDiffIDs: diffIDs,
        diffIDOf: (b) => m.descriptors.get(b)?.annotations?.[Annotation.uncompressed] ?? null,
      });
      if (records.length === 0) warnings.push('failed to match any cache with layers: no record has this chain as its result, so no inline cache was written');
      else {
        inlineBase64 = Buffer.from(marshalInlineRecords(records), 'utf8').toString('base64');
        inlineRecords = records.length;
      }
    }
    const configText = patchImageConfig(base.config, { diffIDs, history: norm.history, inlineCacheBase64: inlineBase64 });
    const configBytes = Buffer.from(configText, 'utf8');
    const configDesc: Descriptor = { mediaType: oci ? MediaType.ociConfig : MediaType.dockerConfig, digest: sha256(configBytes), size: configBytes.length };
    const layerDescs: Descriptor[] = descs.map((d) => ({ mediaType: convertLayerMediaType(d.mediaType, oci), digest: d.digest, size: d.size }));
    const manifestBytes = Buffer.from(marshalManifest({ schemaVersion: 2, mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest, config: configDesc, layers: layerDescs }), 'utf8');
    const manifestDesc: Descriptor = { mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
    say(`writing image ${configDesc.digest}`);
    const names = options.names ?? [];
    const dest = options.destination;
    if (dest.kind === 'folder') {
      await mkdir(dest.dir, { recursive: true });
      const lease = await acquireLease(dest.dir, { purpose: `image ${dest.tag}` });
      try {
        const store = await openContentStore(dest.dir, { beforePublish: (d) => lease.add([d]) });
        for (const [k, f] of files.entries()) await store.link(f.path, descs[k].digest, { signal: options.signal, verify: false });
        await store.writeBytes(configBytes, configDesc.digest);
        await store.writeBytes(manifestBytes, manifestDesc.digest);
        await putTag(dest.dir, dest.tag, manifestDesc, { requireBlobs: [...blobs, configDesc.digest, manifestDesc.digest], signal: options.signal });
      } finally {
        await lease.release();
      }
    } else if (dest.kind === 'registry') {
      const repo = { registry: dest.reference.registry, repository: dest.reference.repository };
      for (const [k, f] of files.entries()) await dest.client.pushBlob(repo, descs[k], f.path, { signal: options.signal });
      const staging = await mkdtemp(join(tmpdir(), 'cachescope-image-'));
      try {
        const configFile = join(staging, 'config.json');
        await writeFile(configFile, configBytes);
        await dest.client.pushBlob(repo, configDesc, configFile, { signal: options.signal });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      await dest.client.putManifest({ ...repo, tag: dest.reference.tag ?? 'latest' }, manifestBytes, manifestDesc.mediaType, { signal: options.signal });
      say(`pushed ${formatReference({ ...repo, tag: dest.reference.tag ?? 'latest' })}@${manifestDesc.digest}`);
    } else {
      await mkdir(dirname(dest.file), { recursive: true });
      await writeDockerArchive({
        file: dest.file,
        config: configBytes,
        configDigest: configDesc.digest,
        layers: files.map((f, k) => ({ path: f.path, size: descs[k].size, diffID: diffIDs[k] })),
        names,
        signal: options.signal,
      });
    }
    for (const n of names) say(`naming to ${n.full}`);
    if (memo) {
      for (const h of hashed) {
        const now = await fileKey(h.path);
        // Same bytes as hashed (size, inode, mtime); only the ctime a link gave it may differ.
        if (h.key && now && sameContentKey(h.key, now)) await memo.remember(now, h.diffID, h.readFrom);
      }
    }
    const result: ImageExportResult = {
      'containerimage.config.digest': configDesc.digest,
      'containerimage.digest': manifestDesc.digest,
      chain,
      diffIDs,
      configOrigin: base.origin,
      inlineRecords,
      warnings,
    };
    if (names.length > 0) result['image.name'] = names.map((n) => n.full).join(',');
    return result;
  } finally {
    for (const f of files) await f.release().catch(() => {});
  }
}
