/** Every cache manifest in a layout folder, tagged or orphaned, with dates: what the diff picker lists. */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Generation } from '../../shared/contract/requests';
import { CacheError } from '../../shared/contract/errors';
import { timestampNanos } from '../../shared/cache/time';
import { Annotation, MediaType } from '../../shared/oci/media-types';
import { isDigest } from '../../shared/oci/digest';
import { readIndex } from './layout-index';

/** Cache manifests are small; anything larger is a layer and is not read. */
const MAX_MANIFEST = 4 << 20;

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

interface ManifestLike {
  mediaType?: string;
  config?: { mediaType?: string };
  layers?: { annotations?: Record<string, string> }[] | null;
  manifests?: { mediaType?: string; annotations?: Record<string, string> }[];
}

function cacheManifestLayers(m: ManifestLike): { annotations?: Record<string, string> }[] | null {
  if (m.config?.mediaType === MediaType.cacheConfigV0) return m.layers ?? [];
  if (Array.isArray(m.manifests) && m.manifests.some((d) => d?.mediaType === MediaType.cacheConfigV0)) {
    return m.manifests.filter((d) => d?.mediaType !== MediaType.cacheConfigV0);
  }
  return null;
}

function newest(layers: { annotations?: Record<string, string> }[]): string | null {
  let best: string | null = null;
  let bestNs = -1n;
  for (const l of layers) {
    const t = l?.annotations?.[Annotation.createdAt];
    const ns = t ? timestampNanos(t) : null;
    if (t && ns !== null && ns > bestNs) {
      best = t;
      bestNs = ns;
    }
  }
  return best;
}

export async function listGenerations(dir: string): Promise<Generation[]> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new CacheError('not-found', `${dir}: no such directory`);
  }
  if (!info.isDirectory()) throw new CacheError('invalid-source', `${dir} is not a directory`);
  const index = await readIndex(dir);
  const tagsByDigest = new Map<string, string[]>();
  for (const d of index.manifests) {
    const tag = d.annotations?.[Annotation.refName] ?? d.annotations?.[Annotation.imageName];
    const list = tagsByDigest.get(d.digest) ?? [];
    if (tag) list.push(tag);
    tagsByDigest.set(d.digest, list);
  }
  const out: Generation[] = [];
  const algDir = join(dir, 'blobs', 'sha256');
  let names: string[] = [];
  try {
    names = await readdir(algDir);
  } catch {
    names = [];
  }
  for (const hex of names) {
    const digest = `sha256:${hex}`;
    if (!isDigest(digest)) continue;
    const file = join(algDir, hex);
    const st = await stat(file);
    if (!st.isFile() || st.size > MAX_MANIFEST || st.size < 2 || !(await startsWithBrace(file))) continue;
    let m: ManifestLike;
    try {
      m = JSON.parse(await readFile(file, 'utf8')) as ManifestLike;
    } catch {
      continue;
    }
    const layers = m && typeof m === 'object' ? cacheManifestLayers(m) : null;
    if (!layers) continue;
    const tags = tagsByDigest.get(digest) ?? [];
    const tagged = tagsByDigest.has(digest);
    out.push({
      source: tags.length > 0 ? `${dir}:${tags[0]}` : `${dir}@${digest}`,
      digest,
      size: st.size,
      mediaType: m.mediaType ?? (m.config ? MediaType.dockerManifest : MediaType.dockerManifestList),
      tags,
      orphan: !tagged,
      createdAt: newest(layers),
      layerCount: layers.length,
    });
  }
  out.sort((a, b) => {
    if (a.orphan !== b.orphan) return a.orphan ? 1 : -1;
    const x = a.createdAt ? timestampNanos(a.createdAt) ?? 0n : 0n;
    const y = b.createdAt ? timestampNanos(b.createdAt) ?? 0n : 0n;
    return x === y ? a.digest.localeCompare(b.digest) : x > y ? -1 : 1;
  });
  return out;
}
