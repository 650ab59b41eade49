/** Display helpers. */
import { formatBytes } from '../../../shared/util/bytes';

export { formatBytes };

export function short(digest: string | null | undefined, hex = 12): string {
  if (!digest) return '-';
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, hex) : digest.slice(0, colon + 1 + hex);
}

export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(Math.round(bytesPerSecond))}/s` : '';
}
