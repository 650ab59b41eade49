/**
 * Model speed and memory on large generated caches (JSON only, no layer blobs; temp dir, deleted at
 * the end). Prints numbers against the targets; it asserts nothing.
 *   - 10k records + 2k layer entries: parse + graph + view ≤ 200 ms, retained heap ≤ 150 MB;
 *   - 100k records: the same within 2 s.
 * "parse + graph + view" starts from the manifest and config text in memory: JSON.parse, the manifest
 * and config parsers, BuildKit's checks and the graph (assembleCache), then the view (toView). The
 * end-to-end line adds the disk: openCacheSource + viewOf (presence checks, orphans).
 * Run: `npm run bench parse` (or `node --expose-gc --import tsx bench/parse-bench.ts`).
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleCache, toView } from '../shared/cache/model';
import type { CacheModel } from '../shared/cache/model';
import { parseCacheConfig } from '../shared/cache/parse-config';
import { parseCacheManifest } from '../shared/cache/parse-manifest';
import type { CacheView } from '../shared/cache/view-types';
import { viewOf } from '../electron/engine/sources/cache-view';
import { openCacheSource } from '../electron/engine/sources/open-cache';
import { generateCache } from '../scripts/cache-generator/generate';

const MB = 1 << 20;
const RUNS = 5;
const gc = (globalThis as { gc?: () => void }).gc;

interface Case {
  label: string;
  records: number;
  layers: number;
  stages: number;
  targetMs: number;
  targetMb: number | null;
}

const CASES: Case[] = [
  { label: '10k records/2k layers', records: 10_000, layers: 2_000, stages: 8, targetMs: 200, targetMb: 150 },
  { label: '100k records/2k layers', records: 100_000, layers: 2_000, stages: 8, targetMs: 2000, targetMb: null },
];

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Everything from the two JSON texts to the view, as the engine does it (minus the disk). */
function parseGraphView(manifestText: string, configText: string): { model: CacheModel; view: CacheView } {
  const pm = parseCacheManifest(JSON.parse(manifestText), 'manifest.json');
  const norm = parseCacheConfig(JSON.parse(configText), 'config.json');
  const model = assembleCache({
    source: 'bench',
    variant: 'image-manifest',
    manifest: { mediaType: pm.mediaType, digest: null, size: manifestText.length, family: pm.family, inferred: pm.inferred },
    parsedManifest: pm,
    config: { mediaType: pm.config!.mediaType, digest: pm.config!.digest, size: configText.length, format: norm.format },
    norm,
    configFile: 'config.json',
  });
  return { model, view: toView(model, { present: () => false, orphans: null, layout: null }) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function runCase(c: Case, root: string): Promise<void> {
  const dir = join(root, c.label.replace(/\W+/g, '-'));
  const g = await generateCache(dir, {
    seed: c.label,
    stages: c.stages,
    layersPerStage: 1,
    layerBytes: 64,
    compression: 'gzip',
    form: 'image-manifest',
    records: c.records,
    layers: c.layers,
    withBlobs: false,
  });
  const manifestText = g.manifestJson;
  const configText = g.configJson;
  const sizes = `config ${(configText.length / MB).toFixed(1)} MB, manifest ${(manifestText.length / MB).toFixed(1)} MB`;
  parseGraphView(manifestText, configText); // warm-up (JIT)
  const times: number[] = [];
  let retained = 0;
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    const before = heap();
    const t0 = performance.now();
    const kept = parseGraphView(manifestText, configText);
    times.push(performance.now() - t0);
    peak = Math.max(peak, process.memoryUsage().heapUsed - before);
    retained = Math.max(retained, heap() - before);
    if (kept.view.records.length !== c.records) throw new Error(`expected ${c.records} records, got ${kept.view.records.length}`);
  }
  const ms = median(times);
  const verdict = ms <= c.targetMs && (c.targetMb === null || retained / MB <= c.targetMb) ? 'ok' : 'MISSED';
  const targets = c.targetMb === null ? `target ${c.targetMs} ms` : `targets ${c.targetMs} ms, ${c.targetMb} MB`;
  console.log(`parse+graph+view ${c.label}: ${ms.toFixed(0)} ms, heap +${(retained / MB).toFixed(0)} MB retained (+${(peak / MB).toFixed(0)} MB before gc) (${targets}) ${verdict}  [${sizes}; median of ${RUNS}]`);
  const e2e: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const view = await viewOf(await openCacheSource(dir));
    e2e.push(performance.now() - t0);
    if (view.records.length !== c.records) throw new Error('end-to-end view disagrees');
  }
  console.log(`  end to end (openCacheSource + viewOf from disk, blob presence and orphans included): ${median(e2e).toFixed(0)} ms`);
  // The generator's own view of what it wrote, to make sure the numbers are about the right thing.
  const text = await readFile(join(dir, 'index.json'), 'utf8');
  if (!text.includes(g.manifestDescriptor.digest)) throw new Error('index.json does not name the generated manifest');
}

async function main(): Promise<void> {
  if (!gc) console.log('(run with --expose-gc for heap numbers after garbage collection; they include garbage here)');
  const root = await mkdtemp(join(tmpdir(), 'cachescope-parse-bench-'));
  try {
    for (const c of CASES) await runCase(c, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
