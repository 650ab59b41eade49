/** `cachescope`: the headless command on the same engine as the app. */
import { toContractError } from '../../shared/contract/errors';
import { processIo } from './io';
import type { CommandIo } from './io';

const USAGE = `usage: cachescope <command> [options]

commands:
  inspect <source> [--image REF]… [--json]       show a cache: form, digests, counts, layers, records;
                                                 --image names records from an image's history (a layout
                                                 DIR[:tag], a config.json or HOST/REPO:TAG of the same build)
  verify <source> [--referenced-only] [--shallow] [--json]
                                                 hash every blob in the folder (other generations' and
                                                 orphans too, named as such); non-zero exit on corruption;
                                                 a registry cache: every blob it references, downloaded
                                                 into the blob cache; --shallow: existence only (a stat,
                                                 or a HEAD in a registry), reads no blob
  export <source> <dest-dir>[:tag] | HOST/REPO[:tag] [--opt k=v]… [--json]
                                                 export like BuildKit's local cache exporter, or push
                                                 to a registry
  diff <A> <B> [--files [--content]] [--json]   compare two caches; exit 0 same, 1 different, 2 error;
                                                 --files names the files that differ at each miss (reads
                                                 blobs); --content compares equal-sized files' contents
       [--image REF]…                            --image names the records in the explanations (as inspect)
  files <source> (--layer N | --record N) [--squash] [--changes] [--json]
                                                 list the files in a layer, a chain's squashed tree and
                                                 its wasted bytes, or a layer's changes (reads blobs)
  image <source> (--record N | --layer N | --chain DIGEST) --dest <dir[:tag] | docker-archive:FILE | HOST/REPO[:tag]>
        [--name a,b] [--platform os/arch[/variant]] [--config FILE|IMAGE] [--inline-cache] [--opt k=v]… [--json]
                                                 a cached result as a runnable image (moby's exporter)
  gc <dir> [--dry-run] [--no-index] [--json]     delete blobs no index.json entry reaches and no
                                                 running export holds (gc --help for more)
  serve [source] [--port N]                      browser mode on 127.0.0.1
  tags <registry/repo> [--json]                  list a repository's tags: form, media types, bytes,
                                                 newest date, shared manifests (tags --help for more)
  tags <registry/repo> --delete TAG [--force]    delete a tag's manifest (refuses a shared one)
  login <registry> [-u USER] [--password-stdin]  check and store credentials as docker login does
  logout <registry>                              remove them

every command: --help (-h) prints its own usage. export, verify, tags and image take
  --registry-concurrency N (requests in flight per registry host, 1 to 64; default 4, or the
  environment variable CACHESCOPE_REGISTRY_CONCURRENCY, which the app reads too)

sources: DIR, DIR:tag, DIR@sha256:…, a cache config or manifest file, an image config with inline cache,
  type=local,src=DIR[,tag=T], a registry: HOST[:PORT]/REPO[:TAG|@sha256:…] (the first component must
  have a "." or ":" or be localhost), type=registry,ref=REF[,registry.insecure=true], or
  docker-image://REF (an image's inline cache). A path that exists locally always wins and is never
  sent to a network; a string that is neither is an error naming both readings.`;

type Command = (args: string[], io: CommandIo) => Promise<number>;

/** Each command's module is loaded on first use: `--help` and one command never parse the others (the built CLI keeps them in separate chunks). */
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect-command')).inspectCommand,
  serve: async () => (await import('./serve-command')).serveCommand,
  verify: async () => (await import('./verify-command')).verifyCommand,
  gc: async () => (await import('./gc-command')).gcCommand,
  diff: async () => (await import('./diff-command')).diffCommand,
  files: async () => (await import('./files-command')).filesCommand,
  export: async () => (await import('./export-command')).exportCommand,
  image: async () => (await import('./image-command')).imageCommand,
  tags: async () => (await import('./tags-command')).tagsCommand,
  login: async () => (await import('./login-command')).loginCommand,
  logout: async () => (await import('./login-command')).logoutCommand,
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
