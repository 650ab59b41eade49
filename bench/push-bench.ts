/**
 * Pushing a cache to a registry, against real peers: a generated 1 GiB, 64-layer image-manifest cache
 * in a local layout goes to Debian's distribution 2.8 on loopback. Prints numbers and ratios; asserts nothing.
 *   - push: `cachescope export DIR HOST/repo:tag` (in process) vs `skopeo copy oci:DIR:tag docker://…`,
 *     each run into a fresh registry (nothing to mount or skip);
 *     target: Cachescope at least 1.5× faster by median;
 *   - the no-op re-export to a target that has everything: requests and blob bytes sent (counted by a
 *     loopback proxy); target: one HEAD per blob, 0 bytes;
 *   - resume: a 256 MiB (gzip) blob whose upload connection the proxy cuts at 60% of the blob's bytes;
 *     printed: blob bytes sent after the cut against the blob size and the ideal 40%. Cachescope's
 *     pushBlob (8 MiB chunks, what the export runs per blob) is cut twice: at exactly 60% (mid-chunk:
 *     distribution 2.8 then refuses the session, see uploads.ts) and just before the chunk holding
 *     60% (between chunks); skopeo copy (one streaming PATCH, `--retry-times 3`, run again by hand
 *     when it gives up) under the same exact cut, each into a fresh registry.
 * Under the push rows, where the time goes: the CPU seconds of the client (Cachescope's process, or
 * skopeo) and of the registry per run, and how busy the machine's cores were (other processes
 * included). On loopback the registry's own hashing and writing (~3.6 s of CPU per GiB here) is the
 * larger share whoever pushes, so on a busy machine the ratio tends to the ratio of total CPU.
 * Run: `npm run bench push` (or `node --import tsx bench/push-bench.ts`). CACHESCOPE_BENCH_GIB scales
 * the cache (default 1), CACHESCOPE_BENCH_RUNS the runs per side (default 3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { runExport } from '../electron/engine/export/exporter';
import { RegistryClient } from '../electron/engine/registry/client';
import { openCacheSource } from '../electron/engine/sources/open-cache';
import { generateCache } from '../scripts/cache-generator/generate';
import type { GenerateOptions } from '../scripts/cache-generator/generate';
import { startProxy, startRegistry } from '../test/helpers/registry/index';
import { cpuNow, phaseLine, phaseOf } from './cpu-usage';
import type { Phase } from './cpu-usage';
import type { FaultFn, ProxyRequest } from '../test/helpers/registry/index';

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
    const ourPhases: Phase[] = [];
    const theirPhases: Phase[] = [];
    console.log(`load average before: ${loadavg().map((n) => n.toFixed(2)).join(' ')} (1, 5, 15 min)`);
    // A fresh registry for every run of either side: nothing can be mounted or skipped (skopeo's
    // blob-info cache remembers where it pushed before, and may live outside HOME when run as root).
    for (let i = 0; i < RUNS; i++) {
      const mine = await startRegistry();
      try {
        const c0 = cpuNow(mine.pid);
        const t0 = performance.now();
        const r = await runExport({
          opened,
          dest: 'unused',
          options: { tag: TAG },
          verifyMemo: null,
          registry: { reference: { registry: mine.host, repository: 'bench/ours', tag: TAG }, insecure: false, client, stateDir: join(work, 'uploads') },
        });
        ours.push(performance.now() - t0);
        ourPhases.push(phaseOf(c0, cpuNow(mine.pid), 'self'));
        if (r.counts.written !== gen.blobsWritten) throw new Error(`push incomplete: ${JSON.stringify(r.counts)}`);
      } finally {
        await mine.stop();
      }
      const peer = await startRegistry();
      try {
        const home = await mkdtemp(join(work, 'home-'));
        const c1 = cpuNow(peer.pid);
        const t1 = performance.now();
        const s = spawnSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${src}:${TAG}`, `docker://${peer.host}/bench/skopeo:${TAG}`], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HOME: home } });
        theirs.push(performance.now() - t1);
        theirPhases.push(phaseOf(c1, cpuNow(peer.pid), 'children'));
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
    phaseLine('cachescope', ourPhases);
    phaseLine('skopeo', theirPhases);
    console.log(`  load average after: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);

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

    await resumeRows(work);
  } finally {
    client.close();
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

const MIB = 1 << 20;
const RESUME_SIZE = 256 * MIB;
const RESUME_CHUNK = 8 * MIB;
const RESUME_TAG = 'resume';
const UPLOAD_BODY = (q: { method: string; path: string }) => (q.method === 'PATCH' || q.method === 'PUT') && q.path.includes('/blobs/uploads/');

/** A one-layer OCI image layout: `RESUME_SIZE` random bytes, gzipped (level 1: the same size, give or take), and a config. */
async function resumeLayout(dir: string): Promise<{ digest: string; size: number; file: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tmpFile = join(dir, 'layer.tmp');
  const diff = createHash('sha256');
  const gz = createHash('sha256');
  let size = 0;
  const zip = createGzip({ level: 1 });
  const out = createWriteStream(tmpFile);
  zip.on('data', (c: Buffer) => {
    gz.update(c);
    size += c.length;
  });
  zip.pipe(out);
  const slice = Buffer.alloc(4 * MIB);
  for (let at = 0; at < RESUME_SIZE; at += slice.length) {
    randomFillSync(slice);
    diff.update(slice);
    if (!zip.write(slice)) await new Promise<void>((r) => zip.once('drain', () => r()));
  }
  zip.end();
  await new Promise<void>((r) => out.on('finish', () => r()));
  const hex = gz.digest('hex');
  const file = join(blobs, hex);
  await rename(tmpFile, file);
  const put = async (text: string) => {
    const h = createHash('sha256').update(text).digest('hex');
    await writeFile(join(blobs, h), text);
    return { digest: `sha256:${h}`, size: Buffer.byteLength(text) };
  };
  const config = await put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${diff.digest('hex')}`] } }));
  const manifest = await put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size }] }));
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': RESUME_TAG } }] }));
  return { digest: `sha256:${hex}`, size, file };
}

/**
 * Cuts (RST) the upload connection that carries blob byte `cutAt` (counted over every PATCH/PUT body
 * of the blob, in order), once: `atChunkStart` cuts that request before its first byte instead.
 */
function cutOnceAt(cutAt: number, atChunkStart: boolean): FaultFn {
  let sent = 0;
  let cut = false;
  return (req) => {
    if (cut || !UPLOAD_BODY(req)) return undefined;
    const declared = req.headers['content-length'];
    const len = declared === undefined ? Infinity : Number(declared);
    if (sent + len <= cutAt) {
      sent += len;
      return undefined;
    }
    cut = true;
    return { kind: 'reset', afterBytes: atChunkStart ? 0 : cutAt - sent, direction: 'request' };
  };
}

/** Blob bytes (upload bodies) sent after the cut request, and in all. */
function bytesAround(reqs: ProxyRequest[]): { after: number; total: number; cutAtByte: number } {
  const cut = reqs.find((q) => q.fault === 'reset');
  if (!cut) throw new Error('the proxy never cut the upload');
  const uploads = reqs.filter(UPLOAD_BODY);
  return {
    after: uploads.filter((q) => q.index > cut.index).reduce((n, q) => n + q.bytesIn, 0),
    total: uploads.reduce((n, q) => n + q.bytesIn, 0),
    cutAtByte: uploads.filter((q) => q.index < cut.index).reduce((n, q) => n + q.bytesForwarded, 0) + cut.bytesForwarded,
  };
}

function resumeLine(name: string, r: { after: number; total: number; cutAtByte: number }, size: number, note = ''): void {
  const pct = (n: number) => `${((n / size) * 100).toFixed(1)}%`;
  const ideal = size - r.cutAtByte;
  console.log(`${name.padEnd(52)} cut at ${pct(r.cutAtByte).padStart(6)}; sent after the cut ${mib(r.after).padStart(8)} = ${pct(r.after).padStart(6)} of the blob (ideal ${pct(ideal)}; ${(r.after / ideal).toFixed(2)}× the ideal); ${mib(r.total)} in all${note}`);
}

/** The resume row: bytes sent after a cut at 60% of a 256 MiB blob, Cachescope against skopeo. */
async function resumeRows(work: string): Promise<void> {
  const layout = join(work, 'resume-layout');
  const blob = await resumeLayout(layout);
  const cutAt = Math.round(0.6 * blob.size);
  console.log(`\n-- resume: a ${mib(blob.size)} gzip blob, the upload connection cut (RST) at 60% (byte ${cutAt}) by the loopback proxy; a fresh registry each`);
  const results: Record<string, { after: number; total: number; cutAtByte: number }> = {};
  for (const [name, atChunkStart] of [['cachescope pushBlob, 8 MiB chunks, cut at exactly 60%', false], ['cachescope pushBlob, 8 MiB chunks, cut between chunks', true]] as const) {
    const reg = await startRegistry();
    const px = await startProxy(reg, { faults: cutOnceAt(cutAt, atChunkStart) });
    const c = new RegistryClient({ env: {}, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const r = await c.pushBlob({ registry: px.host, repository: 'resume/ours' }, { digest: blob.digest, size: blob.size }, blob.file, { chunkSize: RESUME_CHUNK });
      await new Promise((res) => setTimeout(res, 100));
      results[name] = bytesAround(px.requests());
      resumeLine(name, results[name], blob.size, `; outcome ${r.outcome}`);
    } finally {
      c.close();
      await px.stop();
      await reg.stop();
    }
  }
  const reg = await startRegistry();
  const px = await startProxy(reg, { faults: cutOnceAt(cutAt, false) });
  try {
    const home = await mkdtemp(join(work, 'home-resume-'));
    const skopeo = () =>
      new Promise<number | null>((resolve) => {
        // Async: the proxy runs in this process.
        const child = spawn('skopeo', ['copy', '--quiet', '--retry-times', '3', '--dest-tls-verify=false', `oci:${layout}:${RESUME_TAG}`, `docker://${px.host}/resume/skopeo:${RESUME_TAG}`], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, HOME: home } });
        child.on('close', (code) => resolve(code));
      });
    let runs = 1;
    let code = await skopeo();
    // skopeo gave up despite its retries: run it again, as a user would.
    while (code !== 0 && runs < 3) {
      runs++;
      code = await skopeo();
    }
    if (code !== 0) throw new Error(`skopeo copy: exit ${code} after ${runs} runs`);
    const name = 'skopeo copy --retry-times 3, cut at exactly 60%';
    results[name] = bytesAround(px.requests());
    resumeLine(name, results[name], blob.size, `; ${runs === 1 ? 'its own retry' : `${runs} runs`}`);
  } finally {
    await px.stop();
    await reg.stop();
  }
  const [exact, between, theirs] = Object.values(results);
  console.log(`  ratio skopeo bytes after the cut / cachescope's: ${(theirs.after / exact.after).toFixed(2)} (cut at exactly 60%), ${(theirs.after / between.after).toFixed(2)} (cachescope cut between chunks)`);
  console.log(`  target "only about the remaining 40%": ${between.after / blob.size < 0.42 ? 'met' : 'NOT met'} between chunks, ${exact.after / blob.size < 0.42 ? 'met' : 'NOT met'} mid-chunk`);
}

await main();
