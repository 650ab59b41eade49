/** Child processes and temp dirs the harness starts: tracked so they are killed by PID, even when a test crashes. */
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// PIDs of process-group leaders (spawned detached): killing -pid also ends their children, e.g. nginx's workers.
const liveGroups = new Set<number>();
const livePids = new Set<number>();
const liveDirs = new Set<string>();
let hooked = false;

// A safety net only: tests stop what they start in `after`, but a crashed test must not leave registries behind.
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const cleanUp = () => {
    for (const pid of [...liveGroups].map((p) => -p).concat([...livePids])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    liveGroups.clear();
    livePids.clear();
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
    liveDirs.clear();
  };
  process.on('exit', cleanUp);
  // The test runner stops a timed-out file with a signal, which skips 'exit': clean up, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.kill(process.pid, signal);
    });
  }
}

/** A fresh temp dir, removed on exit unless released with `removeTempDir`. */
export function makeTempDir(prefix: string): string {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), `cachescope-${prefix}-`));
  liveDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string, keep = false): void {
  liveDirs.delete(dir);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

export interface TrackedProcess {
  pid: number;
  /** Resolves with the exit code (or null when killed by a signal). */
  exited: Promise<number | null>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `command` with stdout and stderr appended to `logFile`, and tracks its PID. */
export function spawnTracked(command: string, args: string[], logFile: string, options: SpawnOptions = {}): TrackedProcess {
  hookExit();
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { ...options, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}: see ${logFile}`);
  const pid = child.pid;
  liveGroups.add(pid);
  let done = false;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone
    }
  };
  const exited = new Promise<number | null>((resolve) => {
    const finish = (code: number | null) => {
      done = true;
      // The leader is gone; end anything it left in its group (nginx workers after a SIGKILL).
      signalGroup('SIGKILL');
      liveGroups.delete(pid);
      resolve(code);
    };
    child.on('exit', finish);
    child.on('error', () => finish(null));
  });
  return {
    pid,
    exited,
    hasExited: () => done,
    async stop(graceMs = 3000) {
      if (done) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => {
        if (!done) signalGroup('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', input: options.input, env: options.env ?? process.env, cwd: options.cwd });
  if (r.error) throw new Error(`${command} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The same, asynchronously, so in-process servers (token server, proxy) keep answering while it runs. */
export function runAsync(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  hookExit();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) livePids.add(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new Error(`${command} could not run: ${err.message}`)));
    child.on('close', (status) => {
      if (child.pid !== undefined) livePids.delete(child.pid);
      resolve({ status, stdout, stderr });
    });
  });
}
