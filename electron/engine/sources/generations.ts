/** Every cache manifest in a layout folder, tagged or orphaned, with dates: what the diff picker lists. */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation } from '../../../shared/contract/requests';
import { CacheError } from '../../../shared/contract/errors';
import { parseCacheManifest } from '../../../shared/cache/parse-manifest';
import { timestampNanos } from '../../../shared/cache/time';
import { Annotation } from '../../../shared/oci/media-types';
import { isDigest } from '../../../shared/oci/digest';
import type { Descriptor } from '../../../shared/oci/types';
import { readIndex, tagProblem } from '../store/layout-index';

/** Cache manifests are small (the largest real one seen is 43 KB); anything larger is a layer and is not read. */
const MAX_MANIFEST = 4 << 20;
const ALGORITHMS = ['sha256', 'sha512'];

async function startsWithBrace(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, 0);
    return buf[0] === 0x7b;
  } finally {
    await fh.close();
  }
}

/** The newest `buildkit/createdat` among the layers, as its original string (compared as nanoseconds). */
function newest(layers: Descriptor[]): string | null {
  let best: string | null = null;
  let bestNs = 0n;
  for (const l of layers) {
    const t = l.annotations?.[Annotation.createdAt];
    const ns = t ? timestampNanos(t) : null;
    if (t && ns !== null && (best === null || ns > bestNs)) {
      best = t;
      bestNs = ns;
    }
  }
  return best;
}

/** A generation's bytes: the manifest file, its config and each distinct blob it lists, by descriptor size. */
function generationBytes(m: { layers: Descriptor[]; config: Descriptor | null; size: number }): number {
  const sizes = new Map<string, number>();
  for (const d of [...(m.config ? [m.config] : []), ...m.layers]) sizes.set(d.digest, d.size);
  let total = m.size;
  for (const size of sizes.values()) total += size;
  return total;
}

/** Reads a blob as a cache manifest, or null when it is anything else (a layer, a config, an image manifest, unreadable). */
async function readCacheManifest(file: string): Promise<{ mediaType: string; layers: Descriptor[]; config: Descriptor | null; size: number } | null> {
  try {
    const st = await stat(file);
    if (!st.isFile() || st.size > MAX_MANIFEST || st.size < 2 || !(await startsWithBrace(file))) return null;
    const pm = parseCacheManifest(JSON.parse(await readFile(file, 'utf8')), file);
    if (!pm.config && !pm.legacyAnnotated) return null;
    return { mediaType: pm.mediaType, layers: pm.layers, config: pm.config, size: st.size };
  } catch {
    return null; // vanished, unreadable, not JSON, not a manifest: not a generation
  }
}

export async function listGenerations(dir: string): Promise<Generation[]> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new CacheError('not-found', `${dir}: no such directory`, { path: dir });
  }
  if (!info.isDirectory()) throw new CacheError('invalid-source', `${dir} is not a directory`, { path: dir });
  const index = await readIndex(dir);
  const tagsByDigest = new Map<string, string[]>();
  for (const d of index.manifests) {
    const list = tagsByDigest.get(d.digest) ?? [];
    for (const tag of [d.annotations?.[Annotation.refName], d.annotations?.[Annotation.imageName]]) {
      if (tag && !list.includes(tag)) list.push(tag);
    }
    tagsByDigest.set(d.digest, list);
  }
  const out: Generation[] = [];
  for (const alg of ALGORITHMS) {
    const algDir = join(dir, 'blobs', alg);
    const names = await readdir(algDir).catch(() => [] as string[]);
    for (const hex of names) {
      const digest = `${alg}:${hex}`;
      if (!isDigest(digest)) continue;
      const m = await readCacheManifest(join(algDir, hex));
      if (!m) continue;
      const tags = tagsByDigest.get(digest) ?? [];
      // A tag that cannot be written as `DIR:tag` is still shown; the source then names the digest.
      const openable = tags.find((t) => tagProblem(t) === null);
      out.push({
        source: openable ? `${dir}:${openable}` : `${dir}@${digest}`,
        digest,
        size: m.size,
        totalBytes: generationBytes(m),
        mediaType: m.mediaType,
        tags,
        orphan: !tagsByDigest.has(digest),
        createdAt: newest(m.layers),
        layerCount: m.layers.length,
      });
    }
  }
  out.sort((a, b) => {
    if (a.orphan !== b.orphan) return a.orphan ? 1 : -1;
    const x = a.createdAt ? (timestampNanos(a.createdAt) ?? 0n) : 0n;
    const y = b.createdAt ? (timestampNanos(b.createdAt) ?? 0n) : 0n;
    return x === y ? (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0) : x > y ? -1 : 1;
  });
  return out;
}
