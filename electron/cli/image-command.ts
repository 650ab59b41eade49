/**
 * `cachescope image <source> (--record N | --layer N | --chain DIGEST) --dest <folder[:tag] | docker-archive:FILE | HOST/REPO[:tag]>
 * [--name a,b] [--platform os/arch[/variant]] [--config FILE|IMAGE] [--inline-cache] [--opt key=value]… [--docker-mediatypes] [--trust-diffids] [--json]`:
 * a cached result as a runnable image, as moby's image exporter would have written it.
 */
import { CacheError } from '../../shared/contract/errors';
import { parseExportAttrs } from '../../shared/export/options';
import { IMAGE_LAYER_ATTRS, resolveImageLayers } from '../../shared/image/layer-options';
import { parseImageNames } from '../../shared/image/names';
import type { ImageName } from '../../shared/image/names';
import { isDigest } from '../../shared/oci/digest';
import type { Platform } from '../../shared/oci/types';
import { exportImage } from '../engine/export/image-export';
import type { ImageDestination, ImageExportResult, ImageSelection } from '../engine/export/image-export';
import { configSourceOf, parsePlatform } from '../engine/export/image-config';
import { parseImageDestination } from '../engine/export/image-destination';
import { openCacheSource } from '../engine/sources/open-cache';
import type { OpenedSource } from '../engine/sources/open-cache';
import { defaultRegistryAccess, setDefaultRegistryConcurrency } from '../engine/sources/registry-source';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';
import { REGISTRY_CONCURRENCY_HELP, takeRegistryConcurrency } from './registry-concurrency-option';

const USAGE =
  'usage: cachescope image <source> (--record N | --layer N | --chain DIGEST) --dest <folder[:tag] | docker-archive:FILE | HOST/REPO[:tag]> ' +
  '[--name a,b] [--platform os/arch[/variant]] [--config FILE | DIR[:tag|@digest] | HOST/REPO[:tag]] [--inline-cache] ' +
  `[--opt key=value]… (${IMAGE_LAYER_ATTRS.join(', ')}) [--docker-mediatypes] [--trust-diffids] [--registry-concurrency N] [--json]`;

export const IMAGE_HELP = `${USAGE}

Turns a cached result (a record's, a layer entry's or a chain's) into a runnable image of exactly
that chain's layers, as moby's image exporter writes it: an OCI layout folder, a docker-archive
tarball (docker load), or a push to a registry.

  --record N | --layer N | --chain DIGEST
                            the result to export
  --dest DEST               DIR[:tag], docker-archive:FILE or HOST/REPO[:tag]
  --name a,b                image names, parsed as docker does (alpine → docker.io/library/alpine:latest);
                            a folder gets an index.json entry per name (io.containerd.image.name = the
                            name, org.opencontainers.image.ref.name = its tag) beside DIR:tag, replacing
                            that name's old entry; a docker-archive lists them in RepoTags; a registry
                            pushes the manifest to each name too (blobs mounted from --dest's repository),
                            and a name on another registry, or pinned to a digest, is refused first
  --platform os/arch        the platform of an empty config, or the one picked from an index --config;
                            once only, and a config that says another is refused (platform given twice)
  --config FILE|IMAGE       the image config: a file, a layout DIR[:tag|@sha256:…] or HOST/REPO:TAG
  --inline-cache            write moby.buildkit.cache.v0 into the config
  --opt key=value           ${IMAGE_LAYER_ATTRS.join(', ')}
  --docker-mediatypes       Docker media types instead of OCI (as --opt oci-mediatypes=false)
  --trust-diffids           take the layers' containerd.io/uncompressed annotations as diff_ids
${REGISTRY_CONCURRENCY_HELP}
  --json                    print the exporter's keys as one JSON object

Progress (stderr, or {"progress": …} lines before the result with --json) follows the exporter:
exporting layers, writing image sha256:…, pushing layers and pushing manifest for REF@sha256:…
(a registry; again per --name), then naming to NAME per --name. The result: containerimage.config.digest,
containerimage.digest and image.name.`;

