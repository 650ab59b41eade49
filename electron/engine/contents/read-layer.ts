/**
 * Lists a layer blob's tar entries without extracting anything: the file is decompressed as a stream
 * (gzip, zstd, eStargz's gzip members, or none, by its magic bytes) and its headers read by
 * tar-headers.ts, which skips file data without copying it (tar-stream, the reference, is ~1.3–4×
 * slower: bench/contents-bench.ts); memory is bounded by the entry cap, not the layer size.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Header } from 'tar-stream';
import { CacheError } from '../../../shared/contract/errors';
import { createDecompressor, sniffCompression } from '../export/compression';
import type { Compression } from '../export/compression';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, displayName, entryType, joinPath, landingPath, nameWarning, splitPath } from './layer-entry';
import type { LayerEntry } from './layer-entry';
import { TarFormatError, TarLister } from './tar-headers';
import type { DataSink } from './tar-headers';
import { zstdPull } from './zstd-pull';

/** Entries kept per layer; beyond it the listing only counts (a tar bomb stays within bounded memory). */
export const MAX_ENTRIES = 1_000_000;

export interface LayerListing {
  /** Bumped when the shape changes, so an old cached listing is read again rather than misread. */
  version: 1;
  compression: Compression;
  /** sha256 of the decompressed stream (the layer's diffID), when it was computed. */
  diffID: string | null;
  compressedBytes: number;
  uncompressedBytes: number;
  entries: LayerEntry[];
  /** Every entry seen before the end-of-archive marker, including those beyond the cap. */
  entryCount: number;
  truncated: boolean;
  /** Said when entries were left out: the cap, or entries after the end-of-archive marker (an eStargz TOC). */
  notes: string[];
}

export interface ListProgress {
  bytes: number;
  total: number;
  entries: number;
}

export interface ListOptions {
  signal?: AbortSignal;
  onProgress?: (p: ListProgress) => void;
  maxEntries?: number;
  /** Hash the decompressed stream to learn or check its diffID (default true). */
  hash?: boolean;
  /** Asks for an entry's data (own reader only): return a sink to receive it, e.g. to hash a file. */
  onEntryData?: (entry: LayerEntry) => DataSink | null;
  /** The header reader (tar-headers.ts, default) or tar-stream, the reference it is tested against. */
  parser?: 'own' | 'tar-stream';
}


function toEntry(h: Header): LayerEntry {
  const name = displayName(h.name);
  const warnings: string[] = [];
  const w = nameWarning(name.text);
  if (w) warnings.push(w);
  if (name.notUtf8) warnings.push('name is not UTF-8 (bytes shown as \\xNN)');
  else if (name.escaped) warnings.push('name has control characters');
  let path = landingPath(name.text);
  const entry: LayerEntry = {
    path,
    type: entryType(h.type),
    size: h.type === 'file' || h.type === 'contiguous-file' ? (h.size ?? 0) : 0,
    mode: h.mode ?? 0,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
  };
  if (h.linkname !== null && h.linkname !== undefined && h.linkname !== '') entry.link = displayName(h.linkname).text;
  const { dir, base } = splitPath(path);
  if (base.startsWith(WHITEOUT_PREFIX)) {
    if (base === OPAQUE_MARKER) {
      entry.whiteout = 'opaque';
      path = dir;
    } else if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
      // AUFS metadata (.wh..wh.plnk and the like): the OCI spec says to ignore it.
      warnings.push('AUFS whiteout metadata (ignored when applied)');
    } else {
      entry.whiteout = 'file';
      path = joinPath(dir, base.slice(WHITEOUT_PREFIX.length));
    }
    entry.path = path;
  }
  if (entry.whiteout || entry.path !== name.text.replace(/^(\.\/)+/, '').replace(/\/+$/, '')) entry.raw = name.text;
  if (warnings.length > 0) entry.warning = warnings.join('; ');
  return entry;
}

/**
 * Lists the tar in `file`. Entries after the first end-of-archive marker are not part of the layer
 * (Go's archive/tar, and so containerd, stop there): eStargz keeps its TOC there, and they are only
 * counted in a note.
 */
