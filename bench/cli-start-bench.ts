/**
 * CLI start: `cachescope inspect <fixture> --json` run directly (node bin/cachescope.mjs, no npx) with
 * the built CLI (dist/cli), against `node -e 0` on the same machine. Runs alternate, so load on the
 * machine hits both alike; the median of each is compared. Target: inspect --json within 150 ms.
 * Also printed: `--help`, and the same inspect from the sources through tsx (what runs while a
 * checkout's sources are newer than the bundle). Prints numbers; asserts nothing.
 * Run: `npm run bench cli-start` (or `node --import tsx bench/cli-start-bench.ts`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'cachescope.mjs');
const RUNS = Number(process.env.CLI_BENCH_RUNS ?? 21);
const TARGET_MS = 150;

const shared = process.env.CACHESCOPE_FIXTURES ?? join(ROOT, '..', 'shared', 'fixtures');
const FIXTURE = existsSync(join(shared, 'buildkit-v0.24-mixed-gzip-zstd')) ? join(shared, 'buildkit-v0.24-mixed-gzip-zstd') : join(ROOT, 'assets', 'demo-cache');

function timeRun(args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// The bench measures the built CLI: build it (it takes well under a second) so it is never stale.
const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), 'cli'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) throw new Error('building the CLI failed');

const inspect = [BIN, 'inspect', FIXTURE, '--json'];
// `built`: the bundle just built, even if a source is touched meanwhile (the sources' fallback is measured apart).
const bundled = { ...process.env, CACHESCOPE_CLI: 'built' };
const fromSource = { ...process.env, CACHESCOPE_CLI: 'source' };
// Warm the file cache and the compile cache once each.
timeRun(['-e', '0']);
timeRun(inspect, bundled);
timeRun(inspect, fromSource);

const base: number[] = [];
const cli: number[] = [];
const help: number[] = [];
for (let i = 0; i < RUNS; i++) {
  base.push(timeRun(['-e', '0']));
  cli.push(timeRun(inspect, bundled));
  help.push(timeRun([BIN, '--help'], bundled));
}
const tsx: number[] = [];
for (let i = 0; i < Math.min(RUNS, 7); i++) tsx.push(timeRun(inspect, fromSource));

const b = median(base);
const c = median(cli);
const verdict = c <= TARGET_MS ? 'ok' : 'MISSED';
console.log(
  `cli start: inspect --json ${c.toFixed(0)} ms vs node -e 0 ${b.toFixed(0)} ms: +${(c - b).toFixed(0)} ms, ${(c / b).toFixed(2)}× (target ${TARGET_MS} ms) ${verdict}  [built dist/cli, run directly; median of ${RUNS}]`,
);
console.log(`  --help ${median(help).toFixed(0)} ms; the same inspect from the sources through tsx ${median(tsx).toFixed(0)} ms [median of ${tsx.length}]; fixture ${FIXTURE}`);
