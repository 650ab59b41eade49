/**
 * The registry browser's rows: every tag of a repository with its cache form, media types, bytes and
 * newest `buildkit/createdat`, read with manifests and small configs only (never a layer blob), and
 * the guarded delete of a tag's manifest. The CLI (`cachescope tags`) and the app share this code.
 */
import { CacheError } from '../../../shared/contract/errors';
import type { RegistryDeleteResult, RegistryTagForm, RegistryTagKind, RegistryTagRow, RegistryTagsResult } from '../../../shared/contract/requests';
import { parseCacheConfig, parseInlineRecords } from '../../../shared/cache/parse-config';
import type { NormConfig } from '../../../shared/cache/parse-config';
import { parseCacheManifest } from '../../../shared/cache/parse-manifest';
import type { ParsedManifest } from '../../../shared/cache/parse-manifest';
import { timestampNanos } from '../../../shared/cache/time';
import { Annotation, compressionOfMediaType, isDockerMediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import type { RegistryClient } from '../registry/client';
import { formatReference, parseReference } from '../registry/reference';
import type { RepositoryRef } from '../registry/reference';

/** Manifest and config reads in flight at once for one listing (the client bounds each host at 4 too). */
export const DEFAULT_TAG_CONCURRENCY = 4;
/** Cache configs of real caches are tens of kB; image configs a few kB. Anything bigger is not read. */
const MAX_CONFIG_BYTES = 16 << 20;
/** Platforms of an image index looked into (an index of hundreds of platforms is not a cache). */
const MAX_PLATFORMS = 16;

export interface TagListOptions {
  concurrency?: number;
  signal?: AbortSignal;
}

/** `host[:port]/repo` as the user wrote it; a tag or digest in it is refused, not silently dropped. */
export function parseRepository(text: string): RepositoryRef {
  const trimmed = text.trim();
  const lastSlash = trimmed.lastIndexOf('/');
  if (trimmed.includes('@') || trimmed.lastIndexOf(':') > lastSlash) {
    throw new CacheError('invalid-source', `${JSON.stringify(text)}: name a repository (registry/repo), without a tag or digest`, { field: 'repository' });
  }
  const ref = parseReference(trimmed);
  return { registry: ref.registry, repository: ref.repository };
}

/** Runs `work` over `items` with at most `limit` running at once; results in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** The newest of several RFC 3339 strings (compared as nanoseconds), as written. */
function newestOf(times: Iterable<string | undefined | null>): string | null {
  let best: string | null = null;
  let bestNs = 0n;
  for (const t of times) {
    const ns = t ? timestampNanos(t) : null;
    if (t && ns !== null && ns > 0n && (best === null || ns > bestNs)) {
      best = t;
      bestNs = ns;
    }
  }
  return best;
}

function configTimes(norm: NormConfig): string[] {
  const out: string[] = [];
  for (const l of norm.layers) if (l.annotations?.createdAt) out.push(l.annotations.createdAt);
  for (const r of norm.records) {
    for (const res of r.results) out.push(res.createdAt);
    for (const c of r.chains) out.push(c.createdAt);
  }
  return out;
}

/** What one tag's manifest (and its small configs) says, before tags are compared with each other. */
interface TagDetails {
  digest: string;
  mediaType: string;
  form: RegistryTagForm;
  kind: RegistryTagKind;
  family: 'oci' | 'docker' | 'mixed';
  compressions: string[];
  layerCount: number;
  /** Every blob the tag references, the manifest(s) included: digest → size. */
  blobs: Map<string, number>;
  createdAt: string | null;
  /** A part that could not be read (the row is still shown). */
  problem: string | null;
}

function familyOf(manifestType: string, layers: Descriptor[]): 'oci' | 'docker' | 'mixed' {
  const own = isDockerMediaType(manifestType) ? 'docker' : 'oci';
  for (const l of layers) {
    if (compressionOfMediaType(l.mediaType) === null) continue;
    if ((isDockerMediaType(l.mediaType) ? 'docker' : 'oci') !== own) return 'mixed';
  }
  return own;
}

function compressionsOf(layers: Descriptor[]): string[] {
  const set = new Set<string>();
  for (const l of layers) {
    const c = compressionOfMediaType(l.mediaType);
    if (c) set.add(c);
  }
  return [...set].sort();
}

/** Configs read in one listing, by digest: tags that share a config (or a whole manifest) read it once. */
type ConfigMemo = Map<string, Promise<unknown>>;

async function readJson(client: RegistryClient, repo: RepositoryRef, desc: Descriptor, signal: AbortSignal | undefined, memo: ConfigMemo): Promise<unknown> {
  let read = memo.get(desc.digest);
  if (!read) {
    read = client.readBlob(repo, desc, { signal, maxBytes: MAX_CONFIG_BYTES }).then((bytes) => JSON.parse(bytes.toString('utf8')) as unknown);
    memo.set(desc.digest, read);
  }
  return read;
}

/** An image manifest's inline cache, if its config carries one: the records' newest time. */
async function imageDetails(client: RegistryClient, repo: RepositoryRef, pm: ParsedManifest, where: string, signal: AbortSignal | undefined, memo: ConfigMemo): Promise<{ inline: boolean; createdAt: string | null }> {
  const cfg = pm.imageConfig;
  if (!cfg) return { inline: false, createdAt: null };
  const config = (await readJson(client, repo, cfg, signal, memo)) as Record<string, unknown> | null;
  const encoded = config && typeof config === 'object' ? config[Annotation.inlineCacheKey] : undefined;
  if (typeof encoded !== 'string') return { inline: false, createdAt: null };
  try {
    const records = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as unknown;
    const norm = parseInlineRecords(records, pm.layers.map((l) => l.digest), `${where} config ${Annotation.inlineCacheKey}`);
    return { inline: true, createdAt: newestOf(configTimes(norm)) };
  } catch {
    // It says it carries inline cache; an unreadable one is still an inline-cache image, without a date.
    return { inline: true, createdAt: null };
  }
}

function addBlobs(blobs: Map<string, number>, descs: (Descriptor | null)[]): void {
  for (const d of descs) if (d) blobs.set(d.digest, d.size);
}

/** Reads one tag: its manifest, and the cache config or image config(s) it points at. */
export async function describeTag(client: RegistryClient, repo: RepositoryRef, tag: string, signal?: AbortSignal, memo: ConfigMemo = new Map()): Promise<TagDetails> {
  const ref = { ...repo, tag };
  const where = formatReference(ref);
  const m = await client.getManifest(ref, { signal });
  const pm = parseCacheManifest(JSON.parse(m.bytes.toString('utf8')) as unknown, where);
  const blobs = new Map<string, number>([[m.digest, m.size]]);
  const base = { digest: m.digest, mediaType: m.mediaType || pm.mediaType, problem: null as string | null };
  if (pm.config || pm.legacyAnnotated) {
    addBlobs(blobs, [pm.config, ...pm.layers]);
    const times: (string | undefined)[] = pm.layers.map((l) => l.annotations?.[Annotation.createdAt]);
    let problem: string | null = null;
    if (pm.config) {
      try {
        times.push(...configTimes(parseCacheConfig(await readJson(client, repo, pm.config, signal, memo), `${where} cache config`)));
      } catch (err) {
        if (signal?.aborted) throw err;
        problem = `cache config unreadable: ${(err as Error).message}`;
      }
    }
    const form: RegistryTagForm = pm.legacyAnnotated ? 'legacy-index' : pm.kind === 'index' ? 'index' : 'image-manifest';
    return { ...base, form, kind: 'cache', family: familyOf(pm.mediaType, pm.layers), compressions: compressionsOf(pm.layers), layerCount: pm.layers.length, blobs, createdAt: newestOf(times), problem };
  }
  if (pm.imageConfig) {
    addBlobs(blobs, [pm.imageConfig, ...pm.layers]);
    const img = await imageDetails(client, repo, pm, where, signal, memo);
    return { ...base, form: 'image', kind: img.inline ? 'inline' : 'neither', family: familyOf(pm.mediaType, pm.layers), compressions: compressionsOf(pm.layers), layerCount: pm.layers.length, blobs, createdAt: img.createdAt };
  }
  if (pm.platformManifests.length > 0) {
    // An image index: each platform's image may carry inline cache.
    const layers: Descriptor[] = [];
    let inline = false;
    const times: (string | null)[] = [];
    let problem: string | null = pm.platformManifests.length > MAX_PLATFORMS ? `only the first ${MAX_PLATFORMS} of ${pm.platformManifests.length} platforms were read` : null;
    for (const child of pm.platformManifests.slice(0, MAX_PLATFORMS)) {
      blobs.set(child.digest, child.size);
      try {
        const cm = await client.getManifest({ ...repo, digest: child.digest }, { signal });
        const cpm = parseCacheManifest(JSON.parse(cm.bytes.toString('utf8')) as unknown, `${where} platform ${child.digest}`);
        addBlobs(blobs, [cpm.imageConfig, ...cpm.layers]);
        layers.push(...cpm.layers);
        const img = await imageDetails(client, repo, cpm, `${where} platform ${child.digest}`, signal, memo);
        inline ||= img.inline;
        times.push(img.createdAt);
      } catch (err) {
        if (signal?.aborted) throw err;
        problem = `platform ${child.digest} unreadable: ${(err as Error).message}`;
      }
    }
    return { ...base, form: 'image-index', kind: inline ? 'inline' : 'neither', family: familyOf(pm.mediaType, layers), compressions: compressionsOf(layers), layerCount: layers.length, blobs, createdAt: newestOf(times), problem };
  }
  addBlobs(blobs, pm.layers);
  return { ...base, form: 'other', kind: 'neither', family: familyOf(pm.mediaType, pm.layers), compressions: compressionsOf(pm.layers), layerCount: pm.layers.length, blobs, createdAt: null };
}

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += Math.max(0, v);
  return n;
}

