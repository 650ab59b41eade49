/** `cachescope inspect <source> [--image REF]... [--json]`: one JSON object, or a readable summary; `--image` names records from an image's history. */
import { CacheError } from '../../shared/contract/errors';
import { oneLine } from '../../shared/cache/json-text';
import type { CacheView, RecordRow } from '../../shared/cache/view-types';
import { shortDigest } from '../../shared/oci/digest';
import { viewOf } from '../engine/sources/cache-view';
import { checkAttachable, readImageHistory } from '../engine/sources/image-history';
import type { ImageHistorySource } from '../../shared/graph/history-names';
import { displayName } from '../../shared/graph/history-names';
import { cachedResultWaste } from '../engine/contents/cached-waste';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { formatBytes, table } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

const USAGE = 'usage: cachescope inspect <source> [--image REF]... [--json]';
export const INSPECT_HELP = `${USAGE}

Shows a cache: its form (index, image manifest, inline), manifest and config digests, counts, layer
entries and records. Reads the manifest and the cache config only, never a layer blob.

  --image REF  name records from an image's history (a layout DIR[:tag|@sha256:…], a config.json
               or HOST/REPO:TAG of the same build); repeatable
  --json       print one JSON object (manifest, variant, config, summary, layers, records, …)

sources: DIR, DIR:tag, DIR@sha256:…, a cache config or manifest file, an image config with inline
cache, type=local,src=DIR[,tag=T], HOST[:PORT]/REPO[:TAG|@sha256:…], type=registry,ref=REF,
docker-image://REF (cachescope --help for the rules)`;
/** Rows printed per table without --json; the JSON output always has them all. */
const MAX_ROWS = 200;

export async function inspectCommand(args: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(args)) return printHelp(io, INSPECT_HELP);
  // `--image REF` (repeatable): an image of the same build whose history names the records.
  const imageRefs: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--image') {
      const ref = args[i + 1];
      if (ref === undefined || ref === '') {
        io.err(`${USAGE} (--image needs a reference: DIR[:tag|@sha256:…], an image config file or HOST/REPO[:tag])`);
        return 2;
      }
      imageRefs.push(ref);
      i++;
    } else if (a.startsWith('--image=')) imageRefs.push(a.slice('--image='.length));
    else rest.push(a);
  }
  const json = rest.includes('--json');
  const unknown = rest.find((a) => a.startsWith('-') && a !== '--json');
  const positional = rest.filter((a) => !a.startsWith('-'));
  if (unknown !== undefined || positional.length !== 1 || imageRefs.some((r) => r === '')) {
    io.err(`${USAGE}${unknown !== undefined ? ` (unknown option ${unknown})` : ''}`);
    return 2;
  }
  let view: CacheView;
  let opened: OpenedSource;
  try {
    opened = await openCacheSource(positional[0]);
    const images: ImageHistorySource[] = [];
    for (const ref of imageRefs) images.push(await readImageHistory(ref));
    view = await viewOf(opened, images);
    for (const image of images) checkAttachable(view, image);
  } catch (err) {
    // Messages quote file content at times (a JSON parse error); the CLI prints them on one line.
    if (err instanceof CacheError) throw new CacheError(err.code, oneLine(err.message), err.details);
    throw err;
  }
  // Wasted bytes per result, only from listings cached earlier (files, diff --files): never reads a blob.
  const waste = json ? await cachedResultWaste(opened) : [];
  io.out(json ? JSON.stringify({ ...inspectJson(view), ...(waste.length > 0 ? { waste } : {}) }) : renderInspect(view));
  return 0;
}

/**
 * The `--json` object: the view as it is, plus `summary.roots`, the name `chainRoots` had before it
 * was told apart from source records; kept (same value) so scripts reading it keep working.
 */
export function inspectJson(view: CacheView): CacheView & { summary: CacheView['summary'] & { roots: number } } {
  return { ...view, summary: { ...view.summary, roots: view.summary.chainRoots } };
}

function rows<T>(items: T[], render: (item: T) => string[]): string[][] {
  const out = items.slice(0, MAX_ROWS).map(render);
  if (items.length > MAX_ROWS) out.push([`… ${items.length - MAX_ROWS} more (see --json)`]);
  return out;
}

