/**
 * The listing through tar-stream, kept as the reference the own header reader (tar-headers.ts) is
 * tested against and benchmarked with (`listLayerFile(file, { parser: 'tar-stream' })`).
 */
import type { Hash } from 'node:crypto';
import { extract as tarExtract } from 'tar-stream';
import type { Header } from 'tar-stream';

const BLOCK = 512;
const pad = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;
/** Decompressed chunks kept so the block before a header can be checked for the end-of-archive marker. */
const KEEP_CHUNKS = 4;

/**
 * tar-stream reads on after zero blocks, so the end-of-archive marker is found by
 * looking at the block where the next header should have started.
 */
export function tarStreamLister(decompressed: NodeJS.ReadableStream, onHeader: (h: Header, afterEnd: boolean) => void, onBytes: (n: number) => void, hash: Hash | null): ReturnType<typeof tarExtract> {
  const extract = tarExtract({ filenameEncoding: 'latin1', allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  let ended = false;
  let nextHeader = 0;
  let seen = 0;
  const kept: { start: number; chunk: Buffer }[] = [];
  const zeroBlockAt = (offset: number): boolean | null => {
    for (const { start, chunk } of kept) {
      if (offset >= start && offset + BLOCK <= start + chunk.length) {
        for (let i = offset - start, end = i + BLOCK; i < end; i++) if (chunk[i] !== 0) return false;
        return true;
      }
    }
    return null;
  };
  // Registered before the pipe to tar-stream, so a chunk is kept before the headers in it are parsed.
  decompressed.on('data', (chunk: Buffer) => {
    hash?.update(chunk);
    kept.push({ start: seen, chunk });
    if (kept.length > KEEP_CHUNKS) kept.shift();
    seen += chunk.length;
    onBytes(chunk.length);
  });
  extract.on('entry', (header, stream, next) => {
    // tar-stream sets byteOffset (where the entry's data starts) though its types do not say so.
    const dataStart = (header as Header & { byteOffset?: number }).byteOffset ?? 0;
    if (!ended && dataStart - BLOCK > nextHeader && zeroBlockAt(nextHeader) === true) ended = true;
    nextHeader = dataStart + (header.type === 'directory' ? 0 : pad(header.size ?? 0));
    onHeader(header, ended);
    stream.on('end', () => next());
    stream.resume();
  });
  return extract;
}

