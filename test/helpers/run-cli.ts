/** Runs the real `cachescope` entry (bin/cachescope.mjs) as a user would, and gives back its exit code and output. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './fixtures';

const exec = promisify(execFile);

export const CLI_BIN = join(REPO, 'bin', 'cachescope.mjs');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A non-zero exit is an answer, not an error: it comes back as `code`. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CliRun> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI_BIN, ...args], { cwd: REPO, env: options.env, timeout: options.timeout ?? 0 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