function inputsText(r: RecordRow): string {
  if (r.inputs.length === 0) return 'source';
  return r.inputs.map((slot) => slot.map((l) => `${l.link}${l.selector ? '*' : ''}`).join('|')).join(' ');
}

function resultText(r: RecordRow): string {
  if (!r.shownResult) return '-';
  const at = r.shownResult.kind === 'layers' ? `layer ${r.results[r.shownResult.index].layer}` : `chain [${r.chains[r.shownResult.index].layers.join(',')}]`;
  return r.droppedResult ? `${at} (dropped)` : at;
}

export function renderInspect(view: CacheView): string {
  const s = view.summary;
  const lines: string[] = [];
  lines.push(`source:    ${view.source}`);
  const form = view.variant === 'image-manifest' ? 'image manifest' : view.variant;
  if (view.manifest) {
    lines.push(`manifest:  ${form}, ${view.manifest.family.toUpperCase()} media types${view.manifest.inferred ? ' (inferred from body)' : ''}`);
    lines.push(`           ${view.manifest.mediaType}`);
    lines.push(`           ${view.manifest.digest ?? '(no digest)'}  ${view.manifest.size} bytes`);
  } else {
    lines.push(`form:      ${form}`);
  }
  lines.push(`config:    ${view.config.digest ?? '(none)'}  ${view.config.size} bytes  (${view.config.format})`);
  lines.push('');
  lines.push(
    table([
      ['layer entries', String(s.layerEntries)],
      ['unique blobs', String(s.uniqueBlobs)],
      ['records', String(s.records)],
      ['records with results', String(s.recordsWithResults)],
      ['chain roots', String(s.chainRoots)],
      ['source records', String(s.sourceRecords)],
      ['missing blobs', String(s.missingBlobs)],
      ['total bytes', `${s.totalBytes} (${formatBytes(s.totalBytes)})`],
    ]),
  );
  if (view.orphans && view.orphans.items.length > 0) {
    lines.push('');
    lines.push(`orphans:   ${view.orphans.items.length} blobs, ${formatBytes(view.orphans.bytes)} reclaimable (cachescope gc)`);
  }
  lines.push('');
  lines.push(
    table([
      ['#', 'BLOB', 'MEDIA TYPE', 'SIZE', 'PARENT', 'STATUS'],
      ...rows(view.layers, (l) => [
        String(l.index),
        shortDigest(l.blob) + (l.blobUses > 1 ? ` x${l.blobUses}` : ''),
        l.mediaType || '-',
        formatBytes(l.size),
        l.parent === -1 ? '-' : String(l.parent),
        (l.present ? (view.blobLocation === 'registry' ? 'in registry' : 'present') : 'missing') + (l.problem ? ', chain broken' : ''),
      ]),
    ]),
  );
  lines.push('');
  lines.push(
    table([
      ['#', 'DIGEST', 'INPUTS (slot: a|b, * = selector)', 'RESULT', 'SIZE', ...(view.names ? ['NAME (image history)'] : [])],
      ...rows(view.records, (r) => {
        const cells = [String(r.index), shortDigest(r.digest), inputsText(r), resultText(r), r.resultSize > 0 ? formatBytes(r.resultSize) : '-'];
        const nm = view.names?.records[r.index];
        return view.names ? [...cells, nm ? displayName(nm.text) : '-'] : cells;
      }),
    ]),
  );
  if (view.names) {
    lines.push('');
    for (const img of view.names.images) {
      lines.push(
        `names:     from image ${img.ref} history${img.inline ? ' (the image config carrying this inline cache)' : ''}: ${img.namedRecords} record${img.namedRecords === 1 ? '' : 's'}, ${img.namedLayers} layer entr${img.namedLayers === 1 ? 'y' : 'ies'}; ${img.matchedLayers} of its ${img.layers} layers are in this cache`,
      );
      for (const note of img.notes) lines.push(`           ${note}`);
    }
  }
  if (view.warnings.length > 0) {
    lines.push('');
    for (const w of view.warnings) lines.push(`warning [${w.code}]: ${w.message}${w.where ? ` (${w.where})` : ''}`);
  }
  return lines.join('\n');
}
