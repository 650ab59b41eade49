/** `cachescope gc <dir> [--dry-run] [--json]`: delete blobs no index.json entry reaches, under the layout lock. */
import { collectGarbage } from '../engine/gc';
import { formatBytes } from './format';
import type { CommandIo } from './io';

export async function gcCommand(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const dryRun = args.includes('--dry-run');
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--json' && a !== '--dry-run');
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1 || unknown.length > 0) {
    io.err(`usage: cachescope gc <dir> [--dry-run] [--json]${unknown.length ? ` (unknown option ${unknown[0]})` : ''}`);
    return 2;
  }
  const report = await collectGarbage(positional[0], { dryRun });
  if (json) io.out(JSON.stringify(report));
  else {
    for (const d of report.deleted) io.out(`${dryRun ? 'would delete' : 'deleted'} ${d.digest} (${formatBytes(d.size)})`);
    io.out(`${dryRun ? 'would reclaim' : 'reclaimed'} ${report.blobs} blobs, ${report.bytes} bytes (${formatBytes(report.bytes)})`);
  }
  return 0;
}
