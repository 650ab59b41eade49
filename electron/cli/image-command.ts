/**
 * `cachescope image <source> (--record N | --layer N | --chain DIGEST) --dest <folder[:tag] | docker-archive:FILE>
 * [--name a,b] [--platform os/arch[/variant]] [--config FILE] [--inline-cache] [--docker-mediatypes] [--trust-diffids] [--json]`:
 * a cached result as a runnable image, as moby's image exporter would have written it.
 */
import { CacheError } from '../../shared/contract/errors';
import { parseImageNames } from '../../shared/image/names';
import type { ImageName } from '../../shared/image/names';
import { isDigest } from '../../shared/oci/digest';
import type { Platform } from '../../shared/oci/types';
import { exportImage } from '../engine/export/image-export';
import type { ImageDestination, ImageExportResult, ImageSelection } from '../engine/export/image-export';
import { parsePlatform } from '../engine/export/image-config';
import { parseRegistryDestination } from '../engine/export/registry-target';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { defaultRegistryAccess } from '../engine/sources/registry-source';
import { tagProblem } from '../engine/store/layout-index';
import type { CommandIo } from './io';

const USAGE =
  'usage: cachescope image <source> (--record N | --layer N | --chain DIGEST) --dest <folder[:tag] | docker-archive:FILE | HOST/REPO[:tag]> ' +
  '[--name a,b] [--platform os/arch[/variant]] [--config FILE] [--inline-cache] [--docker-mediatypes] [--trust-diffids] [--json]';

function bad(message: string): never {
  throw new CacheError('bad-request', `${USAGE} (${message})`);
}

/** `docker-archive:FILE`, a registry `HOST/REPO[:tag]` (as `export` tells it from a path), or a folder `[oci:]DIR[:tag]` (default tag `latest`). */
export function parseDestination(text: string): ImageDestination {
  if (text.startsWith('docker-archive:')) {
    const file = text.slice('docker-archive:'.length);
    if (!file) bad('docker-archive: needs a file name');
    return { kind: 'docker-archive', file };
  }
  if (text.startsWith('oci:')) text = text.slice(4);
  else {
    // A registry, by the export's rule (an existing path is always local).
    const registry = parseRegistryDestination(text);
    if (registry) return { kind: 'registry', reference: registry.reference, client: defaultRegistryAccess().client(registry.reference.registry, registry.insecure) };
  }
  const colon = text.lastIndexOf(':');
  if (colon > 0 && !text.slice(colon + 1).includes('/')) {
    const tag = text.slice(colon + 1);
    const problem = tagProblem(tag);
    if (problem) bad(`--dest tag ${JSON.stringify(tag)}: ${problem}`);
    return { kind: 'folder', dir: text.slice(0, colon), tag };
  }
  return { kind: 'folder', dir: text, tag: 'latest' };
}

export async function imageCommand(args: string[], io: CommandIo): Promise<number> {
  const positional: string[] = [];
  let selection: ImageSelection | null = null;
  let dest: ImageDestination | null = null;
  let names: ImageName[] = [];
  let platform: Platform | null = null;
  let configFile: string | null = null;
  let inlineCache = false;
  let json = false;
  let oci = true;
  let trust = false;
  const value = (i: number, flag: string): string => {
    const v = args[i];
    if (v === undefined) bad(`${flag} needs a value`);
    return v;
  };
  const select = (s: ImageSelection): void => {
    if (selection) bad('give one of --record N, --layer N and --chain DIGEST');
    selection = s;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--inline-cache') inlineCache = true;
    else if (a === '--docker-mediatypes') oci = false;
    else if (a === '--trust-diffids') trust = true;
    else if (a === '--record' || a === '--layer') {
      const v = value(++i, a);
      if (!/^\d+$/.test(v)) bad(`${a} needs a number`);
      select({ kind: a === '--record' ? 'record' : 'layer', index: Number(v) });
    } else if (a === '--chain') {
      const v = value(++i, a);
      if (!isDigest(v)) bad(`--chain needs a blob digest (sha256:…), got ${JSON.stringify(v)}`);
      select({ kind: 'chain', digest: v });
    } else if (a === '--dest') dest = parseDestination(value(++i, a));
    else if (a === '--name') names = [...names, ...parseImageNames(value(++i, a).replace(/^name=/, ''))];
    else if (a === '--platform') {
      if (platform) throw new CacheError('bad-request', 'platform given twice: --platform may be given once (an image export has one platform)', { field: 'platform' });
      platform = parsePlatform(value(++i, a));
    } else if (a === '--config') configFile = value(++i, a);
    else if (a.startsWith('-')) bad(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) bad(`expected 1 source, got ${positional.length}`);
  if (!selection) bad('give one of --record N, --layer N and --chain DIGEST');
  if (!dest) bad('--dest is required');
  let opened: OpenedSource | null = null;
  let result: ImageExportResult;
  try {
    opened = await openCacheSource(positional[0]);
    result = await exportImage(opened, {
      selection,
      destination: dest,
      names,
      platform,
      configFile,
      inlineCache,
      ociMediaTypes: oci,
      trustDiffIDs: trust,
      onProgress: (message) => (json ? io.out(JSON.stringify({ progress: message })) : io.err(message)),
    });
  } finally {
    // Keep-alive sockets would hold the process open.
    if (opened?.blobs.kind === 'registry' || dest.kind === 'registry') defaultRegistryAccess().close();
  }
  for (const w of result.warnings) io.err(`warning: ${w}`);
  if (json) io.out(JSON.stringify(result));
  else {
    io.out(`containerimage.config.digest: ${result['containerimage.config.digest']}`);
    io.out(`containerimage.digest: ${result['containerimage.digest']}`);
    if (result['image.name']) io.out(`image.name: ${result['image.name']}`);
    io.out(`${result.chain.length} layers, config from ${result.configOrigin}${inlineCache ? `, ${result.inlineRecords} inline-cache records` : ''}`);
  }
  return 0;
}
