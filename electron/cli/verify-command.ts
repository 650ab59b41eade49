/** `cachescope verify <source> [--json]`: non-zero exit on any corruption. */
import { openCacheSource } from '../engine/open-cache';
import { verifyOpened } from '../engine/verify-opened';
import type { CommandIo } from './io';

export async function verifyCommand(args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const positional = args.filter((a) => !a.startsWith('--'));
  if (positional.length !== 1) {
    io.err('usage: cachescope verify <source> [--json]');
    return 2;
  }
  const report = await verifyOpened(await openCacheSource(positional[0]));
  if (json) io.out(JSON.stringify(report));
  else {
    io.out(`checked ${report.checked} blobs (${report.bytes} bytes)`);
    if (report.missing.length > 0) io.out(`missing ${report.missing.length} blobs:\n${report.missing.map((d) => `  ${d}`).join('\n')}`);
    for (const p of report.problems) io.out(`${p.kind}: ${p.digest}: ${p.message}`);
    io.out(report.problems.length === 0 ? 'no corruption found' : `${report.problems.length} corrupt blob(s)`);
  }
  return report.problems.length === 0 ? 0 : 1;
}
