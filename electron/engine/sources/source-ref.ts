/**
 * Source strings: local (`DIR`, `DIR:tag`, `DIR@sha256:…`, files, BuildKit's `type=local,src=…`) or a
 * registry (`host/repo:tag`, `host/repo@sha256:…`, `type=registry,ref=…`, `docker-image://REF`).
 * A digest or tag never becomes a path unchecked, and a path that exists locally is never sent to a network.
 *
 * The rule, in order (README "Sources"):
 *  1. a path that exists as written is local, whatever it looks like;
 *  2. `docker-image://REF` is an image's inline cache in a registry;
 *  3. `type=local,src=DIR[,tag=T|,digest=D]` and `type=registry,ref=REF[,registry.insecure=true]` are BuildKit's forms;
 *  4. `DIR:tag` and `DIR@digest` whose DIR exists are local;
 *  5. a reference whose first component is a registry host (has a `.` or `:`, or is `localhost`:
 *     docker's rule) is a registry reference;
 *  6. anything else is an error naming both readings.
 */
import { existsSync } from 'node:fs';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem } from '../../../shared/oci/digest';
import { formatReference, parseReference, parseRegistryCacheOption } from '../registry/reference';
import type { Reference } from '../registry/reference';
import { tagProblem } from '../store/layout-index';

export interface SourceRef {
  path: string;
  tag: string | null;
  digest: string | null;
}

/** What a source string names: a local path (with tag or digest) or a registry reference. */
export type SourceSpec =
  | { kind: 'local'; ref: SourceRef }
  | {
      kind: 'registry';
      reference: Reference;
      /** `registry.insecure=true`: plain HTTP allowed for this registry. */
      insecure: boolean;
      /** `docker-image://`: the user named an image, whose config carries the cache inline. */
      image: boolean;
    };

/** The OCI digest grammar's algorithm part: what after an `@` makes the rest a digest attempt (`DIR@md5:…` is refused, not taken as a path). */
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;

export const IMAGE_SCHEME = 'docker-image://';

function checkBasics(source: string): void {
  if (source.length === 0) throw new CacheError('invalid-source', 'empty source');
  if (source.includes('\0')) throw new CacheError('invalid-source', 'the source contains a NUL byte');
}

/** `DIR:tag` or `DIR@digest` whose DIR exists, or null. Throws for a malformed digest or tag after an existing DIR. */
function localWithSuffix(source: string): SourceRef | null {
  const at = source.lastIndexOf('@');
  if (at > 0) {
    const rest = source.slice(at + 1);
    const colon = rest.indexOf(':');
    const path = source.slice(0, at);
    if (colon > 0 && DIGEST_ALGORITHM.test(rest.slice(0, colon)) && existsSync(path)) {
      const problem = digestProblem(rest);
      if (problem) throw new CacheError('invalid-digest', `${source}: the part after "@" is not a digest: ${problem}`, { source, field: 'digest' });
      return { path, tag: null, digest: rest };
    }
  }
  const colon = source.lastIndexOf(':');
  if (colon > 0) {
    const tag = source.slice(colon + 1);
    const path = source.slice(0, colon);
    if (!tag.includes('/') && !tag.includes('\\') && existsSync(path)) {
      const problem = tagProblem(tag);
      if (problem) throw new CacheError('invalid-source', `${source}: tag ${JSON.stringify(tag.slice(0, 140))} is not a valid tag: ${problem}`, { source, field: 'tag' });
      return { path, tag, digest: null };
    }
  }
  return null;
}

/** Local sources only (what `serve` checks before starting): `DIR`, `DIR:tag`, `DIR@digest`, a file. */
export function parseSourceRef(source: string): SourceRef {
  checkBasics(source);
  // A path that exists as written wins, so folders whose names contain ':' or '@' still open.
  if (existsSync(source)) return { path: source, tag: null, digest: null };
  const at = source.lastIndexOf('@');
  if (at > 0) {
    const rest = source.slice(at + 1);
    const colon = rest.indexOf(':');
    if (colon > 0 && DIGEST_ALGORITHM.test(rest.slice(0, colon))) {
      const problem = digestProblem(rest);
      if (problem) throw new CacheError('invalid-digest', `${source}: the part after "@" is not a digest: ${problem}`, { source, field: 'digest' });
      return { path: source.slice(0, at), tag: null, digest: rest };
    }
  }
  const local = localWithSuffix(source);
  if (local) return local;
  throw new CacheError('not-found', `${source}: no such file or directory`, { source });
}

