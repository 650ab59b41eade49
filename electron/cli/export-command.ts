/**
 * `cachescope export <source> <dest-dir>[:tag] [--opt key=value …] [--json]`: BuildKit's local cache
 * exporter on any opened cache, a registry cache included (a pull: layers download into the per-user
 * blob cache, then land in the folder). On a terminal, one progress bar per layer (`downloading`,
 * `cached`, …); with --json, one event per line and a last line holding the `cache.manifest`
 * descriptor; otherwise BuildKit's progress lines.
 */
import { existsSync } from 'node:fs';
import { CacheError } from '../../shared/contract/errors';
import { EXPORT_ATTRS, parseExportAttrs } from '../../shared/export/options';
import type { ExportProgress, ExportResult, LayerProgress } from '../../shared/export/types';
import { shortDigest } from '../../shared/oci/digest';
import { previewExport, runExport } from '../engine/export/exporter';
import { parseRegistryDestination, withDestinationAttributes } from '../engine/export/registry-target';
import type { RegistryDestination } from '../engine/export/registry-target';
import { exportPushWarnings } from '../engine/registry/push-warnings';
import { formatReference } from '../engine/registry/reference';
import { openCacheSource } from '../engine/sources/open-cache';
import { defaultRegistryAccess, setDefaultRegistryConcurrency } from '../engine/sources/registry-source';
import type { OpenedSource } from '../engine/sources/open-cache';
import type { ExportOptions } from '../../shared/export/types';
import { formatBytes } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';
import { REGISTRY_CONCURRENCY_HELP, takeRegistryConcurrency } from './registry-concurrency-option';

const USAGE = `usage: cachescope export <source> <dest-dir>[:tag] | HOST[:PORT]/REPO[:TAG] | type=registry,ref=…[,registry.insecure=true][,key=value…] [--opt key=value]… [--registry-concurrency N] [--json]
options (BuildKit's): ${EXPORT_ATTRS.join(', ')}
  e.g. --opt compression=zstd --opt force-compression=true --opt image-manifest=false
  (in a pasted --cache-to type=registry,ref=…,key=value string they are read the same way)
the source may be a registry cache (e.g. registry.example:5000/repo:tag): its layers download in
parallel into the per-user blob cache (a killed pull resumes there) and are verified on the way;
every blob is verified before it is linked or copied (verify=false opts out, verify=true ignores
remembered verifications); a registry destination gets each blob once (HEAD first, mounts from the
same registry: the source, its distribution-source annotations, earlier pushes; chunked uploads that
resume), then the config, then the manifest by tag (--opt registry.insecure=true allows plain
HTTP); what the registry is known to refuse is warned about on stderr first (and as a pushWarnings
event with --json); exit 0 exported, 1 failed or nothing to export, 130 cancelled`;
export const EXPORT_HELP = `${USAGE}

${REGISTRY_CONCURRENCY_HELP}`;

export interface ParsedExportArgs {
  source: string;
  dest: string;
  /** Set when the destination names a registry (registry-target.ts `parseRegistryDestination`). */
  registry: RegistryDestination | null;
  attrs: [string, string][];
  json: boolean;
}

/** `DIR:tag` unless the whole string is an existing path (folder names may contain ':'). */
export function splitDest(text: string): { dest: string; tag: string | null } {
  if (existsSync(text)) return { dest: text, tag: null };
  const colon = text.lastIndexOf(':');
  // `C:\…` and `C:/…` are drive letters, not tags.
  if (colon <= 0 || (colon === 1 && /^[A-Za-z]$/.test(text[0]))) return { dest: text, tag: null };
  const tag = text.slice(colon + 1);
  if (tag === '' || tag.includes('/') || tag.includes('\\')) return { dest: text, tag: null };
  return { dest: text.slice(0, colon), tag };
}

