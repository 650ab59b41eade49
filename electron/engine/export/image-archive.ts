/**
 * A docker-archive tar as `docker save` (legacy form) writes it: `<id>/layer.tar` per layer,
 * `<config-hex>.json`, `manifest.json` and `repositories`; what `docker load`, `podman load` and
 * skopeo's `docker-archive:` read. Layers keep their compression (all three decompress on load).
 */
import { createReadStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import type { ImageName } from '../../../shared/image/names';

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** The largest size the 12-byte octal field holds (11 digits): 8 GiB - 1. */
const MAX_OCTAL_SIZE = 0o77777777777;

/** The size field: octal, or GNU's base-256 form (high bit set, big-endian) for a layer of 8 GiB or more, as Go's archive/tar writes and reads it. */
function sizeField(size: number): Buffer {
  if (size <= MAX_OCTAL_SIZE) return Buffer.from(octal(size, 12), 'latin1');
  const b = Buffer.alloc(12, 0);
  b.writeBigUInt64BE(BigInt(size), 4);
  b[0] = 0x80;
  return b;
}

/** A ustar header for a regular file (mode 0644, owner 0, mtime 0: reproducible). */
export function fileHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new CacheError('internal', `tar entry name too long: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 'utf8');
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  sizeField(size).copy(h, 124);
  h.write(octal(0, 12), 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

export interface ArchiveLayer {
  path: string;
  size: number;
  diffID: string;
}

export interface ArchiveInput {
  file: string;
  config: Uint8Array;
  configDigest: string;
  layers: ArchiveLayer[];
  names: ImageName[];
  signal?: AbortSignal;
  onLayer?: (index: number) => void;
}

/** Writes the archive next to `file` and renames it into place, so a failed write leaves no partial archive. */
export async function writeDockerArchive(input: ArchiveInput): Promise<void> {
  const tmp = join(dirname(input.file), `.${basename(input.file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w').catch((err: NodeJS.ErrnoException) => {
    throw new CacheError('io', `cannot create ${input.file}: ${err.code ?? err.message}`, { file: input.file });
  });
  let pos = 0;
  const put = async (b: Uint8Array): Promise<void> => {
    await fh.write(b, 0, b.length, pos);
    pos += b.length;
  };
  const pad = async (size: number): Promise<void> => {
    const r = size % BLOCK;
    if (r) await put(Buffer.alloc(BLOCK - r));
  };
  const entry = async (name: string, data: Uint8Array): Promise<void> => {
    await put(fileHeader(name, data.length));
    await put(data);
    await pad(data.length);
  };
  try {
    const layerNames: string[] = [];
    const written = new Set<string>();
    for (const [i, l] of input.layers.entries()) {
      input.signal?.throwIfAborted();
      const name = `${l.diffID.slice(l.diffID.indexOf(':') + 1)}/layer.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      written.add(name);
      await put(fileHeader(name, l.size));
      let copied = 0;
      for await (const chunk of createReadStream(l.path, { highWaterMark: 1 << 20, signal: input.signal })) {
        await put(chunk as Buffer);
        copied += (chunk as Buffer).length;
      }
      if (copied !== l.size) throw new CacheError('io', `${l.path}: read ${copied} bytes, expected ${l.size} (changed while exporting?)`, { file: l.path });
      await pad(l.size);
      input.onLayer?.(i);
    }
    const configName = `${input.configDigest.slice(input.configDigest.indexOf(':') + 1)}.json`;
    await entry(configName, input.config);
    const repoTags = input.names.filter((n) => n.tag !== null).map((n) => `${n.domain}/${n.path}:${n.tag}`);
    const manifest = [{ Config: configName, RepoTags: repoTags.length > 0 ? repoTags : null, Layers: layerNames }];
    await entry('manifest.json', Buffer.from(JSON.stringify(manifest)));
    if (repoTags.length > 0) {
      const top = layerNames.length > 0 ? layerNames[layerNames.length - 1].split('/')[0] : '';
      const repos: Record<string, Record<string, string>> = {};
      for (const n of input.names) if (n.tag !== null) (repos[`${n.domain}/${n.path}`] ??= {})[n.tag] = top;
      await entry('repositories', Buffer.from(JSON.stringify(repos)));
    }
    await put(Buffer.alloc(BLOCK * 2));
    await fh.sync();
    await fh.close();
    await rename(tmp, input.file);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
