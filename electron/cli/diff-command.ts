/**
 * `cachescope diff <A> <B> [--image REF]... [--files] [--json]`: what changed between two caches and why B
 * missed the cache; --image names the records in the explanations from an image's history, as the Diff
 * view does (an inline cache's own image config names its records without it);
 * --files goes on to name the files that differ in the layers rebuilt at each miss (it reads blobs);
 * --content also compares the contents of files whose size, mode and link target are equal.
 * Exit codes as diffoci: 0 same, 1 different, 2 error (thrown errors become 2 in main.ts, and with
 * --json also `{"error":{code,message}}` on stdout). A change of form alone (index vs image manifest,
 * OCI vs Docker media types) is a difference, named under "form changed:". Sizes are SI (diffBytes).
 */
import { CacheError } from '../../shared/contract/errors';
import { oneLine } from '../../shared/cache/json-text';
import { toView } from '../../shared/cache/model';
import type { AttachedImage, CacheNames, HistoryName } from '../../shared/cache/view-types';
import { namedExplanation } from '../../shared/diff/explain';
import { recordName } from '../../shared/graph/history-names';
import type { ImageHistorySource } from '../../shared/graph/history-names';
import { diffCaches } from '../../shared/diff/diff-caches';
import type { CacheDiff, Divergence } from '../../shared/diff/types';
import { diffBytes } from '../../shared/diff/units';
import { shortDigest } from '../../shared/oci/digest';
import { divergenceFiles } from '../engine/contents/divergence-files';
import type { DivergenceFiles } from '../engine/contents/divergence-files';
import { withNames } from '../engine/sources/cache-view';
import { checkAttachable, readImageHistory } from '../engine/sources/image-history';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { table } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

const USAGE = 'usage: cachescope diff <A> <B> [--files [--content]] [--json] [--image REF]...';
export const DIFF_HELP = `${USAGE}

Compares two caches (any two sources): records matched by digest and input structure, blobs only
in A / only in B / recompressed, changes of form, and for every result of B that A cannot serve the
first change below it and the layers rebuilt above it. Exit 0 same, 1 different, 2 error.

  --files      name the files that differ at each miss (reads the rebuilt layers' blobs)
  --content    with --files: also compare the contents of files whose size and mode agree
  --image REF  name the records in the explanations from an image's history (as inspect); repeatable
  --json       print one JSON object`;
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

/** Names of A's and B's records from image histories (undefined for a side nothing names). */
export interface DiffNames {
  a?: CacheNames;
  b?: CacheNames;
}

/** One side's names: its inline image config's history, then the attached images', as the GUI's view has them. */
function namesOf(o: OpenedSource, images: readonly ImageHistorySource[]): CacheNames | undefined {
  // Without an image and without an inline config nothing names a record: skip building the view.
  if (images.length === 0 && o.model.variant !== 'inline') return undefined;
  const bare = toView(o.model, { present: (d) => o.present.has(d), orphans: null, layout: o.layout, blobLocation: o.blobs.kind });
  return withNames(bare, o, images).names;
}

/** Refuses an image that names nothing in either cache, saying why for each. */
function checkNamesEither(o: [OpenedSource, OpenedSource], image: ImageHistorySource): void {
  const why: string[] = [];
  for (const [side, src] of [['A', o[0]], ['B', o[1]]] as const) {
    try {
      checkAttachable(toView(src.model, { present: () => true, orphans: null, layout: null }), image);
      return;
    } catch (err) {
      if (!(err instanceof CacheError)) throw err;
      why.push(`${side}: ${err.message.replace(`${image.ref}: `, '')}`);
    }
  }
  throw new CacheError('not-found', `--image ${image.ref} names no record of A or B (${why.join('; ')})`, { field: 'image' });
}

/** The divergence's words with the records' names, exactly as the Diff view writes them. */
export function divergenceText(d: Divergence, names: DiffNames): string {
  return namedExplanation(
    d,
    (i) => recordName(names.b, i),
    (i) => recordName(names.a, i),
  );
}