function bad(message: string): never {
  throw new CacheError('bad-request', `${USAGE} (${message})`);
}

/** The CLI's `--dest`: parsed by the engine's rule, a registry given the process's client. */
export function parseDestination(text: string): ImageDestination {
  let spec;
  try {
    spec = parseImageDestination(text);
  } catch (err) {
    bad(`--dest: ${(err as Error).message}`);
  }
  if (spec.kind !== 'registry') return spec;
  return { kind: 'registry', reference: spec.reference, client: defaultRegistryAccess().client(spec.reference.registry, spec.insecure) };
}

export async function imageCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, IMAGE_HELP);
  // Before --dest is parsed: a registry destination takes its client from the process's access.
  const { concurrency, rest: args } = takeRegistryConcurrency(argv);
  if (concurrency !== undefined) setDefaultRegistryConcurrency(concurrency);
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
  const attrs: [string, string][] = [];
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
    else if (a === '--opt' || a.startsWith('--opt=')) {
      const kv = a === '--opt' ? value(++i, a) : a.slice('--opt='.length);
      const eq = kv.indexOf('=');
      // BuildKit's csv attrs allow a bare key for force-compression (empty value means true).
      attrs.push(eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)]);
    }
    else if (a === '--record' || a === '--layer') {
      const v = value(++i, a);
      if (!/^\d+$/.test(v)) bad(`${a} needs a number`);
      select({ kind: a === '--record' ? 'record' : 'layer', index: Number(v) });
    } else if (a === '--chain') {
      const v = value(++i, a);
      if (!isDigest(v)) bad(`--chain needs a blob digest (sha256:…), got ${JSON.stringify(v)}`);
      select({ kind: 'chain', digest: v });
    } else if (a === '--dest') {
      // One image goes to one place: a second --dest is a mistake, not an override.
      if (dest) bad(`--dest given twice: an image export writes to one destination (got ${JSON.stringify(value(i + 1, a))} after another)`);
      dest = parseDestination(value(++i, a));
    }
    else if (a === '--name') names = [...names, ...parseImageNames(value(++i, a).replace(/^name=/, ''))];
    else if (a === '--platform') {
      if (platform) throw new CacheError('bad-request', 'platform given twice: --platform may be given once (an image export has one platform)', { field: 'platform' });
      platform = parsePlatform(value(++i, a));
    } else if (a === '--config') {
      if (configFile !== null) bad(`--config given twice: an image starts from one config (got ${JSON.stringify(value(i + 1, a))} after ${JSON.stringify(configFile)})`);
      configFile = value(++i, a);
    }
    else if (a.startsWith('-')) bad(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) bad(`expected 1 source, got ${positional.length}`);
  if (!selection) bad('give one of --record N, --layer N and --chain DIGEST');
  if (!dest) bad('--dest is required');
  for (const [key] of attrs) if (!(IMAGE_LAYER_ATTRS as readonly string[]).includes(key)) bad(`--opt ${key} does not apply to an image export (it takes ${IMAGE_LAYER_ATTRS.join(', ')})`);
  const layerOptions = parseExportAttrs(attrs);
  if (!oci) layerOptions['oci-mediatypes'] = false;
  // Bad option values fail before the source is opened.
  resolveImageLayers(layerOptions);
  let opened: OpenedSource | null = null;
  let result: ImageExportResult;
  try {
    opened = await openCacheSource(positional[0]);
    result = await exportImage(opened, {
      selection,
      destination: dest,
      names,
      platform,
      config: configFile ? await configSourceOf(configFile) : null,
      inlineCache,
      layerOptions,
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
    const converted = result.layers.filter((l) => l.converted).length;
    io.out(`${result.chain.length} layers${converted ? ` (${converted} converted)` : ''}, config from ${result.configOrigin}${inlineCache ? `, ${result.inlineRecords} inline-cache records` : ''}`);
  }
  return 0;
}
