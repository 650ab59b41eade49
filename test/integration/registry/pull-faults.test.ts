/**
 * Pulls through a fault proxy: resets mid-blob, 500/503, 429 with Retry-After, truncated bodies and
 * stalls, 20 runs in a seeded random order, some faults passing (a few times) and some persistent.
 * Retry delays are injected (a clock that does not sleep), stalls end by a short idle timeout, so
 * nothing waits long. Every pull either completes with verified blobs or fails with a clear error
 * after bounded retries; after each run, every blob in the target and in the blob cache is verified
 * and a failed pull left no tag.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import { CacheError } from '../../../shared/contract/errors';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, Fault, RunningRegistry } from '../../helpers/registry/index';
import { assertAllBlobsVerified, taggedManifest } from './pull-helpers';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const RUNS = 20;
const MAX_RETRIES = 3;

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;

before(async () => {
  registry = await startRegistry();
  proxy = await startProxy(registry);
  work = await mkdtemp(join(tmpdir(), 'cachescope-pull-faults-'));
  await pushFixture(registry, FIXTURE, 'pull/faults:cache');
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5 });
});

/** mulberry32: a seeded generator, so a failing order can be replayed with its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `midBody`: the fault cuts a body after some bytes; every retry resumes with `Range` from there, so
 * even a fault on every request lets the download advance and complete. The others never deliver a
 * byte, so when they persist the pull must give up.
 */
const FAULTS: { name: string; midBody: boolean; fault: (size: number) => Fault }[] = [
  { name: 'reset mid-blob', midBody: true, fault: (size) => ({ kind: 'reset', afterBytes: Math.floor(size / 2), direction: 'response' }) },
  { name: '500', midBody: false, fault: () => ({ kind: 'status', status: 500 }) },
  { name: '503', midBody: false, fault: () => ({ kind: 'status', status: 503 }) },
  { name: '429 Retry-After', midBody: false, fault: () => ({ kind: 'rate-limit', retryAfter: 30 }) },
  { name: 'truncated body', midBody: true, fault: (size) => ({ kind: 'truncate', afterBytes: Math.floor(size / 3) }) },
  { name: 'stall mid-blob', midBody: true, fault: (size) => ({ kind: 'stall', ms: 3_000, afterBytes: Math.floor(size / 2) }) },
];

it(`${RUNS} pulls through random faults: verified and complete, or a clear error after bounded retries`, async () => {
  const seed = Number(process.env.CACHESCOPE_FAULT_SEED ?? 20261129);
  const random = seeded(seed);
  const layers = layoutManifest(FIXTURE).json.layers as { digest: string; size: number }[];
  const outcomes: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const kind = FAULTS[Math.floor(random() * FAULTS.length)];
    const layer = layers[Math.floor(random() * layers.length)];
    // A third of the runs keep failing (the pull must give up clearly); the rest heal after 1–2 faults.
    const persistent = random() < 1 / 3;
    const times = persistent ? Infinity : 1 + Math.floor(random() * 2);
    const label = `seed ${seed} run ${run}: ${kind.name} on ${layer.digest.slice(0, 19)} ${persistent ? 'always' : `${times}×`}`;
    proxy.setFaults([{ method: 'GET', path: layer.digest, times, fault: kind.fault(layer.size) }]);
    proxy.clear();
    const dir = await mkdtemp(join(work, `run${run}-`));
    const cache = join(dir, 'cache');
    const dest = join(dir, 'out');
    const access = createRegistryAccess({
      client: {
        credentials: new StaticCredentialStore(),
        // Injected waits: backoff and Retry-After cost nothing; a stalled body times out quickly.
        clock: { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 },
        retry: { maxRetries: MAX_RETRIES, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 },
        idleTimeoutMs: 500,
      },
      blobCache: { root: cache },
    });
    const bounded = AbortSignal.timeout(60_000);
    try {
      const opened = await openCacheSource(`${proxy.host}/pull/faults:cache`, { registry: access });
      let error: unknown = null;
      try {
        await runExport({ opened, dest, options: {}, verifyMemo: null, signal: bounded });
      } catch (err) {
        error = err;
      }
      assert.equal(bounded.aborted, false, `${label}: not finished within the bound`);
      const gets = proxy.requests().filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
      const asked = gets.length;
      const mustFail = persistent && !kind.midBody;
      if (error === null) {
        assert.ok(!mustFail, `${label}: a fault that never heals cannot complete`);
        if (kind.midBody) assert.ok(gets.slice(1).some((g) => /^bytes=[1-9][0-9]*-$/.test(g.range ?? '')), `${label}: the cut download did not resume with Range: ${gets.map((g) => g.range).join(', ')}`);
        const tagged = await taggedManifest(dest);
        assert.ok(tagged, `${label}: completed without a tag`);
        assert.ok((await assertAllBlobsVerified(dest)).includes(layer.digest), `${label}: the faulted layer is in the target`);
        outcomes.push(`${label}: completed after ${asked} GETs`);
      } else {
        assert.ok(mustFail, `${label}: a fault that heals (or lets a resume advance) made the pull fail: ${(error as Error).message}`);
        assert.ok(error instanceof CacheError, `${label}: ${String(error)}`);
        assert.match(error.message, /error writing layer blob: .*(sha256:|blob)/, `${label}: unclear error: ${error.message}`);
        // Bounded: the client's retries, at most twice (the blob cache starts a bad download over once).
        assert.ok(asked >= 2 && asked <= 2 * (MAX_RETRIES + 1), `${label}: ${asked} GETs of the faulted blob`);
        assert.equal(await taggedManifest(dest).catch(() => null), null, `${label}: a failed pull must not tag`);
        await assertAllBlobsVerified(dest);
        outcomes.push(`${label}: failed after ${asked} GETs: ${error.message.slice(0, 140)}`);
      }
      const cached = await assertAllBlobsVerified(cache);
      if (error !== null) assert.ok(!cached.includes(layer.digest), `${label}: an unfinished blob is in the blob cache`);
    } finally {
      access.close();
    }
  }
  // The seeded order covers both endings.
  assert.ok(outcomes.some((o) => o.includes(': completed')) && outcomes.some((o) => o.includes(': failed')), outcomes.join('\n'));
  console.log(outcomes.join('\n'));
});