export function parseExportArgs(args: string[]): ParsedExportArgs | string {
  const attrs: [string, string][] = [];
  const positional: string[] = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--opt' || a.startsWith('--opt=')) {
      const kv = a === '--opt' ? args[++i] : a.slice('--opt='.length);
      if (kv === undefined) return '--opt needs key=value';
      const eq = kv.indexOf('=');
      // BuildKit's csv attrs allow a bare key for force-compression (empty value means true).
      attrs.push(eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)]);
    } else if (a.startsWith('--')) return `unknown option ${a}`;
    else positional.push(a);
  }
  if (positional.length !== 2) return `expected <source> and <dest-dir>, got ${positional.length} argument(s)`;
  let registry: RegistryDestination | null;
  try {
    registry = parseRegistryDestination(positional[1]);
  } catch (err) {
    return (err as Error).message;
  }
  // `registry.insecure` is the destination's, not an export option.
  const insecureAt = attrs.findIndex(([k]) => k === 'registry.insecure');
  if (insecureAt >= 0) {
    const [, v] = attrs.splice(insecureAt, 1)[0];
    if (!registry) return 'registry.insecure is only for a registry destination';
    if (!/^(true|false|)$/i.test(v)) return `registry.insecure: expected true or false, got ${JSON.stringify(v)}`;
    registry = { ...registry, insecure: registry.insecure || v === '' || v.toLowerCase() === 'true' };
  }
  let merged: [string, string][];
  try {
    merged = withDestinationAttributes(attrs, registry);
  } catch (err) {
    return (err as Error).message;
  }
  attrs.splice(0, attrs.length, ...merged);
  const { dest, tag } = registry
    ? { dest: formatReference({ registry: registry.reference.registry, repository: registry.reference.repository }), tag: registry.reference.tag ?? null }
    : splitDest(positional[1]);
  if (tag !== null) {
    const given = attrs.find(([k]) => k === 'tag');
    if (given && given[1] !== tag) return `two tags: "${tag}" after the destination and "${given[1]}" in --opt tag=`;
    if (!given) attrs.push(['tag', tag]);
  }
  return { source: positional[0], dest, registry, attrs, json };
}

const BAR = 24;

function bar(done: number, total: number): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const full = Math.round(frac * BAR);
  return `[${'#'.repeat(full)}${' '.repeat(BAR - full)}] ${String(Math.floor(frac * 100)).padStart(3)}%`;
}

/** Where a pulled layer came from, once it is done: the blob cache, or a (resumed) download. */
function originNote(l: LayerProgress): string {
  if (l.state === 'failed' || l.origin === undefined || l.origin === 'local') return '';
  if (l.origin === 'cached') return l.state === 'cached' ? '' : '  (from blob cache)';
  return l.resumedFrom ? `  (resumed at ${formatBytes(l.resumedFrom)})` : '';
}

export function layerLine(l: LayerProgress): string {
  const rate = l.bytesPerSecond > 0 && l.state !== 'exists' && l.state !== 'linked' && l.state !== 'cached' ? `  ${formatBytes(l.bytesPerSecond)}/s` : '';
  const target = l.target && l.target !== l.blob ? ` -> ${shortDigest(l.target)}` : '';
  return `${shortDigest(l.blob)}${target}  ${l.state.padEnd(11)} ${bar(l.bytesDone, l.bytesTotal)}  ${formatBytes(l.bytesDone)}/${formatBytes(l.bytesTotal)}${rate}${originNote(l)}${l.error ? `  ${l.error}` : ''}`;
}

/** Redraws a block of lines in place (cursor up, clear line), for a terminal. */
function ttyRenderer(io: CommandIo): (p: ExportProgress) => void {
  let drawn = 0;
  return (p) => {
    const lines = [...p.layers.map(layerLine), `${p.text}  ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`];
    const up = drawn > 0 ? `\x1b[${drawn}A` : '';
    io.out(up + lines.map((l) => `\x1b[2K${l}`).join('\n'));
    drawn = lines.length;
  };
}

