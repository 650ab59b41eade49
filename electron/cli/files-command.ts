/**
 * `cachescope files <source> (--layer N | --record N) [--squash] [--changes] [--json]`: the files
 * inside a layer. `--layer N` picks layer entry N of the config, `--record N` the result of record N;
 * either way it is a chain of layers ending in one. Without options the top layer's entries are listed
 * as its tar has them; `--squash` lists the whole chain's squashed tree (with its waste); `--changes`
 * the top layer's changes against the layers below. Reads blobs (or their cached listings).
 */
import { CacheError } from '../../shared/contract/errors';
import { oneLine } from '../../shared/cache/json-text';
import { chainWaste, layerChanges, squash } from '../engine/contents/chain-tree';
import type { FileChange, WasteReport } from '../engine/contents/chain-tree';
import type { LayerEntry } from '../engine/contents/layer-entry';
import { openLayer } from '../engine/contents/open-layer';
import type { OpenedLayer } from '../engine/contents/open-layer';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { formatBytes } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

const USAGE = 'usage: cachescope files <source> (--layer N | --record N) [--squash] [--changes] [--json]';
export const FILES_HELP = `${USAGE}

Lists the files inside a layer (path, type, size, mode, owner, link target, whiteouts). Reads the
layer blobs (a registry's through the blob cache); listings are cached by diffID.

  --layer N    layer entry N of the cache config
  --record N   the result of record N
  --squash     the squashed tree of the whole chain, with its wasted bytes and efficiency score
  --changes    what the top layer adds, modifies and removes against the layers below it
  --json       print one JSON object`;

function bad(message: string): never {
  throw new CacheError('bad-request', `${USAGE} (${message})`);
}

interface Args {
  source: string;
  layer: number | null;
  record: number | null;
  squash: boolean;
  changes: boolean;
  json: boolean;
}

function parseArgs(args: string[]): Args {
  const out: Args = { source: '', layer: null, record: null, squash: false, changes: false, json: false };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') out.json = true;
    else if (a === '--squash') out.squash = true;
    else if (a === '--changes') out.changes = true;
    else if (a === '--layer' || a === '--record') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v)) bad(`${a} needs a number`);
      out[a === '--layer' ? 'layer' : 'record'] = Number(v);
    } else if (a.startsWith('-')) bad(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) bad(`expected 1 source, got ${positional.length}`);
  if ((out.layer === null) === (out.record === null)) bad('give one of --layer N and --record N');
  if (out.squash && out.changes) bad('--squash and --changes do not go together');
  out.source = positional[0];
  return out;
}

/** The layer entries (base first) of the chosen chain. */
function chainOf(opened: OpenedSource, args: Args): number[] {
  const m = opened.model;
  if (args.layer !== null) {
    if (args.layer >= m.norm.layers.length) throw new CacheError('not-found', `layer entry ${args.layer} does not exist: the cache has ${m.norm.layers.length} (0–${m.norm.layers.length - 1})`);
    const stack = m.graph.layerStacks[args.layer];
    if (!stack) throw new CacheError('invalid-config', `layer entry ${args.layer}: ${m.graph.layerProblems[args.layer] ?? 'its chain never reaches a base layer'}`);
    return stack;
  }
  const r = args.record!;
  if (r >= m.norm.records.length) throw new CacheError('not-found', `record ${r} does not exist: the cache has ${m.norm.records.length} (0–${m.norm.records.length - 1})`);
  const res = m.graph.resolutions[r];
  if (res.stack.length === 0) throw new CacheError('not-found', `record ${r} has no result, so it has no files`);
  return res.stack;
}

const TYPE_CHAR: Record<LayerEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p', other: '?' };

function modeString(e: LayerEntry): string {
  const bits = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += e.mode & (1 << (8 - i)) ? bits[i] : '-';
  return `${TYPE_CHAR[e.type]}${s}`;
}

function entryLine(e: LayerEntry): string {
  const name = e.whiteout === 'file' ? `${e.path} (whiteout: removed)` : e.whiteout === 'opaque' ? `${e.path || '/'}/ (opaque: lower layers hidden)` : e.path;
  const link = e.link !== undefined ? (e.type === 'hardlink' ? ` link to ${e.link}` : ` -> ${e.link}`) : '';
  const raw = e.raw !== undefined && e.whiteout === undefined ? `  [in the archive: ${e.raw}]` : '';
  const warn = e.warning ? `  [${e.warning}]` : '';
  return `${modeString(e)} ${e.uid}/${e.gid} ${String(e.size).padStart(10)}  ${name}${link}${raw}${warn}`;
}

