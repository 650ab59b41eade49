/**
 * Minimal ustar writer for generated layer tarballs. The header layout follows what Go's archive/tar
 * writes in BuildKit layers (checked against a real layer in the dto-pattern fixture): zero-padded
 * octal numbers ending in NUL, `ustar\0` + `00`, empty user/group names, devmajor/devminor written as
 * zeros, the checksum as six octal digits, NUL, space.
 *
 * Headers and padding are separate pieces so the generator can stream large file bodies between them.
 */

export const TAR_BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, relative, `/`-separated. Directories may end in `/` (added if missing). */
  name: string;
  type: 'file' | 'directory';
  /** Size of the body in bytes (files only). */
  size?: number;
  /** Permission bits; default 0644 for files, 0755 for directories. */
  mode?: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

const encoder = new TextEncoder();

/** One 512-byte ustar header. */
export function tarHeader(entry: TarEntry): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  const isDir = entry.type === 'directory';
  const fullName = isDir && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const [prefix, name] = splitName(fullName);
  const size = isDir ? 0 : entry.size ?? 0;

  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, entry.mode ?? (isDir ? 0o755 : 0o644));
  writeOctal(block, 108, 8, entry.uid ?? 0);
  writeOctal(block, 116, 8, entry.gid ?? 0);
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, entry.mtime);
  block[156] = isDir ? 0x35 /* '5' */ : 0x30 /* '0' */;
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeString(block, 265, 32, entry.uname ?? '');
  writeString(block, 297, 32, entry.gname ?? '');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  writeString(block, 345, 155, prefix);

  // The checksum is the byte sum of the header with the checksum field read as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i];
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Zero bytes that take a body of `size` bytes to the next block boundary (possibly none). */
export function tarPadding(size: number): Uint8Array {
  const rest = size % TAR_BLOCK;
  return new Uint8Array(rest === 0 ? 0 : TAR_BLOCK - rest);
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * TAR_BLOCK);
}

/** A whole archive in memory, for small layers. */
export function buildTar(entries: ReadonlyArray<TarEntry & { data?: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data ?? new Uint8Array(0) : new Uint8Array(0);
    parts.push(tarHeader({ ...e, size: data.length }), data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** ustar keeps names in two fields: a 155-byte prefix and a 100-byte name, split at a `/`. */
function splitName(path: string): [prefix: string, name: string] {
  const bytes = encoder.encode(path).length;
  if (bytes <= 100) return ['', path];
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/' || i === path.length - 1) continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100 && name.length > 0) return [prefix, name];
  }
  throw new RangeError(`tar: path too long for ustar: ${path}`);
}

function writeString(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new RangeError(`tar: ${JSON.stringify(text)} does not fit in ${length} bytes`);
  block.set(bytes, offset);
}

/** Zero-padded octal in length-1 digits followed by NUL, as Go's formatOctal writes it. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`tar: invalid numeric field ${value}`);
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new RangeError(`tar: ${value} does not fit in a ${length}-byte octal field`);
  writeString(block, offset, length, `${digits.padStart(length - 1, '0')}\0`);
}
