/** `cachescope inspect <source> [--json]`. */
import type { CacheView } from '../../shared/cache/view-types';
import { shortDigest } from '../../shared/oci/digest';
import { viewOf } from '../engine/cache-view';
import { openCacheSource } from '../engine/open-cache';
import { formatBytes, table } from './format';
import type { CommandIo } from './io';

export async function inspectCommand(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1) {
    io.err('usage: cachescope inspect <source> [--json]');
    return 2;
  }
  const opened = await openCacheSource(positional[0]);
  const view = await viewOf(opened);
  if (json) {
    io.out(JSON.stringify(view));
    return 0;
  }
  io.out(renderInspect(view));
  return 0;
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
      ['roots', String(s.roots)],
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
      ...view.layers.map((l) => [
        String(l.index),
        shortDigest(l.blob) + (l.blobUses > 1 ? ` x${l.blobUses}` : ''),
        l.mediaType || '-',
        formatBytes(l.size),
        l.parent === -1 ? '-' : String(l.parent),
        l.present ? 'present' : 'missing',
      ]),
    ]),
  );
  if (view.warnings.length > 0) {
    lines.push('');
    for (const w of view.warnings) lines.push(`warning [${w.code}]: ${w.message}${w.where ? ` (${w.where})` : ''}`);
  }
  return lines.join('\n');
}
