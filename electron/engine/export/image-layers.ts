/**
 * The layers of an exported image, each made ready with its diffID: a layer that keeps its
 * compression is the source's own file, its diffID verified (decompressed and hashed, or remembered
 * for the unchanged file, or the annotation when the user trusts it); a layer converted to another
 * compression goes through the cache export's conversion (export-blobs.ts), which checks the source
 * digest, hashes the uncompressed stream (the diffID) and writes the new blob into a content store.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheError } from '../../../shared/contract/errors';
import type { BlobPlan } from '../../../shared/export/plan-export';
import type { LayerState } from '../../../shared/export/types';
import type { ResolvedImageLayers } from '../../../shared/image/layer-options';
import { Annotation, compressionOfMediaType, convertLayerMediaType, layerMediaType } from '../../../shared/oci/media-types';
import type { Compression } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import type { OpenedSource } from '../sources/open-cache';
import type { SourceBlobFile } from '../sources/source-blobs';
import type { ContentStore } from '../store/content-store';
import { fileKey, nowNs } from '../store/verify-memo';
import type { FileKey, VerifyMemo } from '../store/verify-memo';
import { createDecompressor, sniffCompression } from './compression';
import { exportBlob } from './export-blobs';
import type { DiffIDPool } from './diffid-workers';

/** Below this a worker round trip costs more than hashing here. */
const WORKER_MIN_BYTES = 1 << 20;

/** One layer's progress: its position in the image, the blob, and how far it is. */
export interface ImageLayerProgress {
  /** Position in the image, base first. */
  index: number;
  /** The source blob. */
  blob: string;
  size: number;
  state: LayerState;
  bytes: number;
  /** Set once known: whether the layer is converted, and to what. */
  convertTo?: Compression | null;
}

export interface PreparedLayer {
  /** The cache's descriptor of the source blob. */
  source: Descriptor;
  /** The layer as the image's manifest lists it (converted or not). */
  desc: Descriptor;
  /** A local file holding `desc.digest`'s bytes. */
  path: string;
  diffID: string;
  /** Converted by this export (or a variant an earlier one made): already in `convertStore`. */
  converted: boolean;
  /** Hashed now, to be remembered once the image is written (a hard link changes the file's ctime). */
  hashed: { path: string; key: FileKey | null; diffID: string; readFrom: bigint } | null;
  release(): Promise<void>;
}

/** Where converted layers go: the destination folder's store, or a staging store for a tar or a registry. */
export interface ConvertTarget {
  store: ContentStore;
  dev: number;
  /** The source layout's store, for variants an earlier export kept next to it (null for other sources). */
  sourceLabels: ContentStore | null;
}

export interface PrepareContext {
  opened: OpenedSource;
  layers: ResolvedImageLayers;
  trustDiffIDs: boolean;
  memo: VerifyMemo | null;
  /** Opened on the first conversion only: an export that converts nothing writes no staging store. */
  convertTarget: () => Promise<ConvertTarget>;
  signal: AbortSignal;
  report: (p: ImageLayerProgress) => void;
  warn: (message: string) => void;
  /** Workers that decompress and hash large gzip and uncompressed layers off this thread (null: all here). */
  diffIDPool?: DiffIDPool | null;
}

export interface LayerInput {
  /** Position in the image, base first. */
  index: number;
  /** Layer entry of the cache. */
  entry: number;
  desc: Descriptor;
}

/** Decompresses and hashes a layer blob: its diffID. */
export async function computeDiffID(file: string, compression: Compression, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  if (onBytes) input.on('data', (c) => onBytes((read += (c as Buffer).length)));
  await pipeline(
    input,
    createDecompressor(compression),
    new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
    { signal },
  );
  return `sha256:${hash.digest('hex')}`;
}

