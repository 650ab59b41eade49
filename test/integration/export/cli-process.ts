/** Real `cachescope export` processes for the integration tests, and a stat snapshot of a folder tree. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO } from '../../helpers/fixtures';

export const CLI = join(REPO, 'bin', 'cachescope.mjs');

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end with `env` added to this process's environment. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last `--json` line of an export: `exportFinished` with the result. */
export function finished(out: CliOutcome): { ok: boolean; result: { bytesRead: number; counts: Record<string, number>; descriptor: { digest: string } | null } } {
  const last = out.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as ReturnType<typeof finished>;
}

export interface Entry {
  kind: 'dir' | 'file' | 'other';
  size: number;
  mode: number;
  ino: bigint;
  nlink: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  sha256: string | null;
}

/** Every path under `root` (root itself as '.') with its stat and, for files, the sha256 of its bytes. */
export async function snapshot(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path, { bigint: true });
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    const sha256 = kind === 'file' ? createHash('sha256').update(await readFile(path)).digest('hex') : null;
    out.set(relative(root, path) || '.', { kind, size: Number(st.size), mode: Number(st.mode), ino: st.ino, nlink: st.nlink, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, sha256 });
    if (kind === 'dir') for (const name of (await readdir(path)).sort()) await visit(join(path, name));
  };
  await visit(root);
  return out;
}
