/**
 * Image export: any cached result (a record's result, a layer entry's chain, or a chain by its top
 * blob) becomes an image of exactly that chain's layers, with the config moby's image exporter
 * writes (patchImageConfig, normalizeLayersAndHistory), to an OCI layout folder or a docker-archive tar.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { marshalInlineRecords, marshalManifest } from '../../../shared/cache/serialize';
import { historyOf, patchImageConfig } from '../../../shared/image/image-config';
import { normalizeHistory } from '../../../shared/image/history';
import { inlineCacheRecords } from '../../../shared/image/inline-cache';
import { resolveImageLayers } from '../../../shared/image/layer-options';
import type { ImageLayerOptions } from '../../../shared/image/layer-options';
import type { ImageName } from '../../../shared/image/names';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, Platform } from '../../../shared/oci/types';
import type { RegistryClient } from '../registry/client';
import { formatReference, isDockerHub, parseReference } from '../registry/reference';
import type { Reference } from '../registry/reference';
import type { OpenedSource } from '../sources/open-cache';
import type { RegistryAccess } from '../sources/registry-source';
import { openContentStore } from '../store/content-store';
import type { ContentStore } from '../store/content-store';
import { putIndexRefs } from '../store/layout-index';
import { acquireLease } from '../store/leases';
import type { Lease } from '../store/leases';
import { defaultMemoDir, fileKey, openVerifyMemo, sameContentKey } from '../store/verify-memo';
import type { VerifyMemo } from '../store/verify-memo';
import { writeDockerArchive } from './image-archive';
import { baseImageConfig } from './image-config';
import type { ConfigSource } from './image-config';
import { DiffIDPool } from './diffid-workers';
import { prepareLayers } from './image-layers';
import type { ConvertTarget, ImageLayerProgress, PreparedLayer } from './image-layers';

/**
 * Layers made ready at once (one per core, at most 4): each large one is decompressed and hashed in a
 * worker (diffid-workers.ts). CACHESCOPE_IMAGE_LAYERS=N overrides it (the bench compares settings).
 */
const LAYER_CONCURRENCY = Math.max(1, Number(process.env.CACHESCOPE_IMAGE_LAYERS) || Math.min(4, availableParallelism()));

export type ImageSelection = { kind: 'record'; index: number } | { kind: 'layer'; index: number } | { kind: 'chain'; digest: string };

export type ImageDestination =
  | { kind: 'folder'; dir: string; tag: string }
  | { kind: 'docker-archive'; file: string }
  /** A registry by tag, through the registry push (registry/uploads.ts): layers, config, then the manifest. */
  | { kind: 'registry'; reference: Reference; client: RegistryClient };

export interface ImageExportOptions {
  selection: ImageSelection;
  destination: ImageDestination;
  /**
   * `name=a,b`. A folder gets an index.json entry per name (io.containerd.image.name + its tag as
   * ref.name) beside its `:tag` one; a docker-archive lists them in RepoTags; a registry pushes the
   * manifest to each name, which must be on the destination's registry.
   */
  names?: ImageName[];
  platform?: Platform | null;
  /** The starting config: a file or an image reference (default: the inline-cache source's, else the empty config). */
  config?: ConfigSource | null;
  /** Shorthand for `config: {kind: 'file', file}`. */
  configFile?: string | null;
  /** Registry clients for a `config` image reference (default: one per process). */
  configRegistry?: RegistryAccess;
  inlineCache?: boolean;
  /** `oci-mediatypes` (default true): OCI manifest, config and layer types; false: Docker's. */
  ociMediaTypes?: boolean;
  /** BuildKit's layer options (compression, compression-level, force-compression, oci-mediatypes); they win over `ociMediaTypes`. */
  layerOptions?: ImageLayerOptions;
  /** Per-layer progress, by the layer's position in the image. */
  onLayer?: (p: ImageLayerProgress) => void;
  /** Trust `containerd.io/uncompressed` instead of decompressing and hashing every layer. */
  trustDiffIDs?: boolean;
  /**
   * Remembered diffIDs: "this unchanged file decompresses to this diffID" (default: the per-user
   * cache's `diffids` folder, beside the blob verifications; null: always hash).
   */
  diffIDMemo?: VerifyMemo | null;
  signal?: AbortSignal;
  /** The exporter's progress lines: `exporting layers`, `writing image sha256:…`, (registry) `pushing layers`, `pushing manifest for REF@DIGEST` (again per name), then `naming to …`. */
  onProgress?: (message: string) => void;
  /** The image's `created` when neither the config nor any history entry has one is left null, as moby does; tests need no clock. */
}

