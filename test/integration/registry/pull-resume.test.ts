/**
 * A killed pull resumes: `cachescope export <registry ref> DIR` is SIGKILLed while a layer download
 * stalls mid-body (the proxy's stall fault), then run again. The second run completes, and the
 * proxy shows the interrupted blob asked for again with `Range` from where the partial file ends,
 * not from 0. Nothing unverified is in the target or the blob cache at any point.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';
import { CLI, runCli } from '../export/cli-process';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-uncompressed');

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;

before(async () => {
  registry = await startRegistry();
  proxy = await startProxy(registry);
  work = await mkdtemp(join(tmpdir(), 'cachescope-pull-resume-'));
  await pushFixture(registry, FIXTURE, 'pull/resume:cache');
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Polls (bounded) until `check` holds; fails with `what` otherwise. Not a timing assertion: it only waits. */
async function until(check: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  for (const end = Date.now() + limitMs; Date.now() < end; await sleep(20)) if (check()) return;
  assert.fail(`gave up waiting: ${what}`);
}

it('a pull killed mid-download resumes with Range from the partial file on the next run', async () => {
  const biggest = [...(layoutManifest(FIXTURE).json.layers as { digest: string; size: number }[])].sort((a, b) => b.size - a.size)[0];
  const cut = 3000;
  assert.ok(biggest.size > cut * 2);
  const env = { CACHESCOPE_CACHE_DIR: join(work, 'cache'), XDG_CACHE_HOME: join(work, 'xdg') };
  const partial = join(work, 'cache', 'blobs', 'ingest', `sha256-${biggest.digest.slice('sha256:'.length)}.partial`);
  const dest = join(work, 'out');
  const source = `${proxy.host}/pull/resume:cache`;

  // The biggest layer sends `cut` bytes, then stalls long enough to be killed in the middle.
  proxy.setFaults([{ method: 'GET', path: biggest.digest, fault: { kind: 'stall', ms: 8_000, afterBytes: cut } }]);
  const child = spawn(process.execPath, [CLI, 'export', source, dest, '--json'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
  await until(() => existsSync(partial) && statSync(partial).size >= cut, `${partial} to hold ${cut} bytes (stderr: ${stderr})`);
  process.kill(child.pid!, 'SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  // Killed: no tag, and whatever reached the target or the cache is verified.
  assert.equal(existsSync(join(dest, 'index.json')) ? await taggedManifest(dest) : null, null);
  await assertAllBlobsVerified(dest);
  assert.ok(!(await assertAllBlobsVerified(join(work, 'cache', 'blobs'))).includes(biggest.digest));
  const kept = statSync(partial).size;
  assert.ok(kept >= cut && kept < biggest.size);

  proxy.setFaults(undefined);
  proxy.clear();
  const again = await runCli(['export', source, dest, '--json'], env);
  assert.equal(again.code, 0, again.stderr);
  const gets = proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(biggest.digest));
  assert.equal(gets.length, 1, JSON.stringify(gets.map((g) => g.range)));
  assert.equal(gets[0].range, `bytes=${kept}-`, 'resumed from the partial file, not from 0');
  assert.equal(gets[0].bytesOut, biggest.size - kept, 'only the missing bytes crossed the wire');

  const events = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; layers?: { blob: string; state: string; resumedFrom?: number; origin?: string }[] });
  const lastProgress = events.filter((e) => e.event === 'exportProgress').at(-1)!;
  const layer = lastProgress.layers!.find((l) => l.blob === biggest.digest)!;
  assert.equal(layer.state, 'done');
  assert.equal(layer.origin, 'downloaded');
  assert.equal(layer.resumedFrom, kept);
  assert.ok(await taggedManifest(dest));
  const inTarget = await assertAllBlobsVerified(dest);
  assert.ok(inTarget.includes(biggest.digest));
  await assertAllBlobsVerified(join(work, 'cache', 'blobs'));
  assert.equal(existsSync(partial), false, 'the partial file became the blob');
});
