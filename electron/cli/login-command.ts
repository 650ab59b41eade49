/**
 * `cachescope login <registry> [-u USER] [--password-stdin]` and `cachescope logout <registry>`, as
 * `docker login`/`logout` do it: the credentials are proved against the registry first, then stored
 * through the configured credential helper (credHelpers / credsStore), else in config.json `auths`
 * (0600, written atomically). The password is never echoed, printed, or put in an error.
 */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CacheError } from '../../shared/contract/errors';
import type { CredentialSource } from '../engine/registry/credentials';
import { loginRegistry, logoutRegistry } from '../engine/registry/login';
import { registerSecret } from '../engine/registry/registry-error';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

export const LOGIN_USAGE = `usage: cachescope login <registry> [-u USER] [--password-stdin] [--json]
       cachescope logout <registry> [--json]

Credentials are checked against the registry, then stored where docker login stores them: the
credential helper named by credHelpers/credsStore in $DOCKER_CONFIG/config.json (~/.docker), else
its "auths". Without --password-stdin, asks on the terminal (nothing is echoed).`;

/** A command's io plus where a password comes from (tests give one; the process reads its stdin). */
export interface LoginIo extends CommandIo {
  readStdin?(): Promise<string>;
  /** Asks a question on the terminal; `hidden` answers are not echoed. */
  prompt?(question: string, hidden: boolean): Promise<string>;
}

async function readProcessStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A terminal question; a hidden answer's keystrokes are not echoed back. */
function terminalPrompt(question: string, hidden: boolean): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) process.stderr.write('\n');
      resolve(answer);
    });
    muted = hidden;
  });
}

function where(source: CredentialSource): string {
  if (source.kind === 'helper') return `docker-credential-${source.helper} (${source.setting} in ${source.file})`;
  if (source.kind === 'file') return source.file;
  return source.kind;
}

function take(args: string[], ...names: string[]): string | undefined {
  for (const name of names) {
    const i = args.indexOf(name);
    if (i < 0) continue;
    const value = args[i + 1];
    if (value === undefined || value.startsWith('-')) throw new CacheError('bad-request', `${name} needs a value\n${LOGIN_USAGE}`);
    args.splice(i, 2);
    return value;
  }
  return undefined;
}

export async function loginCommand(argv: string[], io: LoginIo): Promise<number> {
  const args = [...argv];
  if (wantsHelp(args)) return printHelp(io, LOGIN_USAGE);
  if (args.some((a) => a === '-p' || a === '--password' || a.startsWith('--password='))) {
    // A password on the command line lands in shell history and `ps`; docker warns, we refuse.
    throw new CacheError('bad-request', `a password on the command line is refused (it shows in ps and shell history): use --password-stdin\n${LOGIN_USAGE}`);
  }
  let username = take(args, '-u', '--username');
  const json = args.includes('--json');
  const fromStdin = args.includes('--password-stdin');
  const rest = args.filter((a) => a !== '--json' && a !== '--password-stdin');
  const unknown = rest.find((a) => a.startsWith('-'));
  if (unknown) throw new CacheError('bad-request', `unknown option ${unknown}\n${LOGIN_USAGE}`);
  if (rest.length !== 1) {
    io.err(LOGIN_USAGE);
    return 2;
  }
  const prompt = io.prompt ?? (process.stdin.isTTY ? terminalPrompt : undefined);
  let password: string;
  if (fromStdin) {
    if (!username) throw new CacheError('bad-request', `--password-stdin needs -u USER\n${LOGIN_USAGE}`);
    // As docker: one trailing newline (and a CR before it) is not part of the password.
    password = (await (io.readStdin ?? readProcessStdin)()).replace(/\r?\n$/, '');
  } else {
    if (!prompt) throw new CacheError('bad-request', `no terminal to ask for the password: use -u USER --password-stdin\n${LOGIN_USAGE}`);
    username ||= (await prompt('Username: ', false)).trim();
    password = await prompt('Password: ', true);
  }
  registerSecret(password);
  if (!username) throw new CacheError('bad-request', 'a user name is needed (-u USER)');
  if (!password) throw new CacheError('bad-request', 'the password is empty');
  const result = await loginRegistry(rest[0], username, password, {});
  if (json) io.out(JSON.stringify({ registry: result.registry, loggedInAs: result.loggedInAs, verified: result.verified, storedIn: result.storedIn }));
  else {
    io.out(`logged in to ${result.registry} as ${result.loggedInAs}${result.verified ? '' : ' (the registry asks for no credentials; stored anyway)'}`);
    io.out(`credentials stored in ${where(result.storedIn)}`);
  }
  return 0;
}

export async function logoutCommand(args: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(args)) return printHelp(io, LOGIN_USAGE);
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  const unknown = rest.find((a) => a.startsWith('-'));
  if (unknown) throw new CacheError('bad-request', `unknown option ${unknown}\n${LOGIN_USAGE}`);
  if (rest.length !== 1) {
    io.err(LOGIN_USAGE);
    return 2;
  }
  const result = await logoutRegistry(rest[0]);
  if (json) io.out(JSON.stringify(result));
  else io.out(result.loggedOut ? `removed login credentials for ${result.registry}` : `not logged in to ${result.registry}`);
  return 0;
}