const MARK: Record<FileChange['kind'], string> = { added: '+', modified: '~', removed: '-' };

function wasteLines(w: WasteReport): string[] {
  const lines = [
    `efficiency ${(w.efficiency * 100).toFixed(1)}% (dive's score); potential wasted space ${formatBytes(w.wastedBytes)} (${w.wastedBytes} bytes)`,
    `hidden bytes: ${formatBytes(w.hidden.overwritten)} overwritten, ${formatBytes(w.hidden.removed)} removed, ${formatBytes(w.hidden.duplicates)} duplicated in one layer (of ${formatBytes(w.totalBytes)}; ${formatBytes(w.visibleBytes)} visible)`,
  ];
  for (const p of w.inefficient.slice(0, 10)) lines.push(`  ${String(p.count).padStart(3)}× ${formatBytes(p.bytes).padStart(10)}  ${p.path}`);
  if (w.inefficient.length > 10) lines.push(`  … ${w.inefficient.length - 10} more (see --json)`);
  return lines;
}

export async function filesCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, FILES_HELP);
  const args = parseArgs(argv);
  let opened: OpenedSource;
  try {
    opened = await openCacheSource(args.source);
  } catch (err) {
    if (err instanceof CacheError) throw new CacheError(err.code, oneLine(err.message), err.details);
    throw err;
  }
  const chain = chainOf(opened, args);
  const entries = args.squash || args.changes ? chain : chain.slice(-1);
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const layers: OpenedLayer[] = [];
  try {
    for (const e of entries) {
      const digest = opened.model.norm.layers[e].blob;
      let last = 0;
      layers.push(
        await openLayer(opened, digest, {
          signal: controller.signal,
          onProgress: (p) => {
            if (!io.isTty || p.phase === 'done' || Date.now() - last < 200) return;
            last = Date.now();
            io.err(`${p.phase} layer ${digest.slice(0, 19)}…  ${formatBytes(p.bytes)} of ${formatBytes(p.total)}, ${p.entries} entries`);
          },
        }),
      );
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const listings = layers.map((l) => l.listing.entries);
  const layerInfo = layers.map((l, i) => ({ entry: entries[i], digest: l.digest, diffID: l.diffID, compression: l.listing.compression, entries: l.listing.entryCount, from: l.outcome, notes: l.listing.notes, warning: l.warning }));
  const notes = layers.flatMap((l) => [...l.listing.notes.map((n) => `${l.digest.slice(0, 19)}…: ${n}`), ...(l.warning ? [l.warning] : [])]);
  const top = layers[layers.length - 1];
  const head = { source: opened.source, chain: chain.map((e) => opened.model.norm.layers[e].blob), layers: layerInfo };

  if (args.changes) {
    const changes = layerChanges(listings, listings.length - 1);
    if (args.json) io.out(JSON.stringify({ ...head, changes }));
    else {
      io.out(`changes of layer ${top.digest} against the ${listings.length - 1} layer(s) below it: ${changes.length}`);
      for (const c of changes) io.out(`${MARK[c.kind]} ${entryLine(c.entry ?? c.before!)}`);
    }
  } else if (args.squash) {
    const tree = [...squash(listings).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const waste = chainWaste(listings);
    if (args.json) io.out(JSON.stringify({ ...head, files: tree.map(([, n]) => ({ ...n.entry, layer: n.layer })), waste }));
    else {
      io.out(`squashed tree of ${listings.length} layer(s), ending with ${top.digest}: ${tree.length} paths`);
      for (const [, n] of tree) io.out(`${entryLine(n.entry)}  (layer ${n.layer})`);
      io.out('');
      io.out(wasteLines(waste).join('\n'));
    }
  } else if (args.json) {
    io.out(JSON.stringify({ ...head, entries: top.listing.entries, entryCount: top.listing.entryCount, truncated: top.listing.truncated }));
  } else {
    io.out(`layer ${top.digest} (${top.listing.compression}, ${top.listing.entryCount} entries${top.outcome === 'cached' ? ', listing from the cache' : ''})`);
    for (const e of top.listing.entries) io.out(entryLine(e));
  }
  if (!args.json) for (const n of notes) io.err(`note: ${n}`);
  return 0;
}
