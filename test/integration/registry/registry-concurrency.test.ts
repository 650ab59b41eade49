/**
 * The per-host request limit users set (CACHESCOPE_REGISTRY_CONCURRENCY, or `--registry-concurrency N`
 * on export, verify, tags and image) really bounds the requests in flight to a real loopback registry.
 * The counting proxy in front stalls every request a little, so requests do overlap, and notes the most
 * it ever had open at once: counts, never timings. The CLI runs as its own process (one process, one
 * limit); the app's service is checked in process with the env it is given. A bad value is refused
 * naming the variable or the flag, before any request.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createService } from '../../../electron/engine/service';
import type { Service } from '../../../electron/engine/service';
import { FIXTURES } from '../../helpers/fixtures';
import { pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../../helpers/registry/index';
import { runCli } from '../../helpers/run-cli';
import type { CliRun } from '../../helpers/run-cli';

const FIXTURE = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const TAGS = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;
let runs = 0;
/** The most requests the proxy had open at once since the last `reset()`. */
let peak = 0;

/** Every request waits before it is forwarded, so a client that may overlap requests does. */
const stallAndCount: FaultFn = () => {
  // The entry of the request being judged is already logged, and `done` turns true when its response closes.
  peak = Math.max(peak, proxy.requests().filter((r) => !r.done).length);
  return { kind: 'stall', ms: 120 };
};

function reset(): void {
  proxy.clear();
  peak = 0;
}

/** A fresh blob cache per run: every blob is downloaded again, through the proxy. */
function freshEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dir = join(work, `run-${++runs}`);
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(dir, 'xdg'), CACHESCOPE_CACHE_DIR: join(dir, 'blobs'), DOCKER_CONFIG: join(dir, 'docker'), ...extra };
  if (!('CACHESCOPE_REGISTRY_CONCURRENCY' in extra)) delete env.CACHESCOPE_REGISTRY_CONCURRENCY;
  return env;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runCli(args, { env, timeout: 120_000 });
}

interface PeakRun {
  code: number;
  peak: number;
  requests: number;
  stderr: string;
}

/** Runs the CLI once (args built after the fresh env, so a destination folder is fresh too) and gives back its exit and peak. */
async function peakOnce(args: () => string[], extraEnv: Record<string, string>): Promise<PeakRun> {
  reset();
  const env = freshEnv(extraEnv);
  const r = await cli(args(), env);
  return { code: r.code, peak, requests: proxy.requests().length, stderr: r.stderr };
}

/**
 * Runs the CLI and gives back its exit and the peak of requests in flight it caused. With `want`, a
 * run that succeeded but never had `want` requests open at once is run again, twice at most: the
 * stall overlaps requests only if the client sends them within it, and a loaded machine can hold
 * one lane back longer. The retries hide no bug: a limit set too low never reaches `want`, and the
 * peak given back is the highest of all runs, so a limit set too high shows on any of them.
 */
