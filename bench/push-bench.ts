/**
 * Pushing a cache to a registry, against real peers: a generated 1 GiB, 64-layer image-manifest cache
 * in a local layout goes to Debian's distribution 2.8 on loopback. Prints numbers and ratios; asserts nothing.
 *   - push: `cachescope export DIR HOST/repo:tag` (in process) vs `skopeo copy oci:DIR:tag docker://…`,
 *     each run into a fresh registry (nothing to mount or skip);
 *     target: Cachescope at least 1.5× faster by median;
 *   - the no-op re-export to a target that has everything: requests and blob bytes sent (counted by a
 *     loopback proxy); target: one HEAD per blob, 0 bytes.
 * Run: `npm run bench push` (or `node --import tsx bench/push-bench.ts`). CACHESCOPE_BENCH_GIB scales
 * the cache (default 1), CACHESCOPE_BENCH_RUNS the runs per side (default 3).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExport } from '../electron/engine/export/exporter';
import { RegistryClient } from '../electron/engine/registry/client';
import { openCacheSource } from '../electron/engine/sources/open-cache';
import { generateCache } from '../scripts/cache-generator/generate';
import type { GenerateOptions } from '../scripts/cache-generator/generate';
import { startProxy, startRegistry } from '../test/helpers/registry/index';

const GIB = 1 << 30;
const TARGET_BYTES = Number(process.env.CACHESCOPE_BENCH_GIB ?? 1) * GIB;
const RUNS = Number(process.env.CACHESCOPE_BENCH_RUNS ?? 3);
const LAYERS = 64;
const TAG = 'cache';

const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(0)} MiB`;

interface Timing {
  best: number;
  median: number;
}

function summarize(all: number[]): Timing {
  const sorted = [...all].sort((a, b) => a - b);
  return { best: sorted[0], median: sorted[Math.floor(sorted.length / 2)] };
}

function line(name: string, t: Timing, bytes: number): void {
  const rate = (ms: number) => (bytes / (1 << 20) / (ms / 1000)).toFixed(0);
  console.log(`${name.padEnd(62)} median ${(t.median / 1000).toFixed(2).padStart(6)} s (${rate(t.median).padStart(5)} MiB/s)  best ${(t.best / 1000).toFixed(2).padStart(6)} s`);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cachescope-push-bench-'));
  const registry = await startRegistry();
  const proxy = await startProxy(registry);
  const client = new RegistryClient({ env: {} });
  try {
    const base: GenerateOptions = { seed: 'push-bench', stages: 4, layersPerStage: 16, layers: LAYERS, layerBytes: 256 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true };
    const probe = await generateCache(join(work, 'probe'), base);
    const layerBytes = Math.round(base.layerBytes * (TARGET_BYTES / probe.blobBytes));
    await rm(join(work, 'probe'), { recursive: true, force: true });
    const src = join(work, 'src');
    const gen = await generateCache(src, { ...base, layerBytes, tag: TAG });
    const bytes = gen.blobBytes;
    console.log(`generated ${gen.layerDescriptors.length} layer entries, ${gen.blobsWritten} blobs, ${mib(bytes)} gzip`);
    console.log(`cpus: ${spawnSync('nproc').stdout?.toString().trim()}; registry ${registry.host} (distribution 2.8, loopback, plain HTTP); ${RUNS} runs per side, alternating`);
    const opened = await openCacheSource(`${src}:${TAG}`);

    console.log(`\n-- push ${mib(bytes)} / ${LAYERS} layers from a local layout to the registry (a fresh registry each run)`);
    const ours: number[] = [];
    const theirs: number[] = [];
    // A fresh registry for every run of either side: nothing can be mounted or skipped (skopeo's
    // blob-info cache remembers where it pushed before, and may live outside HOME when run as root).
    for (let i = 0; i < RUNS; i++) {
      const mine = await startRegistry();
      try {
        const t0 = performance.now();
        const r = await runExport({
          opened,
          dest: 'unused',
          options: { tag: TAG },
          verifyMemo: null,
          registry: { reference: { registry: mine.host, repository: 'bench/ours', tag: TAG }, insecure: false, client, stateDir: join(work, 'uploads') },
        });
        ours.push(performance.now() - t0);
        if (r.counts.written !== gen.blobsWritten) throw new Error(`push incomplete: ${JSON.stringify(r.counts)}`);
      } finally {
        await mine.stop();
      }
      const peer = await startRegistry();
      try {
        const home = await mkdtemp(join(work, 'home-'));
        const t1 = performance.now();
        const s = spawnSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${src}:${TAG}`, `docker://${peer.host}/bench/skopeo:${TAG}`], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOME: home } });
        theirs.push(performance.now() - t1);
        if (s.status !== 0) throw new Error(`skopeo copy: exit ${s.status}`);
      } finally {
        await peer.stop();
      }
    }
    const [a, b] = [summarize(ours), summarize(theirs)];
    line(`cachescope export DIR HOST/bench/ours:${TAG}`, a, bytes);
    line('skopeo copy --dest-tls-verify=false oci:DIR:tag docker://…', b, bytes);
    const med = b.median / a.median;
    console.log(`  ratio skopeo time / cachescope time: ${med.toFixed(2)} by median, ${(b.best / a.best).toFixed(2)} by best  (target ≥ 1.5: ${med >= 1.5 ? 'met' : 'NOT met'} by median)`);

    console.log('\n-- no-op re-export to a target that has every blob (counted at a loopback proxy)');
    await runExport({ opened, dest: 'unused', options: { tag: TAG }, verifyMemo: null, registry: { reference: { registry: registry.host, repository: 'bench/ours-0', tag: TAG }, insecure: false, client, stateDir: null } });
    proxy.clear();
    await runExport({ opened, dest: 'unused', options: { tag: TAG }, verifyMemo: null, registry: { reference: { registry: proxy.host, repository: 'bench/ours-0', tag: TAG }, insecure: false, client, stateDir: null } });
    const reqs = proxy.requests();
    const heads = reqs.filter((q) => q.method === 'HEAD' && q.path.includes('/blobs/'));
    const blobBytes = reqs.filter((q) => q.path.includes('/blobs/')).reduce((n, q) => n + q.bytesIn, 0);
    const byMethod = new Map<string, number>();
    for (const q of reqs) byMethod.set(q.method, (byMethod.get(q.method) ?? 0) + 1);
    console.log(`requests: ${reqs.length} (${[...byMethod].map(([m, n]) => `${n} ${m}`).join(', ')}); blob HEADs ${heads.length} for ${gen.blobsWritten + 1} blobs; blob bytes sent ${blobBytes}; manifest bytes sent ${reqs.filter((q) => q.path.includes('/manifests/')).reduce((n, q) => n + q.bytesIn, 0)}`);
    console.log(`  target one HEAD per blob and 0 blob bytes: ${heads.length === gen.blobsWritten + 1 && blobBytes === 0 ? 'met' : 'NOT met'}`);
  } finally {
    client.close();
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
