/** Where an image export goes, from the string the CLI's `--dest` and the GUI's destination field take. */
import { CacheError } from '../../../shared/contract/errors';
import { formatReference } from '../registry/reference';
import type { Reference } from '../registry/reference';
import { tagProblem } from '../store/layout-index';
import { parseRegistryDestination } from './registry-target';

export type ImageDestinationSpec =
  | { kind: 'folder'; dir: string; tag: string }
  | { kind: 'docker-archive'; file: string }
  | { kind: 'registry'; reference: Reference; insecure: boolean };

/** `docker-archive:FILE`, a registry `HOST/REPO[:tag]` (as `export` tells it from a path), or a folder `[oci:]DIR[:tag]` (default tag `latest`). */
export function parseImageDestination(text: string): ImageDestinationSpec {
  const bad = (message: string): never => {
    throw new CacheError('bad-request', `destination ${JSON.stringify(text)}: ${message}`, { field: 'dest' });
  };
  if (text.startsWith('docker-archive:')) {
    const file = text.slice('docker-archive:'.length);
    if (!file) bad('docker-archive: needs a file name');
    return { kind: 'docker-archive', file };
  }
  let rest = text;
  if (rest.startsWith('oci:')) rest = rest.slice(4);
  else {
    // A registry, by the export's rule (an existing path is always local).
    const registry = parseRegistryDestination(rest);
    if (registry?.attributes) bad(`${registry.attributes.map(([k]) => k).join(', ')}: cache export options, not read from an image destination (layer options go in --opt)`);
    if (registry) return { kind: 'registry', reference: registry.reference, insecure: registry.insecure };
  }
  if (rest === '') bad('needs a folder, docker-archive:FILE or a registry reference');
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !rest.slice(colon + 1).includes('/')) {
    const tag = rest.slice(colon + 1);
    const problem = tagProblem(tag);
    if (problem) bad(`tag ${JSON.stringify(tag)}: ${problem}`);
    return { kind: 'folder', dir: rest.slice(0, colon), tag };
  }
  return { kind: 'folder', dir: rest, tag: 'latest' };
}

/** How the destination reads in a preview, and the source string that opens the image afterwards (null for a tar). */
export function describeImageDestination(d: ImageDestinationSpec): { label: string; openSource: string | null } {
  if (d.kind === 'folder') return { label: `${d.dir}:${d.tag}`, openSource: `${d.dir}:${d.tag}` };
  if (d.kind === 'docker-archive') return { label: d.file, openSource: null };
  const ref = formatReference({ ...d.reference, tag: d.reference.tag ?? 'latest' });
  return { label: ref, openSource: ref };
}
