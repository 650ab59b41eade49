/** `cachescope`: the headless command on the same engine as the app. */
import { toContractError } from '../../shared/contract/errors';
import { processIo } from './io';
import type { CommandIo } from './io';

const USAGE = `usage: cachescope <command> [options]

commands:
  inspect <source> [--json]                      show a cache: form, digests, counts, layers, records
  verify <source> [--referenced-only] [--json]   hash every blob in the folder (other generations' and
                                                 orphans too, named as such); non-zero exit on corruption
  export <source> <dest-dir>[:tag] [--opt k=v]… [--json]
                                                 export like BuildKit's local cache exporter
  diff <A> <B> [--json]                          compare two caches; exit 0 same, 1 different, 2 error
  gc <dir> [--dry-run] [--no-index] [--json]     delete blobs no index.json entry reaches and no
                                                 running export holds (gc --help for more)
  serve [source] [--port N]                      browser mode on 127.0.0.1

sources: DIR, DIR:tag, DIR@sha256:…, a cache config or manifest file, an image config with inline cache`;

type Command = (args: string[], io: CommandIo) => Promise<number>;

/** Each command's module is loaded on first use: `--help` and one command never parse the others (the built CLI keeps them in separate chunks). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect-command')).inspectCommand,
  serve: async () => (await import('./serve-command')).serveCommand,
  verify: async () => (await import('./verify-command')).verifyCommand,
  gc: async () => (await import('./gc-command')).gcCommand,
  diff: async () => (await import('./diff-command')).diffCommand,
  export: async () => (await import('./export-command')).exportCommand,
};

export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.err(`cachescope: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  const json = rest.includes('--json');
  try {
    return await (await load())(rest, io);
  } catch (err) {
    const e = toContractError(err);
    if (json) io.out(JSON.stringify({ error: e }));
    io.err(`cachescope ${name}: ${e.message}`);
    if (e.code === 'internal' && process.env.CACHESCOPE_DEBUG && err instanceof Error) io.err(err.stack ?? '');
    return name === 'diff' ? 2 : 1;
  }
}
