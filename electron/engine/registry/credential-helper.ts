/**
 * Running docker credential helpers (`docker-credential-<name> get|store|erase`), the protocol of
 * docker/docker-credential-helpers: the request on stdin (a server URL, or JSON for `store`), the
 * answer as JSON on stdout, and errors as text on stdout with a non-zero exit. A real process, found
 * on PATH exactly as docker finds it.
 */
import { spawn } from 'node:child_process';
import { CacheError } from '../../../shared/contract/errors';
import { registerSecret, scrub } from './registry-error';
import { abortError } from './retry';

/** What every helper prints when it has nothing for that server. */
export const CREDENTIALS_NOT_FOUND = 'credentials not found in native keychain';

export interface HelperCredentials {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

export interface HelperRunOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Helpers may show a prompt (desktop keychains); give up after this long (default 60 s). */
  timeoutMs?: number;
}

interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runHelper(name: string, action: string, input: string, options: HelperRunOptions): Promise<HelperResult> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(abortError(options.signal));
    const child = spawn(program, [action], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.name === 'AbortError') return reject(abortError(options.signal));
      if (e.code === 'ENOENT') {
        return reject(new CacheError('io', `credential helper ${program} was not found on PATH (named in the docker config)`, { helper: program }));
      }
      reject(new CacheError('io', `cannot run credential helper ${program}: ${e.code ?? e.message}`, { helper: program }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => undefined); // a helper that exits without reading stdin is judged by its exit code
    child.stdin.end(input);
  });
}

function helperFailure(name: string, action: string, serverUrl: string, result: HelperResult): CacheError {
  const text = scrub((result.stdout.trim() || result.stderr.trim()).slice(0, 500));
  return new CacheError('io', `credential helper docker-credential-${name} ${action} for ${serverUrl} failed (exit ${result.code})${text ? `: ${text}` : ''}`, {
    helper: `docker-credential-${name}`,
    server: serverUrl,
  });
}

/** `get`: the helper's credentials for `serverUrl`, or null when it has none. */
export async function helperGet(name: string, serverUrl: string, options: HelperRunOptions = {}): Promise<HelperCredentials | null> {
  const result = await runHelper(name, 'get', serverUrl, options);
  if (result.code !== 0) {
    if (result.stdout.trim() === CREDENTIALS_NOT_FOUND || result.stderr.trim() === CREDENTIALS_NOT_FOUND) return null;
    throw helperFailure(name, 'get', serverUrl, result);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new CacheError('invalid-json', `credential helper docker-credential-${name} get for ${serverUrl}: output is not JSON`, { helper: `docker-credential-${name}`, field: 'stdout' });
  }
  const creds = parsed as Partial<HelperCredentials>;
  if (!creds || typeof creds !== 'object' || typeof creds.Secret !== 'string') {
    throw new CacheError('invalid-json', `credential helper docker-credential-${name} get for ${serverUrl}: output has no string "Secret"`, { helper: `docker-credential-${name}`, field: 'Secret' });
  }
  registerSecret(creds.Secret);
  return { ServerURL: typeof creds.ServerURL === 'string' ? creds.ServerURL : serverUrl, Username: typeof creds.Username === 'string' ? creds.Username : '', Secret: creds.Secret };
}

/** `store`: hands the credentials to the helper (JSON on stdin). */
export async function helperStore(name: string, creds: HelperCredentials, options: HelperRunOptions = {}): Promise<void> {
  registerSecret(creds.Secret);
  const result = await runHelper(name, 'store', JSON.stringify(creds), options);
  if (result.code !== 0) throw helperFailure(name, 'store', creds.ServerURL ?? '', result);
}

/** `erase`: removes the helper's credentials for `serverUrl`; "not found" counts as done. */
export async function helperErase(name: string, serverUrl: string, options: HelperRunOptions = {}): Promise<void> {
  const result = await runHelper(name, 'erase', serverUrl, options);
  if (result.code !== 0 && result.stdout.trim() !== CREDENTIALS_NOT_FOUND) throw helperFailure(name, 'erase', serverUrl, result);
}
