/**
 * `cachescope gc <dir> [--dry-run] [--no-index] [--json]`: delete blobs that no index.json entry
 * reaches and no running export holds (a lease), under the layout lock, plus the ingest files and
 * labels that dead exports and deleted blobs left behind.
 */
import { collectGarbage } from '../engine/store/gc';
import { formatBytes } from './format';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

export const GC_USAGE = `usage: cachescope gc <dir> [--dry-run] [--no-index] [--json]

Deletes the blobs of <dir> that no index.json entry reaches (what BuildKit's reset=true deletes).
Blobs a running export holds in a lease are kept; leases of exports that are no longer running
expire. Every reachable manifest is validated as inspect validates it; if one is invalid, gc
refuses and deletes nothing. Also removes ingest/ files of exports that are gone and labels of
blobs that are gone.

  --dry-run   report what would be deleted; write nothing (works on read-only folders)
  --no-index  the folder has blobs/ but no index.json (a first export that failed before tagging):
              treat every blob no running export holds as garbage. Without it gc refuses such a folder.
  --json      print the report as one JSON object`;

const FLAGS = new Set(['--json', '--dry-run', '--no-index']);

export async function gcCommand(args: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(args)) return printHelp(io, GC_USAGE);
  const json = args.includes('--json');
  const dryRun = args.includes('--dry-run');
  const noIndex = args.includes('--no-index');
  const unknown = args.filter((a) => a.startsWith('-') && !FLAGS.has(a));
  const positional = args.filter((a) => !a.startsWith('-'));
  if (positional.length !== 1 || unknown.length > 0) {
    io.err(`${GC_USAGE.split('\n')[0]}${unknown.length ? ` (unknown option ${unknown[0]})` : ''}`);
    return 2;
  }
  const report = await collectGarbage(positional[0], { dryRun, noIndex });
  if (json) {
    io.out(JSON.stringify(report));
    return 0;
  }
  const verb = dryRun ? 'would delete' : 'deleted';
  for (const d of report.deleted) io.out(`${verb} ${d.digest} (${formatBytes(d.size)})`);
  if (report.leased.length > 0) {
    const bytes = report.leased.reduce((a, b) => a + b.size, 0);
    io.out(`kept ${report.leased.length} unreferenced blob(s) (${formatBytes(bytes)}) held by ${report.leases.live} running export(s)`);
  }
  if (report.ingest.length > 0) io.out(`${verb} ${report.ingest.length} ingest file(s) left by exports that are gone`);
  if (report.labels > 0) io.out(`${dryRun ? 'would drop' : 'dropped'} ${report.labels} label(s) of blobs that are gone`);
  if (report.leases.expired > 0) io.out(`${dryRun ? 'found' : 'removed'} ${report.leases.expired} expired lease(s) of exports that are no longer running`);
  io.out(`${dryRun ? 'would reclaim' : 'reclaimed'} ${report.blobs} blobs, ${report.bytes} bytes (${formatBytes(report.bytes)})`);
  return 0;
}
