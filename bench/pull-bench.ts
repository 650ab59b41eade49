/**
 * Pulling from a registry, against real peers: Debian's distribution 2.8 on loopback holds a generated
 * 1 GiB, 64-layer image-manifest cache (pushed with skopeo). Prints numbers and ratios; asserts nothing.
 *   - pull into a folder: `cachescope export HOST/repo:tag DIR` (in process, a fresh blob cache per
 *     run, so every layer is downloaded and verified) vs `skopeo copy docker://… oci:DIR:tag`;
 *     target: Cachescope at least 1.5× faster by median;
 *   - open a registry cache: requests made and bytes read (counted by a loopback proxy) vs
 *     `skopeo inspect --raw` plus one config fetch; target: no more requests.
 * Run: `npm run bench pull` (or `node --import tsx bench/pull-bench.ts`). CACHESCOPE_BENCH_GIB scales
 * the cache (default 1), CACHESCOPE_BENCH_RUNS the runs per side (default 3).
 *
 * What each side does, so the comparison is fair:
 *  - both start fresh every run: an empty target folder, and for us an empty blob cache (skopeo
 *    keeps only its blob-info metadata database, which does not skip any download into a new folder);
 *  - both write into the same temp folder (one file system), verify every byte against its digest
 *    while it streams, and fsync every blob file before renaming it into place; we also fsync
 *    blobs/ and index.json (skopeo fsyncs no directory), so any durability cost is ours to carry;
 *  - both use their defaults: we open 4 connections per registry (the client's per-host limit, the
 *    CLI's default; 8 measured no faster here, the pull is CPU-bound), skopeo its own layer parallelism;
 *  - we run in this process (Node and our modules are already loaded); skopeo's timing includes
 *    its process start (tens of ms; `npm run bench cli-start` measures ours separately).
 * Under the pull rows, the CPU seconds of each client and of the registry per run (bench/cpu-usage.ts):
 * on two cores the registry's share (~0.6 s per GiB) and the kernel's share of receiving on loopback
 * are paid whoever pulls. Then a row for scale: the same blobs fetched through node:http over 4
 * connections on the main thread, hashed and dropped (nothing written). That is how our pull read its
 * sockets before its download threads (registry/direct-download.ts), which now beat it while writing
 * and fsyncing every byte too.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExport } from '../electron/engine/export/exporter';
import { openCacheSource } from '../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../electron/engine/sources/registry-source';
import { generateCache } from '../scripts/cache-generator/generate';
import type { GenerateOptions } from '../scripts/cache-generator/generate';
import { pushFixture, skopeoInspectRaw, startProxy, startRegistry } from '../test/helpers/registry/index';
import { cpuNow, phaseLine, phaseOf } from './cpu-usage';
import type { Phase } from './cpu-usage';

const GIB = 1 << 30;
const TARGET_BYTES = Number(process.env.CACHESCOPE_BENCH_GIB ?? 1) * GIB;
const RUNS = Number(process.env.CACHESCOPE_BENCH_RUNS ?? 3);
const LAYERS = 64;
const REPO = 'bench/pull';
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

/**
 * `n` rounds of both sides, alternating (ours, then the peer), each run after `clean`: on a shared
 * machine whose load drifts, interleaving keeps the two sides under the same conditions.
 */
async function timedPair(n: number, registryPid: number, clean: () => Promise<void>, ours: () => Promise<void>, peer: () => void): Promise<[Timing, Timing, Phase[], Phase[]]> {
  const a: number[] = [];
  const b: number[] = [];
  const pa: Phase[] = [];
  const pb: Phase[] = [];
  for (let i = 0; i < n; i++) {
    for (const [fn, into, phases, client] of [[ours, a, pa, 'self'], [peer, b, pb, 'children']] as const) {
      await clean();
      const c0 = cpuNow(registryPid);
      const t0 = performance.now();
      await fn();
      into.push(performance.now() - t0);
      phases.push(phaseOf(c0, cpuNow(registryPid), client));
    }
  }
  await clean();
  return [summarize(a), summarize(b), pa, pb];
}

