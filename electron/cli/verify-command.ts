/**
 * `cachescope verify <source> [--referenced-only] [--shallow] [--registry-concurrency N] [--json]`: hashes every blob in the folder
 * (a registry cache: every blob it references, streamed through the blob cache); non-zero exit on any
 * corruption. `--shallow` only checks that each referenced blob exists (HEAD in a registry).
 */
import { CacheError } from '../../shared/contract/errors';
import { openCacheSource } from '../engine/sources/open-cache';
import { setDefaultRegistryConcurrency } from '../engine/sources/registry-source';
import { verifyOpened } from '../engine/store/verify-opened';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';
import { REGISTRY_CONCURRENCY_HELP, takeRegistryConcurrency } from './registry-concurrency-option';

export const VERIFY_USAGE = 'usage: cachescope verify <source> [--referenced-only] [--shallow] [--registry-concurrency N] [--json]';
export const VERIFY_HELP = `${VERIFY_USAGE}

Hashes every blob in a layout folder, orphans and other generations' blobs included (named as such),
against its descriptor (digest, size, diffID) or its name. A registry cache: every blob it references,
downloaded through the per-user blob cache and checked. Exit 1 on corruption (and, for a registry
cache or --shallow, on a missing blob); absent blobs of a local committed cache are only listed.

  --referenced-only         hash only the blobs the opened cache references
  --shallow                 check existence only: a stat, or a HEAD per blob in a registry (reads nothing)
${REGISTRY_CONCURRENCY_HELP}
  --json                    print the report as one JSON object`;

const OPTIONS = new Set(['--json', '--referenced-only', '--shallow']);

const OWNER_LABEL = { source: '', other: " (not this cache's)", orphan: ' (orphan: no index.json entry reaches it)' } as const;

export async function verifyCommand(argv: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return printHelp(io, VERIFY_HELP);
  const { concurrency, rest: args } = takeRegistryConcurrency(argv);
  if (concurrency !== undefined) setDefaultRegistryConcurrency(concurrency);
  const json = args.includes('--json');
  const referencedOnly = args.includes('--referenced-only');
  const shallow = args.includes('--shallow');
  const unknown = args.find((a) => a.startsWith('--') && !OPTIONS.has(a));
  if (unknown) throw new CacheError('bad-request', `unknown option ${unknown}\n${VERIFY_USAGE}`);
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1) {
    io.err(VERIFY_USAGE);
    return 2;
  }
  const opened = await openCacheSource(positional[0]);
  const report = await verifyOpened(opened, { scope: referencedOnly ? 'source' : 'folder', shallow });
  if (json) io.out(JSON.stringify(shallow ? { ...report, shallow: true } : report));
  else if (shallow) {
    const where = opened.blobs.kind === 'registry' ? 'in the registry (HEAD only, nothing read)' : 'on disk (nothing read)';
    io.out(`found ${report.checked} of ${report.checked + report.missing.length} referenced blobs ${where}`);
    if (report.missing.length > 0) io.out(`missing ${report.missing.length} blobs:\n${report.missing.map((d) => `  ${d}`).join('\n')}`);
  } else {
    const orphans = report.orphans === null ? '' : `, ${report.orphans.length} orphan${report.orphans.length === 1 ? '' : 's'} among them`;
    const folder =
      report.scope === 'folder'
        ? `: every blob in the folder, ${report.others} not this cache's${orphans}`
        : opened.blobs.kind === 'registry'
          ? `: every blob this cache references, streamed from ${opened.blobs.location} through the blob cache`
          : ': only those this cache references';
    io.out(`checked ${report.checked} blobs (${report.bytes} bytes)${folder}`);
    if (report.missing.length > 0) io.out(`missing ${report.missing.length} blobs:\n${report.missing.map((d) => `  ${d}`).join('\n')}`);
    for (const p of report.problems) io.out(`${p.kind}: ${p.digest}${p.owner ? OWNER_LABEL[p.owner] : ''}: ${p.message}`);
    io.out(report.problems.length === 0 ? 'no corruption found' : `${report.problems.length} corrupt blob(s)`);
  }
  // A registry's missing blob makes the cache unusable (a local committed cache legitimately lacks some).
  if (shallow || opened.blobs.kind === 'registry') return report.ok ? 0 : 1;
  return report.problems.length === 0 ? 0 : 1;
}
