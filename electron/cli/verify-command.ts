/** `cachescope verify <source> [--referenced-only] [--json]`: hashes every blob in the folder; non-zero exit on any corruption. */
import { CacheError } from '../../shared/contract/errors';
import { openCacheSource } from '../engine/sources/open-cache';
import { verifyOpened } from '../engine/store/verify-opened';
import type { CommandIo } from './io';

export const VERIFY_USAGE = 'usage: cachescope verify <source> [--referenced-only] [--json]';

const OWNER_LABEL = { source: '', other: " (not this cache's)", orphan: ' (orphan: no index.json entry reaches it)' } as const;

export async function verifyCommand(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const referencedOnly = args.includes('--referenced-only');
  const unknown = args.find((a) => a.startsWith('--') && a !== '--json' && a !== '--referenced-only');
  if (unknown) throw new CacheError('bad-request', `unknown option ${unknown}\n${VERIFY_USAGE}`);
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1) {
    io.err(VERIFY_USAGE);
    return 2;
  }
  const report = await verifyOpened(await openCacheSource(positional[0]), { scope: referencedOnly ? 'source' : 'folder' });
  if (json) io.out(JSON.stringify(report));
  else {
    const orphans = report.orphans === null ? '' : `, ${report.orphans.length} orphan${report.orphans.length === 1 ? '' : 's'} among them`;
    const folder = report.scope === 'folder' ? `: every blob in the folder, ${report.others} not this cache's${orphans}` : ': only those this cache references';
    io.out(`checked ${report.checked} blobs (${report.bytes} bytes)${folder}`);
    if (report.missing.length > 0) io.out(`missing ${report.missing.length} blobs:\n${report.missing.map((d) => `  ${d}`).join('\n')}`);
    for (const p of report.problems) io.out(`${p.kind}: ${p.digest}${p.owner ? OWNER_LABEL[p.owner] : ''}: ${p.message}`);
    io.out(report.problems.length === 0 ? 'no corruption found' : `${report.problems.length} corrupt blob(s)`);
  }
  return report.problems.length === 0 ? 0 : 1;
}
