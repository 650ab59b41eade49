/** `DIR/blobs/<alg>/<hex>` for a checked digest: a digest becomes a path only after `parseDigest`. */
import { join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';

export function blobPathIn(dir: string, digest: string): string {
  const problem = digestProblem(digest);
  if (problem) throw new CacheError('invalid-digest', `blob digest ${JSON.stringify(String(digest).slice(0, 140))}: ${problem}`, { field: 'digest' });
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm, hex);
}
