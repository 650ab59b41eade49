/**
 * Diff of two generated 10k-record caches (built in memory, no disk) that differ in a few source
 * records: times diffCaches, the median of 5 runs after one (reported) cold run, against the 300 ms target.
 * Reported, not asserted. Run: npm run bench diff (or node --import tsx bench/diff-bench.ts).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assembleCache } from '../shared/cache/model';
import type { CacheModel } from '../shared/cache/model';
import type { NormConfig } from '../shared/cache/parse-config';
import { diffCaches } from '../shared/diff/diff-caches';
import { MediaType } from '../shared/oci/media-types';

const RECORDS = 10_000;
const LAYERS = 2_000;
const dg = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

function rng(seed: number) {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

function build(changedRoots: Set<number>): CacheModel {
  const r = rng(42);
  const sels = Array.from({ length: 8 }, (_, i) => dg(`sel${i}`));
  const layers = Array.from({ length: LAYERS }, (_, i) => ({ blob: dg(`blob${i}`), parent: i % 50 === 0 ? -1 : i - 1, annotations: null }));
  const records: NormConfig['records'] = [];
  for (let i = 0; i < RECORDS; i++) {
    if (i < 200) {
      records.push({ digest: dg(`root${i}${changedRoots.has(i) ? '-changed' : ''}@0`), inputs: [], results: [], chains: [] });
      continue;
    }
    const slots = 1 + Math.floor(r() * 2);
    const inputs = Array.from({ length: slots }, () => {
      const alts = 1 + Math.floor(r() * 2);
      return Array.from({ length: alts }, () => ({ link: Math.floor(r() * i), selector: r() < 0.5 ? sels[Math.floor(r() * sels.length)] : null }));
    });
    // Digests repeat, as in real caches (the same op with other inputs).
    records.push({ digest: dg(`op${Math.floor(r() * 7000)}@0`), inputs, results: r() < 0.2 ? [{ layer: Math.floor(r() * LAYERS), createdAt: '2026-01-01T00:00:00Z' }] : [], chains: [] });
  }
  const norm: NormConfig = { format: 'v0', layers, records, descriptors: [] };
  return assembleCache({
    source: 'bench',
    variant: 'image-manifest',
    manifest: null,
    parsedManifest: null,
    config: { mediaType: MediaType.cacheConfigV0, digest: null, size: 0, format: 'v0' },
    norm,
    extraDescriptors: layers.map((l, i) => ({ mediaType: MediaType.ociLayerGzip, digest: l.blob, size: 1000 + i, annotations: { 'containerd.io/uncompressed': dg(`diff${i}`) } })),
    configFile: 'bench',
  });
}

const a = build(new Set());
const b = build(new Set([3, 77, 150]));
// One run first, so the timed runs measure the diff and not the JIT warming up; it is shown too,
// because the first diff of a session is the one a user waits for.
const c0 = performance.now();
diffCaches(a, b);
const cold = performance.now() - c0;
const times: number[] = [];
let divergences = 0;
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const d = diffCaches(a, b);
  times.push(performance.now() - t0);
  divergences = d.divergences.length;
}
times.sort((x, y) => x - y);
const median = times[2];
console.log(`diff 10k records: ${median.toFixed(0)} ms (target <= 300 ms)`);
console.log(`  ${RECORDS} records, ${LAYERS} layer entries per side, 3 changed sources, ${divergences} divergences; median of 5 runs (min ${times[0].toFixed(0)}, max ${times[4].toFixed(0)} ms), ratio ${(median / 300).toFixed(2)}; first (cold) run ${cold.toFixed(0)} ms`);
