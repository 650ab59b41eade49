/** Words for a divergence: what the changed record is, and what it cost. */
import type { NormConfig } from '../cache/parse-config';
import { formatBytesSI } from '../util/bytes';
import type { Divergence } from './types';

export function shortDigest(d: string | null): string {
  if (!d) return '(none)';
  const colon = d.indexOf(':');
  return colon < 0 ? d.slice(0, 12) : `${d.slice(0, colon + 1 + 12)}…`;
}

/**
 * A root linked without a selector from a slot that also holds selector links is BuildKit's
 * content-checksum key (`NewCacheKey(checksum, "", -1)`); other roots are sources.
 */
export function recordKind(config: NormConfig, index: number, linkedWithSelector: string | null): Divergence['kind'] {
  const r = config.records[index];
  if (r.inputs.length > 0) return 'op';
  return linkedWithSelector === null && isContentChecksum(config, index) ? 'content-checksum' : 'source';
}

function isContentChecksum(config: NormConfig, index: number): boolean {
  return config.records.some((r) => r.inputs.some((slot) => slot.some((l) => l.link === index && l.selector === null) && slot.some((l) => l.selector !== null)));
}

export function describe(kind: Divergence['kind'], config: NormConfig, index: number, selector: string | null): string {
  if (kind === 'content-checksum') return 'content checksum of its files (no selector)';
  if (kind === 'source') return `source record${selector ? ` (selector ${shortDigest(selector)})` : ''}`;
  const n = config.records[index].inputs.length;
  return `op with ${n} input${n === 1 ? '' : 's'}${selector ? ` (selector ${shortDigest(selector)})` : ''}`;
}

export function explanation(d: Omit<Divergence, 'explanation'>, b: NormConfig): string {
  const cost = `${d.rebuiltLayers} layer${d.rebuiltLayers === 1 ? '' : 's'}, ${formatBytesSI(d.rebuiltBytes)} rebuilt above it`;
  if (d.slot < 0) {
    const n = b.records[d.record].inputs.length;
    const what = n === 0 ? 'a source record' : `an op with ${n} input${n === 1 ? '' : 's'}`;
    return `record #${d.record} is new: no record of A has its key ${shortDigest(d.digestB)} (${what}; its definition changed); ${cost}`;
  }
  if (d.digestA === d.digestB && d.selector !== d.selectorA) {
    return `input ${d.slot} of record #${d.record} changed its selector: ${shortDigest(d.selectorA)} → ${shortDigest(d.selector)} on the same record ${shortDigest(d.digestB)}; ${cost}`;
  }
  const linked = b.records[d.record].inputs[d.slot].find((l) => b.records[l.link].digest === d.digestB);
  const what = describe(d.kind, b, linked?.link ?? d.record, d.selector);
  return `input ${d.slot} of record #${d.record} changed: ${what} ${shortDigest(d.digestA)} → ${shortDigest(d.digestB)}; ${cost}`;
}