export interface ImageExportResult {
  'containerimage.config.digest': string;
  'containerimage.digest': string;
  'image.name'?: string;
  /** Layer entries (base first) that became the image. */
  chain: number[];
  /** The image's layers as its manifest lists them (converted ones have new digests). */
  layers: { digest: string; size: number; mediaType: string; converted: boolean }[];
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

/** Two spellings of one registry: host[:port] compared without case, Docker Hub under any of its names. */
function sameRegistry(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || (isDockerHub(a) && isDockerHub(b));
}

/**
 * Where each name is pushed for a registry destination, checked before anything is sent: the same
 * registry as the destination (its client, credentials and blobs; no cross-registry push) and a tag
 * to push by (a digest is only known once the image is made, so a name pinned to one is refused).
 */
export function registryNameTargets(dest: Reference, names: ImageName[]): { name: string; ref: Reference }[] {
  return names.map((n) => {
    const ref = parseReference(n.full);
    if (!sameRegistry(ref.registry, dest.registry)) {
      throw new CacheError(
        'invalid-options',
        `--name ${n.full} is on registry ${ref.registry}, not on ${dest.registry} where the image is pushed (--dest ${formatReference(dest)}): a name is pushed to on the destination's registry only, never across registries; push it to ${ref.registry} separately, or drop the name`,
        { field: 'name', value: n.full, registry: ref.registry, destination: dest.registry },
      );
    }
    if (ref.digest !== undefined) {
      throw new CacheError('invalid-options', `--name ${n.full} names a digest: a registry destination pushes each name by its tag, and the image's digest is only known once it is made; give the name without @${ref.digest}`, { field: 'name', value: n.full });
    }
    return { name: n.full, ref: { registry: dest.registry, repository: ref.repository, tag: ref.tag ?? 'latest' } };
  });
}

export async function exportImage(opened: OpenedSource, options: ImageExportOptions): Promise<ImageExportResult> {
  const m = opened.model;
  const layerOptions = resolveImageLayers({ ...(options.ociMediaTypes === false ? { 'oci-mediatypes': false } : {}), ...options.layerOptions });
  const oci = layerOptions.oci;
  const say = options.onProgress ?? (() => {});
  const warnings: string[] = [];
  const { chain, targets } = selectChain(opened, options.selection);
  const blobs = chain.map((i) => m.norm.layers[i].blob);
  const descs: Descriptor[] = blobs.map((b, k) => {
    const d = m.descriptors.get(b);
    if (!d) throw new CacheError('missing-blob', `layer ${k} of the chain (layer entry ${chain[k]}, blob ${b}) has no descriptor in the cache's manifest, so its media type and size are unknown; an image needs every layer (drop-missing cannot apply)`, { digest: b });
    return d;
  });
  const memo = options.diffIDMemo === undefined ? openVerifyMemo(diffIDMemoDir()) : options.diffIDMemo;
  const dest = options.destination;
  const names = options.names ?? [];
  // A name the registry push cannot serve is refused before any request (or any layer work).
  const nameTargets = dest.kind === 'registry' ? registryNameTargets(dest.reference, names) : [];
  const signal = options.signal ?? new AbortController().signal;
  // The destination folder's store (leased while blobs land in it), opened on first need.
  let folder: Promise<{ store: ContentStore; lease: Lease; dev: number }> | null = null;
  const openFolder = (dir: string, tag: string) =>
    (folder ??= (async () => {
      await mkdir(dir, { recursive: true });
      const lease = await acquireLease(dir, { purpose: `image ${tag}` });
      const store = await openContentStore(dir, { beforePublish: (d) => lease.add([d]) });
      return { store, lease, dev: (await stat(dir)).dev };
    })());
  // Converted layers for a tar or a registry wait in a staging store, removed at the end.
  const cleanup: { staging: string | null } = { staging: null };
  let convertTarget: Promise<ConvertTarget> | null = null;
  const openConvertTarget = (): Promise<ConvertTarget> =>
    (convertTarget ??= (async () => {
      const sourceLabels = opened.layout ? await openContentStore(opened.layout.dir) : null;
      if (dest.kind === 'folder') {
        const f = await openFolder(dest.dir, dest.tag);
        return { store: f.store, dev: f.dev, sourceLabels };
      }
      let parent = tmpdir();
      if (dest.kind === 'docker-archive') {
        // Next to the archive: same file system, and no surprise in a small /tmp.
        parent = dirname(resolve(dest.file));
        await mkdir(parent, { recursive: true });
      }
      const staging = await mkdtemp(join(parent, '.cachescope-image-'));
      cleanup.staging = staging;
      return { store: await openContentStore(staging), dev: (await stat(staging)).dev, sourceLabels };
    })());
  // The config first: a bad --config or platform fails before any layer is read.
  const base = await baseImageConfig(opened, options.config ?? (options.configFile ? { kind: 'file', file: options.configFile } : null), options.platform ?? null, { signal, registry: options.configRegistry });
  say('exporting layers');
  let layers: PreparedLayer[] = [];
  // CACHESCOPE_DIFFID_WORKERS=0 hashes on this thread (the bench compares the two).
  const diffIDPool = process.env.CACHESCOPE_DIFFID_WORKERS === '0' ? null : new DiffIDPool(LAYER_CONCURRENCY);
  try {
    layers = await prepareLayers(
      {
        opened,
        layers: layerOptions,
        trustDiffIDs: options.trustDiffIDs ?? false,
        memo,
        convertTarget: openConvertTarget,
        signal,
        report: options.onLayer ?? (() => {}),
        warn: (w) => warnings.push(w),
        diffIDPool,
      },
      descs.map((desc, index) => ({ index, entry: chain[index], desc })),
      LAYER_CONCURRENCY,
    );
    const diffIDs = layers.map((l) => l.diffID);
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
    const layerDescs: Descriptor[] = layers.map((l) => l.desc);
    const manifestBytes = Buffer.from(marshalManifest({ schemaVersion: 2, mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest, config: configDesc, layers: layerDescs }), 'utf8');
    const manifestDesc: Descriptor = { mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest, digest: sha256(manifestBytes), size: manifestBytes.length };
    say(`writing image ${configDesc.digest}`);
    if (dest.kind === 'folder') {
      const { store } = await openFolder(dest.dir, dest.tag);
      // Kept layers are hard-linked (copied across file systems); converted ones are already there.
      for (const l of layers) if (!l.converted) await store.link(l.path, l.desc.digest, { signal, verify: false });
      await store.writeBytes(configBytes, configDesc.digest);
      await store.writeBytes(manifestBytes, manifestDesc.digest);
      // The `:tag` entry, then one per name as BuildKit's ociindex Name writes it, in one index.json write.
      await putIndexRefs(dest.dir, manifestDesc, [{ tag: dest.tag }, ...names.map((n) => ({ name: n.full }))], {
        requireBlobs: [...layerDescs.map((d) => d.digest), configDesc.digest, manifestDesc.digest],
        signal,
      });
    } else if (dest.kind === 'registry') {
      const repo = { registry: dest.reference.registry, repository: dest.reference.repository };
      const destRef: Reference = { ...repo, tag: dest.reference.tag ?? 'latest' };
      const dir = await mkdtemp(join(tmpdir(), 'cachescope-image-'));
      try {
        const configFile = join(dir, 'config.json');
        await writeFile(configFile, configBytes);
        const blobFiles = [...layers.map((l) => ({ desc: l.desc, path: l.path })), { desc: configDesc, path: configFile }];
        // BuildKit's push lines (util/push): `pushing layers`, then `pushing manifest for REF@DIGEST`, per push.
        say('pushing layers');
        for (const b of blobFiles) await dest.client.pushBlob(repo, b.desc, b.path, { signal });
        say(`pushing manifest for ${formatReference(destRef)}@${manifestDesc.digest}`);
        await dest.client.putManifest(destRef, manifestBytes, manifestDesc.mediaType, { signal });
        // Then every name, as BuildKit's push=true pushes to each: another repository mounts the blobs
        // from the destination's (HEAD, then POST ?mount=&from=), the same repository already has them.
        const done = new Set([formatReference(destRef)]);
        for (const { name, ref: target } of nameTargets) {
          const key = formatReference(target);
          if (done.has(key)) continue;
          done.add(key);
          say('pushing layers');
          if (target.repository !== repo.repository) {
            for (const b of blobFiles) await dest.client.pushBlob({ registry: target.registry, repository: target.repository }, b.desc, b.path, { signal, mountFrom: repo.repository });
          }
          say(`pushing manifest for ${name}@${manifestDesc.digest}`);
          await dest.client.putManifest(target, manifestBytes, manifestDesc.mediaType, { signal });
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } else {
      await mkdir(dirname(dest.file), { recursive: true });
      await writeDockerArchive({
        file: dest.file,
        config: configBytes,
        configDigest: configDesc.digest,
        layers: layers.map((l) => ({ path: l.path, size: l.desc.size, diffID: l.diffID })),
        names,
        signal,
      });
    }
    for (const n of names) say(`naming to ${n.full}`);
    if (memo) {
      for (const h of layers.flatMap((l) => (l.hashed ? [l.hashed] : []))) {
        const now = await fileKey(h.path);
        // Same bytes as hashed (size, inode, mtime); only the ctime a link gave it may differ.
        if (h.key && now && sameContentKey(h.key, now)) await memo.remember(now, h.diffID, h.readFrom);
      }
    }
    const result: ImageExportResult = {
      'containerimage.config.digest': configDesc.digest,
      layers: layers.map((l) => ({ digest: l.desc.digest, size: l.desc.size, mediaType: l.desc.mediaType, converted: l.converted })),
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
    await diffIDPool?.close();
    for (const l of layers) await l.release().catch(() => {});
    if (folder) await (await folder.catch(() => null))?.lease.release();
    if (cleanup.staging) await rm(cleanup.staging, { recursive: true, force: true });
  }
}