/** True when docker would take `first` (a reference's first `/` component) as a registry host. */
function isRegistryHost(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
}

/** BuildKit's `type=local,src=DIR[,tag=T][,digest=D]`. */
function parseLocalOption(source: string): SourceRef {
  const attrs: Record<string, string> = {};
  for (const field of source.split(',')) {
    if (field.trim() === '') continue;
    const eq = field.indexOf('=');
    if (eq <= 0) throw new CacheError('invalid-source', `cache option ${JSON.stringify(source)}: ${JSON.stringify(field)} is not key=value`, { field });
    attrs[field.slice(0, eq).trim().toLowerCase()] = field.slice(eq + 1).trim();
  }
  const src = attrs.src;
  if (!src) throw new CacheError('invalid-source', `cache option ${JSON.stringify(source)}: src: is missing`, { field: 'src' });
  if (attrs.tag && attrs.digest) throw new CacheError('invalid-source', `cache option ${JSON.stringify(source)}: give tag or digest, not both`, { field: 'digest' });
  if (attrs.digest) {
    const problem = digestProblem(attrs.digest);
    if (problem) throw new CacheError('invalid-digest', `cache option ${JSON.stringify(source)}: digest: ${problem}`, { field: 'digest' });
  }
  if (attrs.tag) {
    const problem = tagProblem(attrs.tag);
    if (problem) throw new CacheError('invalid-source', `cache option ${JSON.stringify(source)}: tag: ${problem}`, { field: 'tag' });
  }
  if (!existsSync(src)) throw new CacheError('not-found', `${src}: no such file or directory (src of ${JSON.stringify(source)})`, { path: src });
  return { path: src, tag: attrs.tag || null, digest: attrs.digest || null };
}

/** Classifies any source string `inspect` accepts (see the module comment for the rule). Touches only the local file system. */
export function parseSource(source: string): SourceSpec {
  checkBasics(source);
  if (existsSync(source)) return { kind: 'local', ref: { path: source, tag: null, digest: null } };
  if (source.startsWith(IMAGE_SCHEME)) {
    return { kind: 'registry', reference: parseReference(source.slice(IMAGE_SCHEME.length)), insecure: false, image: true };
  }
  if (/^type=local(,|$)/i.test(source)) return { kind: 'local', ref: parseLocalOption(source) };
  if (/^type=/i.test(source)) {
    const option = parseRegistryCacheOption(source);
    return { kind: 'registry', reference: option.reference, insecure: option.insecure, image: false };
  }
  const local = localWithSuffix(source);
  if (local) return { kind: 'local', ref: local };
  const slash = source.indexOf('/');
  const first = slash > 0 ? source.slice(0, slash) : '';
  if (first.includes('@') && !existsSync(first)) {
    // `user:password@host/repo`: never echo it (it may hold a password) and never send it anywhere.
    throw new CacheError('invalid-source', 'a registry reference carries no credentials (user:password@host/…); log in with `docker login` or docker\'s config.json instead', { field: 'registry' });
  }
  let why: string;
  if (first && isRegistryHost(first)) {
    try {
      return { kind: 'registry', reference: parseReference(source), insecure: false, image: false };
    } catch (err) {
      if (!(err instanceof CacheError)) throw err;
      why = err.message;
    }
  } else {
    let hub: string | null = null;
    try {
      hub = formatReference(parseReference(source));
    } catch {
      // Not a reference at all.
    }
    why = hub
      ? `as a registry reference it has no registry host (its first component needs a "." or ":" or must be localhost); for Docker Hub write ${hub}`
      : 'it is not a registry reference (host[:port]/repository[:tag|@digest]) either';
  }
  throw new CacheError('not-found', `${source}: no such file or directory; ${why}`, { source });
}