function line(name: string, t: Timing, bytes: number): void {
  const rate = (ms: number) => (bytes / (1 << 20) / (ms / 1000)).toFixed(0);
  console.log(`${name.padEnd(58)} median ${(t.median / 1000).toFixed(2).padStart(6)} s (${rate(t.median).padStart(5)} MiB/s)  best ${(t.best / 1000).toFixed(2).padStart(6)} s`);
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}`);
}

/** One plain GET through the proxy (the "one config fetch" next to skopeo inspect). */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

function getBody(url: string, accept: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Every blob GET over 4 keep-alive connections, each body hashed as it streams and then dropped. */
async function hashAll(base: string, repo: string, digests: string[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let next = 0;
  const lane = async () => {
    while (next < digests.length) {
      const digest = digests[next++];
      const got = await new Promise<string>((resolve, reject) => {
        request(`${base}/v2/${repo}/blobs/${digest}`, { agent }, (res) => {
          const hash = createHash('sha256');
          res.on('data', (c: Buffer) => hash.update(c));
          res.on('end', () => resolve(`sha256:${hash.digest('hex')}`));
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
      if (got !== digest) throw new Error(`floor run: ${digest} hashed to ${got}`);
    }
  };
  try {
    await Promise.all([lane(), lane(), lane(), lane()]);
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cachescope-pull-bench-'));
  const registry = await startRegistry();
  const proxy = await startProxy(registry);
  try {
    const base: GenerateOptions = { seed: 'pull-bench', stages: 4, layersPerStage: 16, layers: LAYERS, layerBytes: 256 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true };
    // Calibrate the content per layer so the compressed cache comes out near the target.
    const probe = await generateCache(join(work, 'probe'), base);
    const layerBytes = Math.round(base.layerBytes * (TARGET_BYTES / probe.blobBytes));
    await rm(join(work, 'probe'), { recursive: true, force: true });
    const src = join(work, 'src');
    const gen = await generateCache(src, { ...base, layerBytes });
    const t0 = performance.now();
    await pushFixture(registry, src, `${REPO}:${TAG}`);
    console.log(`generated ${gen.layerDescriptors.length} layer entries, ${gen.blobsWritten} blobs, ${mib(gen.blobBytes)} gzip; pushed with skopeo in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`cpus: ${spawnSync('nproc').stdout?.toString().trim()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; registry ${registry.host} (distribution 2.8, loopback, plain HTTP); ${RUNS} runs per side`);
    await rm(src, { recursive: true, force: true });
    const bytes = gen.blobBytes;
    const ref = `${registry.host}/${REPO}:${TAG}`;

    console.log(`\n-- pull ${mib(bytes)} / ${LAYERS} layers from the registry into a folder (fresh blob cache each run, runs alternating)`);
    const dest = join(work, 'pulled');
    const cacheDir = join(work, 'blob-cache');
    const clean = async () => {
      await rm(dest, { recursive: true, force: true });
      await rm(cacheDir, { recursive: true, force: true });
    };
    const pull = async () => {
      const access = createRegistryAccess({ blobCache: { root: cacheDir } });
      try {
        const opened = await openCacheSource(ref, { registry: access });
        const r = await runExport({ opened, dest, options: {}, verifyMemo: null });
        if (r.skipped || r.counts.linked + r.counts.written !== gen.blobsWritten) throw new Error(`pull incomplete: ${JSON.stringify(r.counts)}`);
      } finally {
        access.close();
      }
    };
    const skopeo = () => sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}:${TAG}`]);
    const [ours, peer, ourPhases, peerPhases] = await timedPair(RUNS, registry.pid, clean, pull, skopeo);
    line(`cachescope export ${REPO}:${TAG} DIR`, ours, bytes);
    line('skopeo copy --src-tls-verify=false docker://… oci:DIR:tag', peer, bytes);
    const med = peer.median / ours.median;
    const bst = peer.best / ours.best;
    console.log(`  load now: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine slows both sides, not always equally)`);
    console.log(`  ratio skopeo time / cachescope time: ${med.toFixed(2)} by median, ${bst.toFixed(2)} by best  (target ≥ 1.5: ${med >= 1.5 ? 'met' : 'NOT met'} by median)`);
    phaseLine('cachescope', ourPhases);
    phaseLine('skopeo', peerPhases);
    // For scale: the same blobs fetched through node:http over 4 keep-alive connections on the main
    // thread, hashed and dropped (nothing written, no blob cache, no export): the best a client that
    // reads its sockets on the main thread could do here, whatever it did with the bytes.
    const layerList = JSON.parse((await getBody(`${registry.url}/v2/${REPO}/manifests/${TAG}`, 'application/vnd.oci.image.manifest.v1+json')).toString('utf8')) as { layers: { digest: string }[] };
    const floor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await hashAll(registry.url, REPO, layerList.layers.map((l) => l.digest));
      floor.push(performance.now() - t0);
    }
    const fl = summarize(floor);
    line('for scale: node:http on the main thread, GET + sha256 only', fl, bytes);
    console.log(`  cachescope time / that time: ${(ours.median / fl.median).toFixed(2)} by median (below 1: the download threads fetch, hash, write and fsync faster than one thread only fetches and hashes)`);

    console.log('\n-- open a registry cache: requests and bytes (counted at a loopback proxy)');
    const viaProxy = `${proxy.host}/${REPO}:${TAG}`;
    proxy.clear();
    const access = createRegistryAccess({ blobCache: { root: cacheDir } });
    try {
      await openCacheSource(viaProxy, { registry: access });
    } finally {
      access.close();
    }
    const mine = proxy.requests();
    proxy.clear();
    await skopeoInspectRaw(proxy, `${REPO}:${TAG}`);
    const inspected = proxy.requests();
    const manifest = JSON.parse((await skopeoInspectRaw(registry, `${REPO}:${TAG}`)).toString('utf8')) as { config: { digest: string } };
    proxy.clear();
    await get(`${proxy.url}/v2/${REPO}/blobs/${manifest.config.digest}`);
    const theirs = [...inspected, ...proxy.requests()];
    const sum = (rs: { bytesOut: number }[]) => rs.reduce((n, r) => n + r.bytesOut, 0);
    const show = (rs: { method: string; path: string; status: number }[]) => rs.map((r) => `${r.method} ${r.path.replace(/sha256:[0-9a-f]{64}/, (d) => d.slice(0, 19))} ${r.status}`).join(', ');
    console.log(`cachescope open:                       ${mine.length} requests, ${sum(mine)} bytes  (${show(mine)})`);
    console.log(`skopeo inspect --raw + 1 config fetch: ${theirs.length} requests, ${sum(theirs)} bytes  (${show(theirs)})`);
    console.log(`  requests cachescope / peer: ${mine.length}/${theirs.length}  (target: no more: ${mine.length <= theirs.length ? 'met' : 'NOT met'})`);
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