function summary(r: ExportResult, tag: string): string {
  const c = r.counts;
  const parts = [
    c.written && `${c.written} copied`,
    c.linked && `${c.linked} hard-linked`,
    c.converted && `${c.converted} converted`,
    c.reused && `${c.reused} reused variants`,
    c.exists && `${c.exists} already there`,
    c.mounted && `${c.mounted} mounted`,
    c.resumed && `${c.resumed} resumed`,
  ].filter(Boolean);
  return `exported ${r.descriptor!.digest} (${r.descriptor!.mediaType}) to ${r.dest}:${tag}\nlayers: ${parts.join(', ') || 'none'}; ${formatBytes(r.bytesWritten)} written in ${(r.durationMs / 1000).toFixed(2)} s`;
}

/**
 * Why an export had nothing to write (BuildKit's `skipping cache export for empty result`, which the
 * progress lines already printed once): every chain dropped by drop-missing, or no chain at all.
 */
async function emptyReason(opened: OpenedSource, options: ExportOptions, dest: string): Promise<{ code: 'missing-blob' | 'invalid-source'; message: string }> {
  const preview = await previewExport(opened, options);
  const untouched = `${dest} was not created or changed`;
  if (preview.missingBlobs.length > 0) {
    return {
      code: 'missing-blob',
      message: `nothing exported: drop-missing dropped all ${preview.droppedLayers} layer entries, because ${preview.missingBlobs.length} blob(s) they need are absent from the source; ${untouched}`,
    };
  }
  return { code: 'invalid-source', message: `nothing exported: the cache has no layer chains with results to export; ${untouched}` };
}

export async function exportCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, EXPORT_HELP);
  const { concurrency, rest: args } = takeRegistryConcurrency(argv);
  if (concurrency !== undefined) setDefaultRegistryConcurrency(concurrency);
  const parsed = parseExportArgs(args);
  if (typeof parsed === 'string') {
    io.err(`cachescope export: ${parsed}\n${USAGE}`);
    return 2;
  }
  const options = parseExportAttrs(parsed.attrs);
  const opened = await openCacheSource(parsed.source);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const render = parsed.json ? null : io.isTty ? ttyRenderer(io) : null;
  const onProgress = (p: ExportProgress) => {
    if (parsed.json) io.out(JSON.stringify({ event: 'exportProgress', ...p }));
    else if (render) render(p);
    else for (const line of p.lines ?? []) io.out(line);
  };
  try {
    if (parsed.registry) {
      // Before any byte goes up: what this registry is known to refuse, and the option that works.
      const warnings = exportPushWarnings(opened, options, parsed.registry.reference.registry);
      for (const w of warnings) io.err(`cachescope export: warning: ${w.message}\n  fix: ${w.fix}`);
      if (parsed.json && warnings.length > 0) io.out(JSON.stringify({ event: 'pushWarnings', warnings }));
    }
    const registry = parsed.registry
      ? { ...parsed.registry, client: defaultRegistryAccess().client(parsed.registry.reference.registry, parsed.registry.insecure) }
      : undefined;
    const result = await runExport({ opened, dest: parsed.dest, options, signal: controller.signal, onProgress, jobId: 'cli', registry });
    const tag = options.tag ?? 'latest';
    if (result.skipped) {
      // An export that writes nothing is a failure for a script that expects a cache there.
      const why = await emptyReason(opened, options, parsed.dest);
      if (parsed.json) io.out(JSON.stringify({ event: 'exportFinished', ok: false, skipped: true, error: why, result }));
      io.err(`cachescope export: ${why.message}`);
      return 1;
    }
    if (parsed.json) io.out(JSON.stringify({ event: 'exportFinished', ok: true, 'cache.manifest': result.descriptor, result }));
    else io.out(summary(result, tag));
    return 0;
  } catch (err) {
    if (err instanceof CacheError && err.code === 'cancelled') {
      if (parsed.json) io.out(JSON.stringify({ event: 'exportFinished', ok: false, error: { code: err.code, message: err.message } }));
      io.err(`cachescope export: ${err.message}`);
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A pull keeps pooled connections to the registry open: close them so the process can end.
    if (opened.blobs.kind === 'registry' || parsed.registry) defaultRegistryAccess().close();
  }
}