async function peakOf(args: string[] | (() => string[]), extraEnv: Record<string, string> = {}, want?: number): Promise<PeakRun> {
  const build = typeof args === 'function' ? args : () => args;
  const first = await peakOnce(build, extraEnv);
  let best = first.peak;
  for (let again = 0; want !== undefined && first.code === 0 && best < want && again < 2; again++) {
    const next = await peakOnce(build, extraEnv);
    assert.equal(next.code, 0, next.stderr);
    best = Math.max(best, next.peak);
  }
  return { ...first, peak: best };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cachescope-registry-concurrency-'));
  registry = await startRegistry();
  for (const tag of TAGS) await pushFixture(registry, FIXTURE, `conc/cache:${tag}`);
  proxy = await startProxy(registry, { faults: stallAndCount });
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('per-host registry concurrency, set by users (real registry, counting proxy)', () => {
  const ref = () => `${proxy.host}/conc/cache:t1`;

  it('verify downloads 4 blobs at once by default, 2 with --registry-concurrency 2, 3 with CACHESCOPE_REGISTRY_CONCURRENCY=3', async () => {
    const byDefault = await peakOf(['verify', ref()], {}, 4);
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.equal(byDefault.peak, 4, 'the default limit is reached (so a lower one is what bounds the runs below)');

    const flag = await peakOf(['verify', ref(), '--registry-concurrency', '2'], {}, 2);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.peak, 2);
    assert.equal(flag.requests, byDefault.requests, 'the same requests, fewer at once');

    const env = await peakOf(['verify', ref()], { CACHESCOPE_REGISTRY_CONCURRENCY: '3' }, 3);
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.peak, 3);

    const both = await peakOf(['verify', ref(), '--registry-concurrency=1'], { CACHESCOPE_REGISTRY_CONCURRENCY: '3' });
    assert.equal(both.code, 0, both.stderr);
    assert.equal(both.peak, 1, 'the flag wins over the environment');
  });

  it('tags reads 8 tags at once with --concurrency 8, yet at most N requests per host: 6 from the environment, 2 from the flag', async () => {
    const env = await peakOf(['tags', `${proxy.host}/conc/cache`, '--concurrency', '8', '--json'], { CACHESCOPE_REGISTRY_CONCURRENCY: '6' }, 6);
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.peak, 6, 'a limit above the default of 4 is honoured');

    const flag = await peakOf(['tags', `${proxy.host}/conc/cache`, '--concurrency', '8', '--registry-concurrency', '2', '--json'], { CACHESCOPE_REGISTRY_CONCURRENCY: '6' }, 2);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.peak, 2);
  });

  it('export from a registry pulls at most N blobs at once, from the environment and from the flag', async () => {
    const env = await peakOf(() => ['export', ref(), join(work, `pull-${runs}`)], { CACHESCOPE_REGISTRY_CONCURRENCY: '2' }, 2);
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.peak, 2);

    const flag = await peakOf(() => ['export', ref(), join(work, `pull-${runs}`), '--registry-concurrency', '3'], {}, 3);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.peak, 3);
  });

  it('image reads at most N layers of a registry source at once with --registry-concurrency N', async () => {
    // Four layer lanes (CACHESCOPE_IMAGE_LAYERS) over a chain of four layers: the client's limit is what bounds them.
    const lanes = { CACHESCOPE_IMAGE_LAYERS: '4' };
    const byDefault = await peakOf(() => ['image', ref(), '--layer', '4', '--dest', join(work, `image-${runs}`)], lanes, 4);
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.equal(byDefault.peak, 4);

    const flag = await peakOf(() => ['image', ref(), '--layer', '4', '--dest', join(work, `image-${runs}`), '--registry-concurrency', '2'], lanes, 2);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.peak, 2);
  });

  it('a bad value is refused naming the variable or the flag, and nothing reaches the registry', async () => {
    for (const value of ['0', '65', 'four', '-1', '2.5']) {
      const env = await peakOf(['verify', ref()], { CACHESCOPE_REGISTRY_CONCURRENCY: value });
      assert.equal(env.code, 1);
      assert.match(env.stderr, new RegExp(`CACHESCOPE_REGISTRY_CONCURRENCY must be an integer from 1 to 64 .*not "${value.replace('.', '\\.')}"`));
      assert.equal(env.requests, 0, `nothing was sent for ${value}`);
    }
    for (const command of ['verify', 'tags', 'export', 'image']) {
      const flag = await peakOf([command, ref(), '--registry-concurrency', '0']);
      assert.notEqual(flag.code, 0);
      assert.match(flag.stderr, /--registry-concurrency must be an integer from 1 to 64/, `${command}: ${flag.stderr}`);
      assert.equal(flag.requests, 0);
    }
  });

  describe('the app (service) reads CACHESCOPE_REGISTRY_CONCURRENCY from its env', () => {
    let service: Service | null = null;
    after(async () => {
      await service?.dispose();
    });

    it('verifying an opened registry cache and listing tags stay within the limit', async () => {
      // As peakOf does: a round whose requests never overlapped 2 deep is run again (a fresh service,
      // so its blob cache is empty), twice at most; the highest peak of all rounds is what is checked.
      let verifyPeak = 0;
      let tagsPeak = 0;
      for (let round = 0; round < 3 && (verifyPeak < 2 || tagsPeak < 2); round++) {
        await service?.dispose();
        service = createService({ startupSource: null, mode: 'browser', emit: () => {}, env: freshEnv({ CACHESCOPE_REGISTRY_CONCURRENCY: '2' }) });
        const { cacheId } = await service.openCache({ source: ref() });
        reset();
        const report = await service.verifyCache({ cacheId });
        assert.ok(report.ok, JSON.stringify(report));
        verifyPeak = Math.max(verifyPeak, peak);

        reset();
        const tags = await service.listRegistryTags({ repository: `${proxy.host}/conc/cache` });
        assert.equal(tags.rows.length, TAGS.length);
        tagsPeak = Math.max(tagsPeak, peak);
      }
      assert.equal(verifyPeak, 2);
      assert.equal(tagsPeak, 2);
    });

    it('a bad value fails the registry work with an error naming the variable', async () => {
      const bad = createService({ startupSource: null, mode: 'browser', emit: () => {}, env: freshEnv({ CACHESCOPE_REGISTRY_CONCURRENCY: '100' }) });
      try {
        reset();
        await assert.rejects(bad.openCache({ source: ref() }), /CACHESCOPE_REGISTRY_CONCURRENCY must be an integer from 1 to 64/);
        assert.equal(proxy.requests().length, 0);
      } finally {
        await bad.dispose();
      }
    });
  });
});
