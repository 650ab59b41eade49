/**
 * A layout's index.json, read and updated the way BuildKit's client/ociindex does (StoreIndex.Get and
 * StoreIndex.Put), and written byte for byte as Go's encoding/json would write it.
 */
import { constants as fsConstants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { parseJsonText } from '../../../shared/cache/json-text';
import { asArray, asDescriptor, asInt, asObject, asString, asStringMap } from '../../../shared/cache/field-checks';
import { describeType, digestProblem, parseDigest } from '../../../shared/oci/digest';
import { Annotation, MediaType } from '../../../shared/oci/media-types';
import type { Descriptor, ImageIndex, Platform } from '../../../shared/oci/types';
import { makeDirs, writeFileAtomic } from './atomic-file';
import { withLock } from './file-lock';
import type { LockOptions } from './file-lock';

export const INDEX_FILE = 'index.json';
/** The name BuildKit's client locks (`index.json` + ".lock"), so both tools contend for the same file. */
export const INDEX_LOCK_FILE = 'index.json.lock';
export const OCI_LAYOUT_FILE = 'oci-layout';
/** `{"imageLayoutVersion":"1.0.0"}` exactly as Go marshals ocispecs.ImageLayout: compact, no newline. */
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

/** index.json as Go's ocispecs.Index holds it: the fields BuildKit round-trips through Put. */
export interface IndexDocument extends ImageIndex {
  artifactType?: string;
  subject?: Descriptor;
}

export function indexLockPath(dir: string): string {
  return join(dir, INDEX_LOCK_FILE);
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ParseIndexOptions {
  /**
   * Refuse an index whose `manifests` is null or absent instead of reading it as empty (Go's nil
   * slice). gc sets it: an index without a list says nothing about which blobs are in use.
   */
  requireManifests?: boolean;
}

/** Validates the text of an index.json; every error names the file and the field, e.g. `…/index.json: manifests[2].digest: …`. */
export function parseIndexText(text: string, file: string, options: ParseIndexOptions = {}): IndexDocument {
  const obj = asObject(parseJsonText(text, file), file, '(root)', 'invalid-manifest');
  const schemaVersion = obj.schemaVersion === undefined || obj.schemaVersion === null ? 0 : asInt(obj.schemaVersion, file, 'schemaVersion', 'invalid-manifest', 0);
  const absent = obj.manifests === undefined || obj.manifests === null;
  if (absent && options.requireManifests) {
    throw new CacheError('invalid-manifest', `${file}: manifests: expected an array of descriptors, got ${obj.manifests === null ? 'null' : 'nothing'}; without it nothing says which blobs are in use`, { file, field: 'manifests' });
  }
  const rawManifests = absent ? [] : asArray(obj.manifests, file, 'manifests', 'invalid-manifest');
  const manifests = rawManifests.map((d, i) => asDescriptor(d, file, `manifests[${i}]`, 'invalid-manifest'));
  const doc: IndexDocument = { schemaVersion, manifests };
  if (obj.mediaType !== undefined && obj.mediaType !== null) doc.mediaType = asString(obj.mediaType, file, 'mediaType', 'invalid-manifest');
  if (obj.artifactType !== undefined && obj.artifactType !== null) doc.artifactType = asString(obj.artifactType, file, 'artifactType', 'invalid-manifest');
  if (obj.subject !== undefined && obj.subject !== null) doc.subject = asDescriptor(obj.subject, file, 'subject', 'invalid-manifest');
  if (obj.annotations !== undefined && obj.annotations !== null) doc.annotations = asStringMap(obj.annotations, file, 'annotations', 'invalid-manifest');
  return doc;
}

/** Errno codes as words a user can act on; the code stays in the message for searching. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EROFS: 'the file system is read-only',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    ENOTDIR: 'a part of the path is a file, not a folder',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return code ?? (err as Error).message;
}

// O_NOFOLLOW refuses a symlink at open (ELOOP); O_NONBLOCK keeps a FIFO put in its place from hanging us.
const NO_FOLLOW = (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

/**
 * The text of `<dir>/index.json`, or null when there is none. A symlink is refused, as gc refuses
 * symlinked blobs: index.json decides what gc deletes, so it must be this layout's own file.
 */
export async function readIndexText(dir: string): Promise<{ file: string; text: string | null }> {
  const file = join(dir, INDEX_FILE);
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY | NO_FOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { file, text: null };
    if (code === 'ELOOP') throw new CacheError('invalid-source', `${file} is a symbolic link; refusing to read index.json through it (replace it with the file itself)`, { file, field: INDEX_FILE });
    throw new CacheError('io', `cannot read ${file}: ${errnoText(err)}`, { file, ...(code ? { errno: code } : {}) });
  }
  try {
    const st = await fh.stat();
    if (st.isSymbolicLink() || !st.isFile()) throw new CacheError('invalid-source', `${file} is not a regular file`, { file, field: INDEX_FILE });
    return { file, text: await fh.readFile('utf8') };
  } catch (err) {
    if (err instanceof CacheError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('io', `cannot read ${file}: ${errnoText(err)}`, { file, ...(code ? { errno: code } : {}) });
  } finally {
    await fh.close();
  }
}

/** Reads `<dir>/index.json`; a missing file, a symlink, malformed JSON or a wrongly typed field is a CacheError naming the file. */
export async function readIndex(dir: string, options: ParseIndexOptions = {}): Promise<IndexDocument> {
  const { file, text } = await readIndexText(dir);
  if (text === null) throw new CacheError('invalid-source', `${dir} is not an OCI layout: ${file} does not exist`, { file });
  return parseIndexText(text, file, options);
}

/** Every name an index entry answers to, for "no such tag" messages. */
export function listTags(index: ImageIndex): string[] {
  const tags = new Set<string>();
  for (const m of index.manifests) {
    const name = m.annotations?.[Annotation.imageName];
    const ref = m.annotations?.[Annotation.refName];
    if (name) tags.add(name);
    if (ref) tags.add(ref);
  }
  return [...tags];
}

/** io.containerd.image.name is checked before org.opencontainers.image.ref.name, as BuildKit's StoreIndex.Get does. */
export function resolveTag(index: ImageIndex, tag: string, file = INDEX_FILE): Descriptor {
  const byName = index.manifests.find((m) => m.annotations?.[Annotation.imageName] === tag);
  const found = byName ?? index.manifests.find((m) => m.annotations?.[Annotation.refName] === tag);
  if (!found) {
    const tags = listTags(index);
    throw new CacheError('unknown-tag', `no cache tagged "${tag}" in ${file}${tags.length ? ` (tags: ${tags.join(', ')})` : ' (it has no tagged entries)'}`, { tag, tags, file });
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Writing (Go encoding/json rules, see buildkit-cache-format.md §11)

/** JSON string as Go writes it: like JSON.stringify, plus HTML escaping of < > & and escaping of U+2028/U+2029. */
export function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Go sorts map keys by their UTF-8 bytes, which differs from JS's UTF-16 order above U+FFFF. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function stringMap(map: Record<string, string>): string {
  return `{${Object.keys(map).sort(byUtf8).map((k) => `${goJsonString(k)}:${goJsonString(map[k])}`).join(',')}}`;
}

function platformJson(p: Platform): string {
  const parts = [`"architecture":${goJsonString(p.architecture ?? '')}`, `"os":${goJsonString(p.os ?? '')}`];
  if (p['os.version']) parts.push(`"os.version":${goJsonString(p['os.version'])}`);
  if (p['os.features'] && p['os.features'].length > 0) parts.push(`"os.features":[${p['os.features'].map(goJsonString).join(',')}]`);
  if (p.variant) parts.push(`"variant":${goJsonString(p.variant)}`);
  return `{${parts.join(',')}}`;
}

/** A descriptor in ocispecs.Descriptor field order: mediaType, digest, size, urls, annotations, data, platform, artifactType. */
export function descriptorJson(d: Descriptor): string {
  const parts = [`"mediaType":${goJsonString(d.mediaType ?? '')}`, `"digest":${goJsonString(d.digest)}`, `"size":${d.size}`];
  if (d.urls && d.urls.length > 0) parts.push(`"urls":[${d.urls.map(goJsonString).join(',')}]`);
  if (d.annotations && Object.keys(d.annotations).length > 0) parts.push(`"annotations":${stringMap(d.annotations)}`);
  if (d.data) parts.push(`"data":${goJsonString(d.data)}`);
  if (d.platform) parts.push(`"platform":${platformJson(d.platform)}`);
  if (d.artifactType) parts.push(`"artifactType":${goJsonString(d.artifactType)}`);
  return `{${parts.join(',')}}`;
}

/** index.json in ocispecs.Index field order (schemaVersion, mediaType, artifactType, manifests, subject, annotations), compact, no newline. */
export function serializeIndex(index: IndexDocument): string {
  const parts = [`"schemaVersion":${index.schemaVersion}`];
  if (index.mediaType) parts.push(`"mediaType":${goJsonString(index.mediaType)}`);
  if (index.artifactType) parts.push(`"artifactType":${goJsonString(index.artifactType)}`);
  parts.push(`"manifests":[${index.manifests.map(descriptorJson).join(',')}]`);
  if (index.subject) parts.push(`"subject":${descriptorJson(index.subject)}`);
  if (index.annotations && Object.keys(index.annotations).length > 0) parts.push(`"annotations":${stringMap(index.annotations)}`);
  return `{${parts.join(',')}}`;
}

const TAG_GRAMMAR = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Why a string cannot be a cache tag, or null. Tags end up in index.json only, but callers also build paths and refs from them. */
export function tagProblem(tag: unknown): string | null {
  if (typeof tag !== 'string') return `expected a string, got ${describeType(tag)}`;
  if (tag === '') return 'it is empty';
  if (tag.includes('\0')) return 'it contains a NUL byte';
  if (tag.includes('/') || tag.includes('\\')) return 'it contains a path separator';
  if (tag.includes('..')) return 'it contains ".."';
  if (tag.length > 128) return `it is ${tag.length} characters long (at most 128)`;
  if (!TAG_GRAMMAR.test(tag)) return 'it does not match the OCI tag grammar [A-Za-z0-9_][A-Za-z0-9._-]{0,127}';
  return null;
}

export function validateTag(tag: unknown): string {
  const problem = tagProblem(tag);
  if (problem) throw new CacheError('bad-request', `invalid tag ${JSON.stringify(String(tag)).slice(0, 140)}: ${problem}`, { field: 'tag' });
  return tag as string;
}

function checkDescriptor(d: Descriptor): void {
  const where = 'descriptor to tag';
  if (d === null || typeof d !== 'object') throw new CacheError('bad-request', `${where}: expected an object, got ${describeType(d)}`);
  const problem = digestProblem(d.digest);
  if (problem) throw new CacheError('invalid-digest', `${where}: digest: ${problem}`, { field: 'digest' });
  if (typeof d.mediaType !== 'string') throw new CacheError('bad-request', `${where}: mediaType: expected a string, got ${describeType(d.mediaType)}`, { field: 'mediaType' });
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new CacheError('bad-request', `${where}: size: expected an integer >= 0, got ${String(d.size)}`, { field: 'size' });
  }
}

async function blobMissing(dir: string, digest: string): Promise<boolean> {
  const { algorithm, hex } = parseDigest(digest);
  try {
    return !(await stat(join(dir, 'blobs', algorithm, hex))).isFile();
  } catch {
    return true;
  }
}

/** Writes `<dir>/oci-layout` (`{"imageLayoutVersion":"1.0.0"}`, no newline) when it is absent; an existing one is left alone. */
export async function ensureOciLayoutFile(dir: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  const file = join(dir, OCI_LAYOUT_FILE);
  try {
    await stat(file);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CacheError('io', `cannot check ${file}: ${(err as NodeJS.ErrnoException).code}`, { file });
  }
  await writeFileAtomic(file, OCI_LAYOUT_CONTENT, { signal: options.signal });
  return true;
}

export interface PutTagOptions extends LockOptions {
  /**
   * Digests that must exist under blobs/ when index.json is rewritten, checked while the lock is held.
   * gc deletes under the same lock, so this is the check that makes "write blobs, then tag" safe
   * against a gc that ran between the two: a blob it removed is reported instead of dangling.
   */
  requireBlobs?: string[];
}

/** What an index entry is put under: a bare tag (ref.name only, as a `DIR:tag` destination writes), or an image name. */
export type IndexRef = { tag: string } | { name: string };

/**
 * The OCI ref.name of a full image name, as containerd's archive exporter (and BuildKit's ociindex)
 * derive it: OCI's ref.name is only what follows the repository, `latest` for
 * `docker.io/library/alpine:latest`, `v1@sha256:…` or `@sha256:…` with a digest. A string without a
 * `/` (never a normalised name) is kept whole, like their fallback for what they cannot parse.
 */
export function ociReferenceName(name: string): string {
  const slash = name.indexOf('/');
  if (slash <= 0 || name.includes('://')) return name;
  const rest = name.slice(slash);
  const at = rest.search(/[:@]/);
  if (at < 0) return '';
  return rest[at] === ':' ? rest.slice(at + 1) : rest.slice(at);
}

/** The annotations one IndexRef gives its entry, checked: a name needs a tag or digest to derive its ref.name from. */
function refAnnotations(ref: IndexRef): { imageName: string; refName: string } {
  if ('tag' in ref) return { imageName: '', refName: validateTag(ref.tag) };
  const name = (ref as { name: unknown }).name;
  if (typeof name !== 'string' || name === '' || name.includes('\0')) throw new CacheError('bad-request', `image name to put in index.json: expected a non-empty string, got ${describeType(name)}`, { field: 'name' });
  const refName = ociReferenceName(name);
  if (refName === '') throw new CacheError('bad-request', `image name ${JSON.stringify(name)}: it has neither a tag nor a digest, so it has no org.opencontainers.image.ref.name`, { field: 'name' });
  return { imageName: name, refName };
}

/**
 * Points `tag` at `descriptor` in `<dir>/index.json`, under index.json.lock, as BuildKit's StoreIndex.Put
 * does: defaults schemaVersion (2 if 0) and mediaType (OCI index, only if empty), removes entries with the
 * same ref.name (and no io.containerd.image.name), appends the descriptor with the ref.name annotation,
 * and replaces the file atomically. Other tags are kept. Returns the index as written.
 */
export async function putTag(dir: string, tag: string, descriptor: Descriptor, options: PutTagOptions = {}): Promise<IndexDocument> {
  return putIndexRefs(dir, descriptor, [{ tag }], options);
}

/**
 * Puts `descriptor` into `<dir>/index.json` once per ref, in order, in one atomic write under
 * index.json.lock, as BuildKit's StoreIndex.Put does with Tag and Name: a tag entry carries only
 * ref.name; a name entry carries io.containerd.image.name = the name and ref.name = its
 * ociReferenceName. Each ref first removes the entries with the same ref.name and the same image name
 * (none for a tag), so putting a name again replaces its entry; every other entry is kept.
 */
export async function putIndexRefs(dir: string, descriptor: Descriptor, refs: IndexRef[], options: PutTagOptions = {}): Promise<IndexDocument> {
  if (refs.length === 0) throw new CacheError('bad-request', `nothing to put in ${join(dir, INDEX_FILE)}: give a tag or an image name`, { field: 'tag' });
  const annotated = refs.map(refAnnotations);
  const label = refs.map((r) => ('tag' in r ? r.tag : r.name)).join('", "');
  checkDescriptor(descriptor);
  for (const d of options.requireBlobs ?? []) {
    const problem = digestProblem(d);
    if (problem) throw new CacheError('invalid-digest', `requireBlobs: ${problem}`, { field: 'requireBlobs' });
  }
  try {
    await makeDirs(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('io', `cannot create ${dir}: ${errnoText(err)}`, { file: dir, ...(code ? { errno: code } : {}) });
  }
  return withLock(
    indexLockPath(dir),
    async () => {
      const missing: string[] = [];
      for (const d of options.requireBlobs ?? []) if (await blobMissing(dir, d)) missing.push(d);
      if (missing.length > 0) {
        throw new CacheError('missing-blob', `cannot tag "${label}" in ${dir}: ${missing.length} blob(s) it needs are not in blobs/ (removed by a concurrent gc?): ${missing.join(', ')}`, { missing });
      }
      await ensureOciLayoutFile(dir, options);
      const { file, text } = await readIndexText(dir);
      // BuildKit treats an empty index.json like a missing one.
      const index: IndexDocument = text === null || text.length === 0 ? { schemaVersion: 0, manifests: [] } : parseIndexText(text, file);
      if (index.schemaVersion === 0) index.schemaVersion = 2;
      if (!index.mediaType) index.mediaType = MediaType.ociIndex;
      for (const { imageName, refName } of annotated) {
        const annotations: Record<string, string> = { ...(descriptor.annotations ?? {}), [Annotation.refName]: refName };
        if (imageName !== '') annotations[Annotation.imageName] = imageName;
        // Only an entry with both the same ref.name and the same image name (none for a tag) is replaced.
        index.manifests = index.manifests.filter((m) => m.annotations?.[Annotation.refName] !== refName || (m.annotations?.[Annotation.imageName] ?? '') !== imageName);
        index.manifests.push({ ...descriptor, annotations });
      }
      options.signal?.throwIfAborted();
      await writeFileAtomic(file, serializeIndex(index), { signal: options.signal });
      return index;
    },
    options,
  );
}
