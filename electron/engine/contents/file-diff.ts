/**
 * File diff of two layers or two chains: added, removed and changed paths. Metadata first (type, size,
 * mode, link target, owner); content hashes are compared only when the caller supplies them (they
 * cost a read of both blobs), and only for files whose metadata is equal.
 */
import type { LayerEntry } from './layer-entry';
import { squash } from './chain-tree';

export interface ChangedFile {
  path: string;
  a: LayerEntry;
  b: LayerEntry;
  /** What differs: 'type', 'size', 'mode', 'link', 'owner', 'content'. */
  what: string[];
}

export interface FileDiff {
  added: LayerEntry[];
  removed: LayerEntry[];
  changed: ChangedFile[];
  /** Every path that differs, sorted: what a one-line summary names. */
  paths: string[];
}

/** Per path content digests (sha256 of a file's bytes), from `hashLayerFiles`. */
export type ContentHashes = ReadonlyMap<string, string>;

function differences(a: LayerEntry, b: LayerEntry): string[] {
  const what: string[] = [];
  if (a.type !== b.type || a.whiteout !== b.whiteout) what.push('type');
  if (a.size !== b.size) what.push('size');
  if ((a.mode & 0o7777) !== (b.mode & 0o7777)) what.push('mode');
  if ((a.link ?? '') !== (b.link ?? '')) what.push('link');
  if (a.uid !== b.uid || a.gid !== b.gid) what.push('owner');
  return what;
}

/** Keyed by path; a layer's whiteouts are keyed `path` too (marked by `whiteout`), the last entry for a path wins. */
function byPath(entries: Iterable<LayerEntry>): Map<string, LayerEntry> {
  const m = new Map<string, LayerEntry>();
  for (const e of entries) if (e.path !== '' || e.whiteout) m.set(e.path, e);
  return m;
}

export function diffEntries(aEntries: Iterable<LayerEntry>, bEntries: Iterable<LayerEntry>, hashes?: { a: ContentHashes; b: ContentHashes }): FileDiff {
  const a = byPath(aEntries);
  const b = byPath(bEntries);
  const added: LayerEntry[] = [];
  const removed: LayerEntry[] = [];
  const changed: ChangedFile[] = [];
  for (const [path, eb] of b) {
    const ea = a.get(path);
    if (!ea) {
      added.push(eb);
      continue;
    }
    const what = differences(ea, eb);
    if (what.length === 0 && hashes && ea.type === 'file') {
      const ha = hashes.a.get(path);
      const hb = hashes.b.get(path);
      if (ha !== undefined && hb !== undefined && ha !== hb) what.push('content');
    }
    if (what.length > 0) changed.push({ path, a: ea, b: eb, what });
  }
  for (const [path, ea] of a) if (!b.has(path)) removed.push(ea);
  const cmp = (x: { path: string }, y: { path: string }): number => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);
  added.sort(cmp);
  removed.sort(cmp);
  changed.sort(cmp);
  const paths = [...added, ...removed, ...changed].map((x) => x.path).sort();
  return { added, removed, changed, paths };
}

/** Diff of two chains' squashed trees (each chain's layers base first). */
export function diffChains(a: readonly (readonly LayerEntry[])[], b: readonly (readonly LayerEntry[])[], hashes?: { a: ContentHashes; b: ContentHashes }): FileDiff {
  const entries = (layers: readonly (readonly LayerEntry[])[]) => [...squash(layers).values()].map((n) => n.entry);
  return diffEntries(entries(a), entries(b), hashes);
}

/** "src/app.ts, package.json (+3 more)": at most `max` paths named. */
export function summarizePaths(paths: readonly string[], max = 5): string {
  if (paths.length === 0) return 'none';
  const shown = paths.slice(0, max).join(', ');
  return paths.length > max ? `${shown} (+${paths.length - max} more)` : shown;
}
