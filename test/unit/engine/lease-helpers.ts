/** Lease holders as real processes, for the lease, gc and store integration tests. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..');

/** Starts lease-holder.ts in its own process and resolves once its lease is on disk. */
export async function startHolder(dir: string, digests: string[]): Promise<{ child: ChildProcess; file: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'lease-holder.ts'), dir, ...digests], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const file = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`lease holder exited early (${code})`)));
  });
  return { child, file };
}

export function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