/** zlib and zstd errors name neither the layer nor the codec: say both. */
function codecError(err: unknown, k: number, digest: string, compression: Compression): unknown {
  if (err instanceof CacheError || (err as Error)?.name === 'AbortError') return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if ((typeof code === 'string' && code.startsWith('Z_')) || /zstd|frame|corrupt|header/i.test((err as Error)?.message ?? '')) {
    return new CacheError('invalid-source', `layer ${k} (blob ${digest}): cannot decompress it as ${compression}: ${(err as Error).message}`, { digest });
  }
  return err;
}

function unavailable(input: LayerInput, err: unknown): CacheError {
  const why = err instanceof Error ? err.message : String(err);
  return new CacheError('missing-blob', `layer ${input.index} of the chain (layer entry ${input.entry}, blob ${input.desc.digest}) is not available: ${why}; an image needs every layer (drop-missing cannot apply)`, { digest: input.desc.digest });
}

/** One layer: kept as it is (diffID verified) or converted (diffID computed on the way). */
export async function prepareLayer(ctx: PrepareContext, input: LayerInput): Promise<PreparedLayer> {
  const { desc: d, index: k } = input;
  const say = (state: LayerState, bytes = 0, convertTo?: Compression | null): void =>
    ctx.report({ index: k, blob: d.digest, size: d.size, state, bytes, ...(convertTo !== undefined ? { convertTo } : {}) });
  let f: SourceBlobFile;
  try {
    f = await ctx.opened.blobs.get(d, {
      signal: ctx.signal,
      onProgress: (p) => {
        if (p.state === 'downloading') say('downloading', p.bytes);
        else if (p.state === 'cached') say('cached');
      },
    });
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw unavailable(input, err);
  }
  try {
    const st = await stat(f.path);
    if (st.size !== d.size) throw new CacheError('size-mismatch', `layer ${k} (blob ${d.digest}): ${f.path} is ${st.size} bytes but its descriptor says ${d.size}`, { digest: d.digest, file: f.path });
    // Magic bytes win over a media type that says otherwise, as in the cache export.
    const actual = d.size > 0 ? await sniffCompression(f.path, ctx.signal) : (compressionOfMediaType(d.mediaType) ?? 'uncompressed');
    const declared = compressionOfMediaType(d.mediaType);
    const annotated = d.annotations?.[Annotation.uncompressed] ?? null;
    const target = ctx.layers.target;
    if (target !== null && target !== actual) {
      say('queued', 0, target);
      const converted = await convertLayer(ctx, input, f, actual, target, annotated, (state, bytes) => say(state, bytes, target));
      await f.release();
      say('done', converted.desc.size, target);
      return { ...converted, release: async () => {} };
    }
    say('reading', 0, null);
    let mediaType = convertLayerMediaType(d.mediaType, ctx.layers.oci);
    if (declared !== null && declared !== actual) {
      mediaType = layerMediaType(actual, ctx.layers.oci);
      ctx.warn(`layer ${k} (blob ${d.digest}): its media type ${d.mediaType} says ${declared} but the blob is ${actual}: written as ${mediaType}`);
    }
    const out: PreparedLayer = { source: d, desc: { mediaType, digest: d.digest, size: d.size }, path: f.path, diffID: '', converted: false, hashed: null, release: () => f.release() };
    if (ctx.trustDiffIDs && annotated) {
      say('done', d.size, null);
      return { ...out, diffID: annotated };
    }
    const key = ctx.memo ? await fileKey(f.path) : null;
    if (ctx.memo && key && annotated && (await ctx.memo.known(key, annotated))) {
      say('done', d.size, null);
      return { ...out, diffID: annotated };
    }
    const readFrom = nowNs();
    const onBytes = (n: number): void => say('reading', n, null);
    let computed: string;
    try {
      computed =
        ctx.diffIDPool && actual !== 'zstd' && d.size >= WORKER_MIN_BYTES
          ? await ctx.diffIDPool.diffID(f.path, actual, { signal: ctx.signal, onBytes })
          : await computeDiffID(f.path, actual, ctx.signal, onBytes);
    } catch (err) {
      throw codecError(err, k, d.digest, actual);
    }
    if (annotated && annotated !== computed) {
      throw new CacheError('digest-mismatch', `layer ${k} (blob ${d.digest}): diffID mismatch: ${Annotation.uncompressed} says ${annotated}, the decompressed blob hashes to ${computed}`, { digest: d.digest });
    }
    say('done', d.size, null);
    return { ...out, diffID: computed, hashed: { path: f.path, key, diffID: computed, readFrom } };
  } catch (err) {
    say('failed');
    await f.release().catch(() => {});
    throw err;
  }
}