export async function listLayerFile(file: string, options: ListOptions = {}): Promise<LayerListing> {
  const { signal, onProgress } = options;
  const maxEntries = options.maxEntries ?? MAX_ENTRIES;
  const cancelled = (): CacheError => new CacheError('cancelled', `listing ${file} was cancelled`, { file });
  if (signal?.aborted) throw cancelled();
  const total = (await stat(file)).size;
  const compression = await sniffCompression(file);
  if (signal?.aborted) throw cancelled();
  const useTarStream = options.parser === 'tar-stream';
  // zstd-napi's stream allocates and pushes every 128 KiB; a pull loop with one reused buffer is ~4× faster.
  const pull = compression === 'zstd' && !useTarStream ? zstdPull() : null;
  const input = pull ? null : createReadStream(file, { highWaterMark: 1 << 20 });
  const decompressor = pull ? null : createDecompressor(compression);
  const hash = options.hash === false ? null : createHash('sha256');

  const entries: LayerEntry[] = [];
  let entryCount = 0;
  let afterEnd = 0;
  let compressedBytes = 0;
  let uncompressedBytes = 0;
  const onHeader = (header: Header, isAfterEnd: boolean): DataSink | undefined => {
    if (isAfterEnd) {
      afterEnd++;
      return undefined;
    }
    entryCount++;
    const entry = entries.length < maxEntries || options.onEntryData ? toEntry(header) : null;
    if (entry && entries.length < maxEntries) entries.push(entry);
    return entry && options.onEntryData ? (options.onEntryData(entry) ?? undefined) : undefined;
  };

  let lastProgress = 0;
  const onInput = (n: number): void => {
    compressedBytes += n;
    if (onProgress && compressedBytes - lastProgress >= 4 << 20) {
      lastProgress = compressedBytes;
      onProgress({ bytes: compressedBytes, total, entries: entryCount });
    }
  };

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let extract: { destroy(): void } | null = null;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      input?.destroy();
      decompressor?.destroy();
      extract?.destroy();
      reject(err);
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => fail(cancelled());
    signal?.addEventListener('abort', onAbort, { once: true });
    const wrap = (what: string) => (err: Error) =>
      fail(err instanceof CacheError ? err : new CacheError('invalid-source', `${file}: ${what}: ${err.message}`, { file }));
    const lister = new TarLister(onHeader);
    if (pull) {
      const onOutput = (chunk: Buffer): void => {
        hash?.update(chunk);
        uncompressedBytes += chunk.length;
        lister.write(chunk);
      };
      pull(file, onInput, onOutput, () => settled)
        .then(() => {
          lister.end();
          succeed();
        })
        .catch((err: Error) => wrap(err instanceof TarFormatError ? 'not a valid tar archive' : (err as NodeJS.ErrnoException).code ? 'cannot read' : 'not valid zstd data')(err));
      return;
    }
    if (!input || !decompressor) return;
    input.on('error', wrap('cannot read'));
    decompressor.on('error', wrap(`not valid ${compression} data`));
    if (useTarStream) {
      // Loaded only when asked (tests, bench): the CLI bundle never parses tar-stream.
      import('./tar-stream-reference')
        .then(({ tarStreamLister }) => {
          if (settled) return;
          const ex = tarStreamLister(decompressor, onHeader, (n) => (uncompressedBytes += n), hash);
          extract = ex;
          ex.on('error', wrap('not a valid tar archive'));
          ex.on('finish', succeed);
          input.on('data', (chunk: Buffer | string) => onInput(chunk.length));
          input.pipe(decompressor).pipe(ex as unknown as NodeJS.WritableStream);
        })
        .catch(wrap('cannot load tar-stream'));
      return;
    }
    decompressor.on('data', (chunk: Buffer) => {
      if (settled) return;
      hash?.update(chunk);
      uncompressedBytes += chunk.length;
      try {
        lister.write(chunk);
      } catch (err) {
        wrap('not a valid tar archive')(err as Error);
      }
    });
    decompressor.on('end', () => {
      try {
        lister.end();
        succeed();
      } catch (err) {
        wrap('not a valid tar archive')(err as Error);
      }
    });
    // A 'data' listener starts the flow: attached only now that the pipe is in place.
    input.on('data', (chunk: Buffer | string) => onInput(chunk.length));
    input.pipe(decompressor);
  });

  const notes: string[] = [];
  const truncated = entryCount > entries.length;
  if (truncated) notes.push(`showing the first ${entries.length.toLocaleString('en-US')} of ${entryCount.toLocaleString('en-US')} entries (the listing is capped at ${maxEntries.toLocaleString('en-US')})`);
  if (afterEnd > 0) notes.push(`${afterEnd} entr${afterEnd === 1 ? 'y' : 'ies'} after the end-of-archive marker left out (not applied by containerd; an eStargz TOC lives there)`);
  onProgress?.({ bytes: compressedBytes, total, entries: entryCount });
  return {
    version: 1,
    compression,
    diffID: hash ? `sha256:${hash.digest('hex')}` : null,
    compressedBytes,
    uncompressedBytes,
    entries,
    entryCount,
    truncated,
    notes,
  };
}
