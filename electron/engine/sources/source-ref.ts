/** Source strings: `DIR`, `DIR:tag`, `DIR@sha256:…` and file paths. A digest or tag never becomes a path unchecked. */
import { existsSync } from 'node:fs';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem } from '../../../shared/oci/digest';
import { tagProblem } from '../store/layout-index';

export interface SourceRef {
  path: string;
  tag: string | null;
  digest: string | null;
}

/** The OCI digest grammar's algorithm part: what after an `@` makes the rest a digest attempt (`DIR@md5:…` is refused, not taken as a path). */
const DIGEST_ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;

export function parseSourceRef(source: string): SourceRef {
  if (source.length === 0) throw new CacheError('invalid-source', 'empty source');
  if (source.includes('\0')) throw new CacheError('invalid-source', 'the source contains a NUL byte');
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
  throw new CacheError('not-found', `${source}: no such file or directory`, { source });
}