/** Converts through the cache export's blob path: source digest checked, diffID hashed, variant remembered. */
async function convertLayer(
  ctx: PrepareContext,
  input: LayerInput,
  src: SourceBlobFile,
  actual: Compression,
  target: Compression,
  annotated: string | null,
  report: (state: LayerState, bytes: number) => void,
): Promise<Omit<PreparedLayer, 'release'>> {
  const d = input.desc;
  const t = await ctx.convertTarget();
  const plan: BlobPlan = {
    source: d.digest,
    size: d.size,
    sourceMediaType: d.mediaType,
    actual,
    action: 'convert',
    target,
    mediaType: layerMediaType(target, ctx.layers.oci),
    diffID: annotated,
    present: true,
    uses: 1,
    note: null,
  };
  // The file is already at hand: hand it over again instead of fetching it twice.
  const held = { kind: ctx.opened.blobs.kind, location: ctx.opened.blobs.location, has: ctx.opened.blobs.has.bind(ctx.opened.blobs) };
  const result = await exportBlob({
    blob: plan,
    blobs: {
      ...held,
      get: async (want, options) => (want.digest === src.digest ? { ...src, release: async () => {} } : ctx.opened.blobs.get(want, options)),
    },
    sourceLabels: t.sourceLabels,
    sourceRoot: ctx.opened.layout?.dir ?? null,
    dest: t.store,
    destDev: t.dev,
    allowLink: true,
    verify: 'remembered',
    memo: ctx.memo,
    level: ctx.layers.level,
    signal: ctx.signal,
    report: (state, bytes) => report(state, bytes ?? 0),
  }).catch((err: unknown) => {
    if (err instanceof CacheError && err.code === 'digest-mismatch' && /annotation says/.test(err.message)) {
      throw new CacheError('digest-mismatch', `layer ${input.index} (blob ${d.digest}): diffID mismatch: ${err.message}`, err.details);
    }
    throw err;
  });
  const c = result.converted!;
  return {
    source: d,
    desc: { mediaType: layerMediaType(target, ctx.layers.oci), digest: c.digest, size: c.size },
    path: t.store.blobPath(c.digest),
    diffID: c.diffID,
    converted: true,
    hashed: null,
  };
}

/**
 * Every layer, `concurrency` at a time (decompression runs in libuv's pool, hashing on this thread:
 * two layers at once keep both cores busy). The first failure stops the others; a missing blob of a
 * lower layer is reported before a later layer's failure.
 */
export async function prepareLayers(ctx: PrepareContext, inputs: readonly LayerInput[], concurrency: number): Promise<PreparedLayer[]> {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const inner: PrepareContext = { ...ctx, signal };
  const out: (PreparedLayer | undefined)[] = new Array(inputs.length);
  const errors: { index: number; err: unknown }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length && errors.length === 0) {
      const i = next++;
      try {
        out[i] = await prepareLayer(inner, inputs[i]);
      } catch (err) {
        errors.push({ index: i, err });
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, inputs.length)) }, worker));
  if (errors.length > 0) {
    for (const l of out) await l?.release().catch(() => {});
    ctx.signal.throwIfAborted();
    // Our own stop makes the others fail with AbortError: report the real failure, lowest layer first.
    const real = errors.filter((e) => (e.err as Error)?.name !== 'AbortError').sort((a, b) => a.index - b.index);
    throw (real[0] ?? errors[0]).err;
  }
  return out as PreparedLayer[];
}
