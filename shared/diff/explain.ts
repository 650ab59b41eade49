/** Words for a divergence: what changed, what the changed record is, and what it cost. */
import type { NormConfig } from '../cache/parse-config';
import { shortDigest as shortOciDigest } from '../oci/digest';
import { diffBytes } from './units';
import type { Divergence } from './types';

/** `sha256:0123456789ab…`: enough to find it in `inspect` output, short enough for one line. */
function shortDigest(d: string | null): string {
  if (!d) return '(none)';
  return d.includes(':') ? `${shortOciDigest(d)}…` : shortOciDigest(d);
}

function inputs(n: number): string {
  return `${n} input${n === 1 ? '' : 's'}`;
}

/** What the record at the B end of a diverged link is. */
export function describe(kind: Divergence['kind'], inputCount: number, selector: string | null): string {
  if (kind === 'content-checksum') return 'content checksum of its files (no selector)';
  const via = selector ? ` (selector ${shortDigest(selector)})` : '';
  if (kind === 'source') return `source record${via}`;
  return `op with ${inputs(inputCount)}${via}`;
}

export function explanation(d: Omit<Divergence, 'explanation'>, a: NormConfig, b: NormConfig): string {
  const cost = `${d.rebuiltLayers} layer${d.rebuiltLayers === 1 ? '' : 's'}, ${diffBytes(d.rebuiltBytes)} rebuilt above it`;
  if (d.slot < 0) {
    const n = b.records[d.record].inputs.length;
    if (d.recordA !== null) {
      const m = a.records[d.recordA].inputs.length;
      return `record #${d.record} has ${inputs(n)} where A's record #${d.recordA} with the same key ${shortDigest(d.digestB)} had ${m}: its definition changed; ${cost}`;
    }
    const what = n === 0 ? 'a source record' : `an op with ${inputs(n)}`;
    return `record #${d.record} is new: no record of A has its key ${shortDigest(d.digestB)} (${what}; its definition changed); ${cost}`;
  }
  const rb = b.records[d.record];
  const linked = rb.inputs[d.slot].find((l) => l.selector === d.selector && b.records[l.link].digest === d.digestB);
  const what = describe(d.kind, linked ? b.records[linked.link].inputs.length : 0, d.selector);
  if (d.recordA === null) {
    // A new key over a changed root: A has no record with this key, so nothing says what the slot held before.
    return `input ${d.slot} of record #${d.record} changed: ${what} ${shortDigest(d.digestB)} is new, and so is the record's own key ${shortDigest(rb.digest)}; ${cost}`;
  }
  if (d.digestA === d.digestB && d.selector !== d.selectorA) {
    return `input ${d.slot} of record #${d.record} changed its selector: ${shortDigest(d.selectorA)} → ${shortDigest(d.selector)} on the same record ${shortDigest(d.digestB)}; ${cost}`;
  }
  return `input ${d.slot} of record #${d.record} changed: ${what} ${shortDigest(d.digestA)} → ${shortDigest(d.digestB)}; ${cost}`;
}

/**
 * The explanation with the records' names from image histories, right after their numbers:
 * `input 0 of record #13 (RUN make) changed: …`. Unnamed records are left as they are.
 */
export function namedExplanation(d: Pick<Divergence, 'record' | 'recordA' | 'explanation'>, nameB: (record: number) => string | null, nameA?: (record: number) => string | null): string {
  let text = d.explanation;
  const b = nameB(d.record);
  if (b) text = text.replace(new RegExp(`^((?:input \\d+ of )?record #${d.record})(?=[ :;,]|$)`), (m) => `${m} (${b})`);
  const a = d.recordA !== null && nameA ? nameA(d.recordA) : null;
  if (a) text = text.replace(new RegExp(`(A's record #${d.recordA})(?=[ :;,]|$)`), (m) => `${m} (${a})`);
  return text;
}
