/** `cachescope diff <A> <B> [--json]`: exit 0 same, 1 different, 2 error (diffoci's convention). */
import { diffCaches } from '../../shared/diff/diff-caches';
import type { CacheDiff } from '../../shared/diff/types';
import { shortDigest } from '../../shared/oci/digest';
import { openCacheSource } from '../engine/open-cache';
import { formatBytes } from './format';
import type { CommandIo } from './io';

export function renderDiff(diff: CacheDiff, a: string, b: string): string {
  const s = diff.summary;
  const lines = [`A: ${a}`, `B: ${b}`, '', diff.identical ? 'identical' : 'different', ''];
  lines.push(`blobs   only A ${s.blobsOnlyA} (${formatBytes(s.bytesOnlyA)})   both ${s.blobsBoth} (${formatBytes(s.bytesBoth)})   only B ${s.blobsOnlyB} (${formatBytes(s.bytesOnlyB)})   recompressed ${s.recompressed}`);
  lines.push(`chains  both ${s.chainsBoth}   only A ${s.chainsOnlyA}   only B ${s.chainsOnlyB}`);
  lines.push(`records matched ${s.recordsMatched}   new ${s.recordsNew}   gone ${s.recordsGone}   result changed ${s.recordsResultChanged}`);
  lines.push(`A could have served ${(s.reusableShare * 100).toFixed(1)}% of B's result bytes`);
  const recompressed = diff.blobs.filter((r) => r.side === 'b' && r.recompressedFrom);
  if (recompressed.length > 0) {
    lines.push('', 'recompressed, not rebuilt:');
    for (const r of recompressed) lines.push(`  ${shortDigest(r.recompressedFrom!)} -> ${shortDigest(r.digest)} (diffID ${shortDigest(r.diffID ?? '')})`);
  }
  if (diff.divergences.length > 0) {
    lines.push('', 'why B missed the cache:');
    for (const d of diff.divergences) lines.push(`  leaf #${d.leaf}: ${d.explanation}`);
  }
  return lines.join('\n');
}

export async function diffCommand(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const unknown = args.filter((x) => x.startsWith('--') && x !== '--json');
  const positional = args.filter((x) => !x.startsWith('--'));
  if (positional.length !== 2 || unknown.length > 0) {
    io.err(`usage: cachescope diff <A> <B> [--json]${unknown.length ? ` (unknown option ${unknown[0]})` : ''}`);
    return 2;
  }
  const [sa, sb] = positional;
  const [a, b] = await Promise.all([openCacheSource(sa), openCacheSource(sb)]);
  const diff = diffCaches(a.model, b.model);
  io.out(json ? JSON.stringify({ a: sa, b: sb, ...diff }) : renderDiff(diff, sa, sb));
  return diff.identical ? 0 : 1;
}
