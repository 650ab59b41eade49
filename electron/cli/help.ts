/** `--help` / `-h` on any command: its usage on stdout and exit 0, before any other argument is judged. */
import type { CommandIo } from './io';

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** Prints `usage` as the answer to `--help`; the command returns what this returns. */
export function printHelp(io: CommandIo, usage: string): number {
  io.out(usage);
  return 0;
}
