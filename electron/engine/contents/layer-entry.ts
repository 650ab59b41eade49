/**
 * One tar entry of a layer as Cachescope shows it: the name as the archive has it (escaped when it is
 * not UTF-8), the path it lands on when applied, and what the OCI layer spec makes of whiteouts.
 * Nothing here touches a file system: entries are only ever listed, never extracted.
 */
import { posix } from 'node:path';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface LayerEntry {
  /** Where the entry lands under the root: cleaned and confined (no leading `/`, `./`, no `..`), as containerd's applier places it. */
  path: string;
  /** The name exactly as in the archive (escaped), when it differs from `path`. */
  raw?: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink or hard link target, as in the archive (escaped). */
  link?: string;
  /** `file`: a `.wh.NAME` entry, `path` is NAME (removed); `opaque`: `.wh..wh..opq`, `path` is its directory (emptied below). */
  whiteout?: 'file' | 'opaque';
  /** Why the name is unusual: an absolute path, a `..` component, bytes that are not UTF-8, control characters. */
  warning?: string;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const PLAIN = /^[\x20-\x7e]*$/;

/**
 * Turns a name decoded as latin1 (one char per byte) back into text: UTF-8 when its bytes are valid
 * UTF-8, else every byte above 0x7f as `\xNN`; control characters are always escaped.
 */
export function displayName(latin1: string): { text: string; escaped: boolean; notUtf8: boolean } {
  if (PLAIN.test(latin1)) return { text: latin1, escaped: false, notUtf8: false };
  const bytes = Buffer.from(latin1, 'latin1');
  let text: string;
  let notUtf8 = false;
  try {
    text = utf8.decode(bytes);
  } catch {
    notUtf8 = true;
    text = latin1.replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  }
  const escapedCtl = text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return { text: escapedCtl, escaped: notUtf8 || escapedCtl !== text, notUtf8 };
}

/** The path a name lands on: `/`-rooted clean, so `../../etc/x` and `/etc/x` both mean `etc/x` (containerd confines names to the root). */
export function landingPath(name: string): string {
  const clean = posix.normalize(`/${name}`);
  return clean === '/' ? '' : clean.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Why a name is worth a warning, or null: absolute, `..` components. */
export function nameWarning(name: string): string | null {
  if (name.startsWith('/')) return 'absolute path';
  if (name.split('/').includes('..')) return 'has ".." components';
  return null;
}

const TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

export function entryType(tarType: string | null | undefined): EntryType {
  return (tarType && TYPES[tarType]) || 'other';
}

/** Splits a landing path into its directory and base name. */
export function splitPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/');
  return i < 0 ? { dir: '', base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}

export function joinPath(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

/** Whether `path` is `dir` itself or below it (`dir` '' is the root). */
export function isWithin(path: string, dir: string): boolean {
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}