/** Rows from each tag's details: shared manifests and unique bytes need every tag at once. */
export function tagRows(repo: RepositoryRef, tags: readonly string[], details: readonly (TagDetails | Error)[]): RegistryTagRow[] {
  const tagsByDigest = new Map<string, string[]>();
  const refs = new Map<string, number>();
  details.forEach((d, i) => {
    if (d instanceof Error) return;
    tagsByDigest.set(d.digest, [...(tagsByDigest.get(d.digest) ?? []), tags[i]]);
    for (const digest of d.blobs.keys()) refs.set(digest, (refs.get(digest) ?? 0) + 1);
  });
  return tags.map((tag, i) => {
    const d = details[i];
    const source = formatReference({ ...repo, tag });
    if (d instanceof Error) {
      return { tag, source, digest: null, mediaType: null, form: null, kind: null, family: null, compressions: [], layerCount: 0, totalBytes: 0, uniqueBytes: 0, createdAt: null, sharedWith: [], error: d.message };
    }
    const unique = [...d.blobs].filter(([digest]) => refs.get(digest) === 1).map(([, size]) => size);
    return {
      tag,
      source,
      digest: d.digest,
      mediaType: d.mediaType,
      form: d.form,
      kind: d.kind,
      family: d.family,
      compressions: d.compressions,
      layerCount: d.layerCount,
      totalBytes: sum(d.blobs.values()),
      uniqueBytes: sum(unique),
      createdAt: d.createdAt,
      sharedWith: (tagsByDigest.get(d.digest) ?? []).filter((t) => t !== tag),
      error: d.problem,
    };
  });
}

