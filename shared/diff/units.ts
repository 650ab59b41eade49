/**
 * The one byte unit of every diff text (explanations, the CLI report, the app's Diff view): SI
 * (kB, MB, GB, powers of 1000), as docker and BuildKit's progress print them, so a number here can
 * be compared with a build log. Exact byte counts stay available beside it.
 */
import { formatBytesSI } from '../util/bytes';

export function diffBytes(n: number): string {
  return Number.isFinite(n) ? formatBytesSI(n) : '-';
}
