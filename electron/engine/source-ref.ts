/** Source strings: `DIR`, `DIR:tag`, `DIR@sha256:…` and file paths. A digest or tag never becomes a path unchecked. */
import { existsSync } from 'node:fs';
import { CacheError } from '../../shared/contract/errors';
import { digestProblem } from '../../shared/oci/digest';

export interface SourceRef {
  path: string;
  tag: string | null;
  digest: string | null;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function parseSourceRef(source: string): SourceRef {
  if (source.length === 0) throw new CacheError('invalid-source', 'empty source');
  // A path that exists as written wins, so folders whose names contain ':' still open.
  if (existsSync(source)) return { path: source, tag: null, digest: null };
  const at = source.lastIndexOf('@');
  if (at > 0 && /^(sha256|sha512):/.test(source.slice(at + 1))) {
    const digest = source.slice(at + 1);
    const problem = digestProblem(digest);
    if (problem) throw new CacheError('invalid-digest', `${source}: the part after "@" is not a digest: ${problem}`, { source });
    return { path: source.slice(0, at), tag: null, digest };
  }
  const colon = source.lastIndexOf(':');
  if (colon > 0) {
    const tag = source.slice(colon + 1);
    const path = source.slice(0, colon);
    if (!tag.includes('/') && existsSync(path)) {
      if (!isValidTag(tag)) {
        throw new CacheError('invalid-source', `${source}: tag ${JSON.stringify(tag)} is not a valid tag (letters, digits, '_', '.', '-'; at most 128; no '/' or '..')`, { source });
      }
      return { path, tag, digest: null };
    }
  }
  throw new CacheError('not-found', `${source}: no such file or directory`, { source });
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag) && !tag.includes('..');
}