/** Every tag of `repository` (`host[:port]/repo`) with its details, read with bounded concurrency. */
export async function listRegistryTags(client: RegistryClient, repository: string, options: TagListOptions = {}): Promise<RegistryTagsResult> {
  const repo = parseRepository(repository);
  const tags = await client.listTags(repo, { signal: options.signal });
  const memo: ConfigMemo = new Map();
  const details = await mapBounded(tags, options.concurrency ?? DEFAULT_TAG_CONCURRENCY, async (tag) => {
    try {
      return await describeTag(client, repo, tag, options.signal, memo);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      return err instanceof Error ? err : new Error(String(err));
    }
  });
  return { repository: `${repo.registry}/${repo.repository}`, rows: tagRows(repo, tags, details) };
}

export interface DeleteTagOptions {
  /** Delete even when other tags point at the same manifest (they go with it). */
  force?: boolean;
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * Deletes the manifest `tag` points at (`DELETE /v2/<name>/manifests/<digest>`: the registry drops
 * every tag on it). Refuses when other listed tags share that manifest, unless forced; the
 * registry's own refusal (405 UNSUPPORTED when deletes are disabled) comes through verbatim.
 */
export async function deleteRegistryTag(client: RegistryClient, repository: string, tag: string, options: DeleteTagOptions = {}): Promise<RegistryDeleteResult> {
  const repo = parseRepository(repository);
  const name = `${repo.registry}/${repo.repository}`;
  const tags = await client.listTags(repo, { signal: options.signal });
  if (!tags.includes(tag)) throw new CacheError('unknown-tag', `${name} has no tag ${JSON.stringify(tag)}`, { repository: name, tag });
  const digests = await mapBounded(tags, options.concurrency ?? DEFAULT_TAG_CONCURRENCY, async (t) => (await client.headManifest({ ...repo, tag: t }, { signal: options.signal }))?.digest ?? null);
  const digest = digests[tags.indexOf(tag)];
  if (!digest) throw new CacheError('unknown-tag', `${name}:${tag}: the registry has no manifest for it any more`, { repository: name, tag });
  const shared = tags.filter((t, i) => t !== tag && digests[i] === digest);
  if (shared.length > 0 && !options.force) {
    throw new CacheError(
      'forbidden',
      `${name}:${tag}: its manifest ${digest} is also tagged ${shared.join(', ')}; deleting it would remove ${shared.length === 1 ? 'that tag' : 'those tags'} too. Not deleted (force it to delete them all).`,
      { repository: name, tag, digest, sharedWith: shared },
    );
  }
  await client.deleteManifest(repo, digest, { signal: options.signal });
  return { digest, removedTags: [tag, ...shared] };
}