function imagesLine(side: string, images: AttachedImage[] | undefined): string[] {
  return (images ?? []).map(
    (img) => `   ${side} names from ${img.inline ? "this inline cache's own image config" : `image ${img.ref}`} history: ${img.namedRecords} record${img.namedRecords === 1 ? '' : 's'}`,
  );
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

export function renderDiff(diff: CacheDiff, a: OpenedSource, b: OpenedSource, files: DivergenceFiles[] = [], names: DiffNames = {}): string {
  const s = diff.summary;
  const lines = [`A: ${identity(a)}`, ...imagesLine('A', names.a?.images), `B: ${identity(b)}`, ...imagesLine('B', names.b?.images), ''];
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
    lines.push(...some(diff.divergences, (d, i) => `  leaf #${d.leaf}: ${divergenceText(d, names)}${files[i] ? `; ${files[i].text}` : ''}`));
  }
  return lines.join('\n');
}

/** `--image REF` and `--image=REF`, repeatable; the rest of the arguments as they were. */
function imageOptions(args: string[]): { refs: string[]; rest: string[] } {
  const refs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const x = args[i];
    if (x === '--image' || x.startsWith('--image=')) {
      const ref = x === '--image' ? args[++i] : x.slice('--image='.length);
      if (ref === undefined || ref === '' || (x === '--image' && ref.startsWith('-'))) {
        throw new CacheError('bad-request', `${USAGE} (--image needs a reference: DIR[:tag|@sha256:…], an image config file or HOST/REPO[:tag])`);
      }
      refs.push(ref);
    } else rest.push(x);
  }
  return { refs, rest };
}

/** The divergence as --json prints it: the named explanation, and each name with where it comes from. */
function jsonDivergence(d: Divergence, names: DiffNames): Divergence & { recordName?: HistoryName; recordNameA?: HistoryName } {
  const nb = names.b?.records[d.record] ?? null;
  const na = d.recordA !== null ? (names.a?.records[d.recordA] ?? null) : null;
  return { ...d, explanation: divergenceText(d, names), ...(nb ? { recordName: nb } : {}), ...(na ? { recordNameA: na } : {}) };
}

export async function diffCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, DIFF_HELP);
  const { refs, rest: args } = imageOptions(argv);
  const unknown = args.find((x) => x.startsWith('-') && x !== '--json' && x !== '--files' && x !== '--content');
  const positional = args.filter((x) => !x.startsWith('-'));
  if (positional.length !== 2 || unknown !== undefined) {
    // Thrown, so main.ts prints it (as JSON too with --json) and exits 2.
    throw new CacheError('bad-request', `${USAGE}${unknown !== undefined ? ` (unknown option ${unknown})` : ` (expected 2 sources, got ${positional.length})`}`);
  }
  const [a, b] = await Promise.all(positional.map(open));
  const images: ImageHistorySource[] = [];
  for (const ref of refs) {
    const image = await readImageHistory(ref);
    checkNamesEither([a, b], image);
    images.push(image);
  }
  const names: DiffNames = { a: namesOf(a, images), b: namesOf(b, images) };
  const diff = diffCaches(a.model, b.model);
  // --files reads the rebuilt layers' blobs (or their cached listings), one divergence after another.
  const files: DivergenceFiles[] = [];
  if (args.includes('--files')) for (const d of diff.divergences) files.push(await divergenceFiles(a, b, d, { contentHashes: args.includes('--content') }));
  const extra = args.includes('--files') ? { files } : {};
  // With names (an --image, or an inline cache's own config), each side's images say where they come from.
  const named = names.a || names.b ? { names: { a: names.a?.images ?? [], b: names.b?.images ?? [] }, divergences: diff.divergences.map((d) => jsonDivergence(d, names)) } : {};
  io.out(args.includes('--json') ? JSON.stringify({ a: a.source, b: b.source, ...diff, ...named, ...extra }) : renderDiff(diff, a, b, files, names));
  return diff.identical ? 0 : 1;
}
