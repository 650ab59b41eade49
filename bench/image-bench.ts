/**
 * Image export: a 16-layer chain of IMAGE_BENCH_MIB (default 1024) MiB of gzip layers, exported by
 * `cachescope image` to a folder and to a docker-archive tar, side by side with `skopeo copy` of the
 * same image (the folder our export wrote) to a folder and to a docker-archive. Target: ≥1.5× faster.
 * cachescope is timed twice per destination: verifying every diffID (decompress and hash, the default)
 * and with --trust-diffids (hard links only). Each row runs IMAGE_BENCH_RUNS (default 5) times, each
 * time with an empty per-user cache (XDG_CACHE_HOME), so no remembered diffID spares the hashing, and
 * the medians are compared; the load average is printed before and after (the machine is shared).
 * Prints numbers; asserts nothing.
 * Run: `npm run bench image` (or `node --import tsx bench/image-bench.ts`).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { tarEnd, tarHeader, tarPadding } from '../scripts/cache-generator/tar';
import { marshalConfig, marshalManifest } from '../shared/cache/serialize';
import { Annotation, MediaType } from '../shared/oci/media-types';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'cachescope.mjs');
const LAYERS = 16;
const TOTAL_MIB = Number(process.env.IMAGE_BENCH_MIB ?? 1024);
const TARGET = 1.5;
const RUNS = Math.max(1, Number(process.env.IMAGE_BENCH_RUNS ?? 5));

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A cache of one 16-layer chain, one record per layer, written like BuildKit's local exporter. */
async function writeCache(dir: string): Promise<number> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Uint8Array) => {
    const d = sha(b);
    await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const perLayer = Math.floor((TOTAL_MIB * 1024 * 1024) / LAYERS);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) {
    // Half random, half zeros: compressible like real layers, and cheap to gzip at level 1.
    const body = Buffer.alloc(perLayer);
    randomBytes(perLayer >> 1).copy(body);
    const tar = Buffer.concat([tarHeader({ name: `data/layer-${i}.bin`, type: 'file', size: perLayer, mtime: 1767225600 }), body, tarPadding(perLayer), tarEnd()]);
    const gz = gzipSync(tar, { level: 1 });
    layers.push({ mediaType: MediaType.ociLayerGzip, digest: await put(gz), size: gz.length, annotations: { [Annotation.uncompressed]: sha(tar), [Annotation.createdAt]: `2026-01-01T10:00:${String(i).padStart(2, '0')}Z` } });
  }
  const config = new TextEncoder().encode(
    marshalConfig({
      layers: layers.map((l, i) => ({ blob: l.digest, parent: i - 1 })),
      records: [{ digest: sha(new TextEncoder().encode('src')) }, ...layers.map((_, i) => ({ digest: sha(new TextEncoder().encode(`op ${i}`)), inputs: [[{ link: i }]], layers: [{ layer: i, createdAt: `2026-01-01T10:00:${String(i).padStart(2, '0')}Z` }] }))],
    }),
  );
  const configDigest = await put(config);
  const manifest = new TextEncoder().encode(marshalManifest({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.cacheConfigV0, digest: configDigest, size: config.length }, layers }));
  const md = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: md, size: manifest.length, annotations: { [Annotation.refName]: 'latest' } }] }));
  return LAYERS; // the top record
}

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CACHESCOPE_CLI: process.env.CACHESCOPE_CLI ?? 'built', ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

// Measures the built CLI (as a user runs it), built now so it is never stale.
const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), 'cli'], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) throw new Error('building the CLI failed');

const tmp = await mkdtemp(join(tmpdir(), 'cachescope-image-bench-'));
try {
  const cache = join(tmp, 'cache');
  const top = await writeCache(cache);
  let fresh = 0;
  // A new per-user cache for every cachescope run: its diffIDs are hashed, never remembered from the last run.
  const image = (extra: string[], dest: string) => time(process.execPath, [BIN, 'image', cache, '--record', String(top), '--dest', dest, ...extra], { XDG_CACHE_HOME: join(tmp, `xdg-${fresh++}`) });
  const names = [
    'cachescope → folder (diffIDs verified)',
    'cachescope → folder (--trust-diffids)',
    'skopeo copy oci → oci folder',
    'cachescope → docker-archive (diffIDs verified)',
    'cachescope → docker-archive (--trust-diffids)',
    'skopeo copy oci → docker-archive',
  ] as const;
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`load average before: ${load()}`);
  for (let run = 0; run < RUNS; run++) {
    const at = (name: string) => join(tmp, `${name}-${run}`);
    // skopeo copies the image our first export wrote; each run writes into new folders and files.
    samples.get(names[0])!.push(image([], `${at('f1')}:t`));
    samples.get(names[1])!.push(image(['--trust-diffids'], `${at('f2')}:t`));
    samples.get(names[2])!.push(time('skopeo', ['copy', '-q', `oci:${at('f1')}:t`, `oci:${at('s1')}:t`]));
    samples.get(names[3])!.push(image([], `docker-archive:${at('a1')}.tar`));
    samples.get(names[4])!.push(image(['--trust-diffids'], `docker-archive:${at('a2')}.tar`));
    samples.get(names[5])!.push(time('skopeo', ['copy', '-q', `oci:${at('f1')}:t`, `docker-archive:${at('s2')}.tar:bench:1`]));
    for (const n of ['f1', 'f2', 's1']) await rm(at(n), { recursive: true, force: true });
    for (const n of ['a1', 'a2', 's2']) await rm(`${at(n)}.tar`, { force: true });
    await rm(join(tmp, `xdg-${fresh - 1}`), { recursive: true, force: true });
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(`image export, ${LAYERS} layers, ${TOTAL_MIB} MiB uncompressed (gzip level 1), median of ${RUNS} runs`);
  const m: Record<string, number> = {};
  for (const n of names) {
    m[n] = median(samples.get(n)!);
    console.log(`  ${n.padEnd(48)} ${(m[n] / 1000).toFixed(2)} s   (runs: ${samples.get(n)!.map((x) => (x / 1000).toFixed(2)).join(' ')})`);
  }
  for (const [ours, theirs] of [
    [names[0], names[2]],
    [names[1], names[2]],
    [names[3], names[5]],
    [names[4], names[5]],
  ]) {
    const x = m[theirs] / m[ours];
    console.log(`  ${ours}: ${x.toFixed(2)}× skopeo (target ≥${TARGET}×: ${x >= TARGET ? 'met' : 'not met'})`);
  }
  console.log(`load average after: ${load()}`);
} finally {
  await rm(tmp, { recursive: true, force: true });
}
