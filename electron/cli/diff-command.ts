/**
 * `cachescope diff <A> <B> [--files] [--json]`: what changed between two caches and why B missed the cache;
 * --files goes on to name the files that differ in the layers rebuilt at each miss (it reads blobs);
 * --content also compares the contents of files whose size, mode and link target are equal.
 * Exit codes as diffoci: 0 same, 1 different, 2 error (thrown errors become 2 in main.ts, and with
 * --json also `{"error":{code,message}}` on stdout). A change of form alone (index vs image manifest,
 * OCI vs Docker media types) is a difference, named under "form changed:". Sizes are SI (diffBytes).
 */
import { CacheError } from '../../shared/contract/errors';
import { oneLine } from '../../shared/cache/json-text';
import { diffCaches } from '../../shared/diff/diff-caches';
import type { CacheDiff } from '../../shared/diff/types';
import { diffBytes } from '../../shared/diff/units';
import { shortDigest } from '../../shared/oci/digest';
import { divergenceFiles } from '../engine/contents/divergence-files';
import type { DivergenceFiles } from '../engine/contents/divergence-files';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { table } from './format';
import type { CommandIo } from './io';

const USAGE = 'usage: cachescope diff <A> <B> [--files [--content]] [--json]';
/** Items listed per section without --json; the JSON output always has them all. */
const MAX_ITEMS = 50;

async function open(source: string): Promise<OpenedSource> {
  try {
    return await openCacheSource(source);
  } catch (err) {
    // Messages quote file content at times (a JSON parse error); the CLI prints them on one line.
    if (err instanceof CacheError) throw new CacheError(err.code, oneLine(err.message), err.details);
    throw err;
  }
}

function sized(n: number): string {
  return `${diffBytes(n)} (${n} bytes)`;
}

function some<T>(items: T[], render: (item: T, index: number) => string): string[] {
  const out = items.slice(0, MAX_ITEMS).map(render);
  if (items.length > MAX_ITEMS) out.push(`  … ${items.length - MAX_ITEMS} more (see --json)`);
  return out;
}

function identity(o: OpenedSource): string {
  const m = o.model;
  const parts = [m.manifest?.digest ? `manifest ${shortDigest(m.manifest.digest)}` : null, m.config.digest ? `config ${shortDigest(m.config.digest)}` : null];
  return `${o.source}  (${parts.filter(Boolean).join(', ') || m.variant}; ${m.norm.records.length} records, ${m.norm.layers.length} layer entries)`;
}

export function renderDiff(diff: CacheDiff, a: OpenedSource, b: OpenedSource, files: DivergenceFiles[] = []): string {
  const s = diff.summary;
  const lines = [`A: ${identity(a)}`, `B: ${identity(b)}`, ''];
  if (diff.identical) {
    const sameBytes = a.model.config.digest !== null && a.model.config.digest === b.model.config.digest;
    lines.push(sameBytes ? 'identical' : 'identical: the same blobs, chains, records and results (the config bytes differ, e.g. in the order of layer entries)');
  } else {
    lines.push('different');
  }
  if (diff.form.changed) {
    // A form change alone is a difference (exit 1, as diffoci): say it first, it explains the rest.
    lines.push('', 'form changed:');
    lines.push(...diff.form.changes.map((c) => `  ${c}`));
  }
  lines.push('');
  lines.push(
    table([
      ['', 'COUNT', 'BYTES'],
      ['blobs only in A (dropped)', String(s.blobsOnlyA), sized(s.bytesOnlyA)],
      ['blobs in both (reused)', String(s.blobsBoth), sized(s.bytesBoth)],
      ['blobs only in B (new)', String(s.blobsOnlyB), sized(s.bytesOnlyB)],
      ['recompressed, not rebuilt', String(s.recompressed), `A ${diffBytes(s.recompressedBytesA)}, B ${diffBytes(s.recompressedBytesB)}`],
      ['layer chains in both / only A / only B', `${s.chainsBoth} / ${s.chainsOnlyA} / ${s.chainsOnlyB}`, ''],
      ['records matched / new / gone', `${s.recordsMatched} / ${s.recordsNew} / ${s.recordsGone}`, ''],
      ['records with a changed result', String(s.recordsResultChanged), ''],
      ['records with changed links', String(s.recordsLinksChanged), ''],
    ]),
  );
  lines.push('', `A could have served ${(s.reusableShare * 100).toFixed(1)}% of B's result bytes (${diffBytes(s.reusableBytes)} of ${diffBytes(s.resultBytesB)})`);
  const recompressed = diff.blobs.filter((r) => r.side === 'b' && r.recompressedFrom);
  if (recompressed.length > 0) {
    lines.push('', 'recompressed, not rebuilt (same diffID, other blob):');
    lines.push(...some(recompressed, (r) => `  ${shortDigest(r.recompressedFrom!)} → ${shortDigest(r.digest)}  ${diffBytes(r.size)}  diffID ${r.diffID ? shortDigest(r.diffID) : '-'}`));
  }
  if (diff.newRecords.length > 0 || diff.goneRecords.length > 0) {
    lines.push('', `new records (B): ${diff.newRecords.length ? diff.newRecords.map((i) => `#${i}`).join(' ') : '-'}`);
    lines.push(`gone records (A): ${diff.goneRecords.length ? diff.goneRecords.map((i) => `#${i}`).join(' ') : '-'}`);
  }
  lines.push('');
  if (diff.divergences.length === 0) {
    lines.push(diff.identical ? 'no cache misses.' : 'no cache misses: A matches every final result of B.');
  } else {
    lines.push('why B missed the cache (first divergence per final result):');
    // With --files, each explanation goes on to name the files that differ (one entry per divergence, in order).
    lines.push(...some(diff.divergences, (d, i) => `  leaf #${d.leaf}: ${d.explanation}${files[i] ? `; ${files[i].text}` : ''}`));
  }
  return lines.join('\n');
}

export async function diffCommand(args: string[], io: CommandIo): Promise<number> {
  const unknown = args.find((x) => x.startsWith('-') && x !== '--json' && x !== '--files' && x !== '--content');
  const positional = args.filter((x) => !x.startsWith('-'));
  if (positional.length !== 2 || unknown !== undefined) {
    // Thrown, so main.ts prints it (as JSON too with --json) and exits 2.
    throw new CacheError('bad-request', `${USAGE}${unknown !== undefined ? ` (unknown option ${unknown})` : ` (expected 2 sources, got ${positional.length})`}`);
  }
  const [a, b] = await Promise.all(positional.map(open));
  const diff = diffCaches(a.model, b.model);
  // --files reads the rebuilt layers' blobs (or their cached listings), one divergence after another.
  const files: DivergenceFiles[] = [];
  if (args.includes('--files')) for (const d of diff.divergences) files.push(await divergenceFiles(a, b, d, { contentHashes: args.includes('--content') }));
  const extra = args.includes('--files') ? { files } : {};
  io.out(args.includes('--json') ? JSON.stringify({ a: a.source, b: b.source, ...diff, ...extra }) : renderDiff(diff, a, b, files));
  return diff.identical ? 0 : 1;
}
