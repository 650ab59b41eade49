/** Display helpers: sizes, rates, digests. Pure functions, no DOM. */
import { shortDigest } from '../../shared/oci/digest';
import { formatBytes } from '../../shared/util/bytes';

/** Binary units (KiB, MiB): the project's one byte formatter, shared with the CLI. */
export { formatBytes };

/** `90,763,587 bytes`: the exact count, grouped for reading. */
export function exactBytes(n: number): string {
  return `${n.toLocaleString('en-US')} byte${n === 1 ? '' : 's'}`;
}

export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(Math.round(bytesPerSecond))}/s` : '';
}

/** `sha256:` plus 12 hex characters, or a dash for nothing. */
export function short(digest: string | null | undefined, hex = 12): string {
  return digest ? shortDigest(digest, hex) : '–';
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(share > 0 && share < 0.001 ? 2 : 1)}%`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Pretty-prints JSON for reading; text that is not JSON is shown as it is. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Prefix match on a digest, with or without its `sha256:` part, case-insensitive. An empty query matches everything. */
export function digestMatches(digest: string | null, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  if (!digest) return false;
  return digest.startsWith(q) || digest.slice(digest.indexOf(':') + 1).startsWith(q);
}

/** The last two path segments: enough to tell caches apart in a narrow sidebar. */
export function shortSource(source: string): string {
  const parts = source.split(/[\\/]/).filter(Boolean);
  return parts.length <= 2 ? source : `…/${parts.slice(-2).join('/')}`;
}
