/**
 * `cachescope tags <registry/repo> [--json]`: every tag of a repository with its cache form, media
 * types, total and unique bytes, newest `buildkit/createdat` and manifest digest; tags sharing one
 * manifest are named. `--delete TAG [--force]` deletes a tag's manifest, refusing a shared one
 * unless forced; the registry's own refusal (405 UNSUPPORTED) is printed verbatim.
 */
import { CacheError } from '../../shared/contract/errors';
import type { RegistryTagRow } from '../../shared/contract/requests';
import { shortDigest } from '../../shared/oci/digest';
import { RegistryClient } from '../engine/registry/client';
import { registryConcurrencyFromEnv } from '../engine/registry/concurrency-setting';
import { deleteRegistryTag, listRegistryTags } from '../engine/sources/registry-tags';
import { formatBytes, table } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';
import { REGISTRY_CONCURRENCY_HELP, takeRegistryConcurrency } from './registry-concurrency-option';

export const TAGS_USAGE = `usage: cachescope tags <registry/repo> [--json] [--concurrency N] [--registry-concurrency N]
       cachescope tags <registry/repo> --delete TAG [--force] [--json] [--registry-concurrency N]

Lists every tag (following Link pagination) with: FORM (index, image-manifest, legacy-index, image,
image-index), KIND (cache, inline = image with inline cache, neither), media types (OCI/Docker and
layer compressions), TOTAL bytes (manifest, config and every distinct blob) and UNIQUE bytes (blobs
no other listed tag references), the newest buildkit/createdat, and the manifest digest.
--delete deletes the manifest the tag points at (every tag on it goes with it); a manifest other
tags share is refused unless --force.

  --concurrency N           tags read at once (1 to 64, default 4); their requests still share the
                            per-host limit below
${REGISTRY_CONCURRENCY_HELP}`;

const FORM_LABEL: Record<string, string> = { index: 'index', 'image-manifest': 'image-manifest', 'legacy-index': 'legacy-index', image: 'image', 'image-index': 'image-index', other: 'other' };

function types(row: RegistryTagRow): string {
  if (!row.family) return '-';
  const family = row.family === 'oci' ? 'OCI' : row.family === 'docker' ? 'Docker' : 'mixed';
  return row.compressions.length > 0 ? `${family} ${row.compressions.join('+')}` : family;
}

function render(repository: string, rows: RegistryTagRow[]): string {
  if (rows.length === 0) return `${repository}: no tags`;
  const head = ['TAG', 'FORM', 'KIND', 'TYPES', 'LAYERS', 'TOTAL', 'UNIQUE', 'CREATED', 'DIGEST'];
  const body = rows.map((r) => [
    r.tag,
    r.form ? FORM_LABEL[r.form] : '-',
    r.kind ?? '-',
    types(r),
    r.digest ? String(r.layerCount) : '-',
    r.digest ? formatBytes(r.totalBytes) : '-',
    r.digest ? formatBytes(r.uniqueBytes) : '-',
    r.createdAt ?? '-',
    r.digest ? shortDigest(r.digest) : '-',
  ]);
  const notes: string[] = [];
  for (const r of rows) {
    if (r.sharedWith.length > 0) notes.push(`${r.tag}: same manifest as ${r.sharedWith.join(', ')}`);
    if (r.error) notes.push(`${r.tag}: ${r.error}`);
  }
  return [`${repository}: ${rows.length} tag${rows.length === 1 ? '' : 's'}`, table([head, ...body]), ...notes].join('\n');
}

function optionValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new CacheError('bad-request', `${name} needs a value\n${TAGS_USAGE}`);
  return value;
}

export async function tagsCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, TAGS_USAGE);
  const { concurrency: perHost, rest: args } = takeRegistryConcurrency(argv);
  const json = args.includes('--json');
  const force = args.includes('--force');
  const deleteTag = optionValue(args, '--delete');
  const concurrencyText = optionValue(args, '--concurrency');
  const valued = new Set(['--delete', '--concurrency']);
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (valued.has(a)) i++;
    else if (a.startsWith('--')) {
      if (a !== '--json' && a !== '--force') throw new CacheError('bad-request', `unknown option ${a}\n${TAGS_USAGE}`);
    } else positional.push(a);
  }
  if (positional.length !== 1) {
    io.err(TAGS_USAGE);
    return 2;
  }
  if (force && deleteTag === undefined) throw new CacheError('bad-request', `--force goes with --delete TAG\n${TAGS_USAGE}`);
  const concurrency = concurrencyText === undefined ? undefined : Number(concurrencyText);
  if (concurrency !== undefined && (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 64)) {
    throw new CacheError('bad-request', `--concurrency must be an integer from 1 to 64, not ${JSON.stringify(concurrencyText)}`);
  }
  const client = new RegistryClient({ concurrency: perHost ?? registryConcurrencyFromEnv() });
  try {
    if (deleteTag !== undefined) {
      const result = await deleteRegistryTag(client, positional[0], deleteTag, { force, concurrency });
      if (json) io.out(JSON.stringify(result));
      else {
        const others = result.removedTags.filter((t) => t !== deleteTag);
        io.out(`deleted manifest ${result.digest} (tag ${deleteTag}${others.length > 0 ? `, and with it ${others.join(', ')}` : ''})`);
      }
      return 0;
    }
    const result = await listRegistryTags(client, positional[0], { concurrency });
    io.out(json ? JSON.stringify(result) : render(result.repository, result.rows));
    return 0;
  } finally {
    client.close();
  }
}
