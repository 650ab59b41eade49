/**
 * Every blob an index.json reaches, found by reading each reachable manifest and index with the
 * checks inspect applies (open-cache.ts): the descriptor's size, the bytes' digest, the JSON text,
 * and parseCacheManifest's field checks. gc deletes what this does not return, so in strict mode
 * anything it cannot read with certainty stops it, naming the file and field.
 */
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { parseJsonText } from '../../../shared/cache/json-text';
import { parseCacheManifest } from '../../../shared/cache/parse-manifest';
import { parseDigest } from '../../../shared/oci/digest';
import { MediaType, compressionOfMediaType } from '../../../shared/oci/media-types';
import type { Descriptor } from '../../../shared/oci/types';
import { openContentStore } from './content-store';
import { INDEX_FILE } from './layout-index';
import type { IndexDocument } from './layout-index';
import { MAX_JSON_BLOB } from '../sources/open-cache';

/** A blob of unknown type bigger than this is taken for a layer without reading it (manifests are KBs). */
export const MAX_FOLLOW_BYTES = 4 << 20;

interface Pending {
  descriptor: Descriptor;
  /** Where the descriptor was read, for messages: `<file>: <field>`. */
  file: string;
  field: string;
  /**
   * An index.json entry: like inspect (and BuildKit's DetectManifestBlobMediaType) its body, not its
   * declared media type, says what it is, so a manifest labelled as a layer is still followed.
   */
  root?: boolean;
}

/** Media types whose blobs are never followed: layers, cache configs, image configs. */
export function isLeafType(mediaType: string): boolean {
  return (
    compressionOfMediaType(mediaType) !== null ||
    mediaType === MediaType.cacheConfigV0 ||
    mediaType === MediaType.legacyBuildCacheV0 ||
    mediaType === MediaType.ociConfig ||
    mediaType === MediaType.dockerConfig
  );
}

export function isManifestType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList;
}

/** JSON documents here are objects; one byte spares reading megabytes of layer to learn it is not JSON. */
export async function startsWithBrace(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const one = Buffer.alloc(1);
    const { bytesRead } = await fh.read(one, 0, 1, 0);
    return bytesRead === 1 && one[0] === 0x7b;
  } finally {
    await fh.close();
  }
}

function blobFile(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm, hex);
}

/** The descriptors a valid manifest or index points at, and which of them are documents to follow. */
function children(value: unknown, file: string): { leaves: Pending[]; follow: Pending[] } {
  const pm = parseCacheManifest(value, file);
  const obj = value as Record<string, unknown>;
  if (pm.kind === 'index' && !pm.legacyAnnotated && !Array.isArray(obj.manifests)) {
    // An index with no list says nothing about what it holds; inspect calls it "not a cache manifest".
    throw new CacheError('invalid-manifest', `${file}: manifests: expected an array, got ${obj.manifests === null ? 'null' : 'nothing'}`, { file, field: 'manifests' });
  }
  const leaves: Pending[] = [];
  const follow: Pending[] = [];
  if (pm.kind === 'manifest') {
    const config = pm.config ?? pm.imageConfig;
    if (config) leaves.push({ descriptor: config, file, field: 'config' });
    pm.layers.forEach((d, i) => leaves.push({ descriptor: d, file, field: `layers[${i}]` }));
    return { leaves, follow };
  }
  const entries = Array.isArray(obj.manifests) ? obj.manifests : [];
  const fieldOf = (d: Descriptor) => `manifests[${entries.findIndex((e) => (e as { digest?: unknown } | null)?.digest === d.digest)}]`;
  const platforms = new Set(pm.platformManifests);
  if (pm.config) leaves.push({ descriptor: pm.config, file, field: fieldOf(pm.config) });
  for (const d of pm.layers) (platforms.has(d) ? follow : leaves).push({ descriptor: d, file, field: fieldOf(d) });
  return { leaves, follow };
}

export interface ReachableResult {
  reachable: Set<string>;
  /** Non-strict mode only: documents that could not be followed, so their children count as unreachable. */
  problems: string[];
  /**
   * Manifests and indexes that are reachable but absent from blobs/, as `<file>: <field> (<digest>)`:
   * what they reference is unknown, so a gc that would delete anything must refuse.
   */
  unfollowed: string[];
}

/**
 * Every digest reachable from `index`. Index entries (and the index's subject) are read whatever
 * media type they declare; a blob not declared a manifest that is not JSON, or is big, is taken for
 * a layer. Absent blobs are reachable but not followed (real caches lack blobs).
 */
export async function reachableDigests(dir: string, index: IndexDocument, options: { signal?: AbortSignal; strict: boolean }): Promise<ReachableResult> {
  const store = await openContentStore(dir);
  const indexFile = join(dir, INDEX_FILE);
  const reachable = new Set<string>();
  const problems: string[] = [];
  const unfollowed: string[] = [];
  const queue: Pending[] = index.manifests.map((d, i) => ({ descriptor: d, file: indexFile, field: `manifests[${i}]`, root: true }));
  if (index.subject) queue.push({ descriptor: index.subject, file: indexFile, field: 'subject', root: true });
  const refuse = (next: Pending, err: unknown): void => {
    const why = err instanceof Error ? err.message : String(err);
    const where = `${next.file}: ${next.field}`;
    if (options.strict) {
      const details = err instanceof CacheError ? err.details : undefined;
      throw new CacheError('invalid-manifest', `refusing to collect garbage in ${dir}: cannot follow ${next.descriptor.digest} (${where}): ${why}`, {
        file: next.file,
        field: next.field,
        digest: next.descriptor.digest,
        ...(details ?? {}),
        ...(err instanceof CacheError ? { cause: err.code } : {}),
      });
    }
    problems.push(`${next.descriptor.digest} (${where}): ${why}`);
  };
  while (queue.length > 0) {
    options.signal?.throwIfAborted();
    const next = queue.shift()!;
    const { digest, mediaType, size } = next.descriptor;
    if (reachable.has(digest)) continue;
    reachable.add(digest);
    if (!next.root && isLeafType(mediaType)) continue;
    const file = blobFile(dir, digest);
    const st = await lstat(file).catch(() => null);
    const declared = isManifestType(mediaType);
    if (st === null) {
      if (declared || next.root) unfollowed.push(`${next.file}: ${next.field} (${digest})`);
      continue;
    }
    if (!st.isFile()) {
      if (declared) refuse(next, new CacheError('invalid-manifest', `${file} is not a regular file`, { file }));
      continue;
    }
    if (!declared && (st.size > MAX_FOLLOW_BYTES || !(await startsWithBrace(file)))) continue;
    try {
      if (st.size !== size) {
        throw new CacheError('size-mismatch', `${file}: blob is ${st.size} bytes, but ${next.file}: ${next.field}.size says ${size}`, { file, expected: size, actual: st.size });
      }
      const bytes = await store.readBytes(digest, { maxSize: MAX_JSON_BLOB, signal: options.signal });
      const got = children(parseJsonText(bytes.toString('utf8'), file), file);
      for (const leaf of got.leaves) reachable.add(leaf.descriptor.digest);
      queue.push(...got.follow);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') throw err;
      refuse(next, err);
    }
  }
  return { reachable, problems, unfollowed };
}
