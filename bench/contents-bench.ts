/**
 * Listing a layer's files against the system tools, side by side in one run:
 *   - a ~1 GiB tar (20k files, half random and half text, so it compresses about 2:1) as gzip: cachescope
 *     vs `tar -tzf`; as zstd: cachescope vs `zstd -dc | tar -t`. Target: at least 0.9× their speed
 *     (a ratio ≥ 0.9 below), with bounded memory: each cachescope listing runs in its own process and
 *     prints its peak RSS;
 *   - the same listing through tar-stream (the reference parser the own header reader replaced);
 *   - the cost of a cached re-open (the listing read back from the per-user listing cache).
 * Medians of RUNS runs. Temp files are deleted at the end (CACHESCOPE_BENCH_KEEP=1 keeps them).
 * Run: `npm run bench contents` (or `node --import tsx bench/contents-bench.ts`). SIZE_MB=256 for a quick run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { pack as tarPack } from 'tar-stream';
import { listLayerFile } from '../electron/engine/contents/read-layer';
import { openListingCache } from '../electron/engine/contents/listing-cache';

const RUNS = Number(process.env.RUNS ?? 3);
const SIZE_MB = Number(process.env.SIZE_MB ?? 1024);
const FILES = 20_000;
const MB = 1 << 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Child mode: list one file and print {ms, rssMb, entries} (peak RSS of this process alone). */
async function child(file: string, hash: boolean, parser: 'own' | 'tar-stream'): Promise<void> {
  const t0 = performance.now();
  const listing = await listLayerFile(file, { hash, parser });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, rssMb: process.resourceUsage().maxRSS / 1024, entries: listing.entryCount }));
}

async function makeTar(file: string): Promise<void> {
  const pack = tarPack();
  const done = pipeline(pack, createWriteStream(file));
  const per = Math.floor((SIZE_MB * MB) / FILES);
  const text = Buffer.from('export function handler(event) { return { status: 200, body: JSON.stringify(event) }; }\n'.repeat(Math.ceil(per / 80))).subarray(0, per >> 1);
  for (let i = 0; i < FILES; i++) {
    const body = Buffer.concat([randomBytes(per - text.length), text]);
    await new Promise<void>((resolve, reject) => pack.entry({ name: `app/node_modules/pkg-${i % 500}/file-${i}.js`, size: body.length, mtime: new Date(1700000000000) }, body, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
}

function sh(cmd: string): number {
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return performance.now() - t0;
}

function listInChild(file: string, hash: boolean, parser: 'own' | 'tar-stream' = 'own'): Promise<{ ms: number; rssMb: number; entries: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', file, hash ? 'hash' : 'nohash', parser], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { ms: number; rssMb: number; entries: number }) : reject(new Error(`child exited ${code}`))));
  });
}

async function benchFormat(label: string, file: string, toolCmd: string): Promise<void> {
  const tool: number[] = [];
  const ours: { ms: number; rssMb: number }[] = [];
  const oursNoHash: { ms: number; rssMb: number }[] = [];
  const tarStream: { ms: number; rssMb: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so a neighbour's load hits both sides alike.
    tool.push(sh(toolCmd));
    ours.push(await listInChild(file, true));
    oursNoHash.push(await listInChild(file, false));
    tarStream.push(await listInChild(file, false, 'tar-stream'));
  }
  const t = median(tool);
  const o = median(ours.map((x) => x.ms));
  const n = median(oursNoHash.map((x) => x.ms));
  const size = (await stat(file)).size;
  console.log(`${label} (${(size / MB).toFixed(0)} MiB blob): ${toolCmd.replace(file, 'FILE')} ${t.toFixed(0)} ms`);
  console.log(`  cachescope list + diffID hash  ${o.toFixed(0)} ms  speed ratio ${(t / o).toFixed(2)}×  peak RSS ${Math.max(...ours.map((x) => x.rssMb)).toFixed(0)} MB`);
  console.log(`  cachescope list, no hash       ${n.toFixed(0)} ms  speed ratio ${(t / n).toFixed(2)}×  peak RSS ${Math.max(...oursNoHash.map((x) => x.rssMb)).toFixed(0)} MB  (the default when the cache states the diffID)`);
  const ts = median(tarStream.map((x) => x.ms));
  console.log(`  same through tar-stream         ${ts.toFixed(0)} ms  speed ratio ${(t / ts).toFixed(2)}×  peak RSS ${Math.max(...tarStream.map((x) => x.rssMb)).toFixed(0)} MB  (the reference parser)`);
}

async function benchMain(): Promise<void> {
  const dir = join(tmpdir(), `cachescope-contents-bench-${SIZE_MB}`);
  await mkdir(dir, { recursive: true });
  const tar = join(dir, 'layer.tar');
  try {
    if (!existsSync(`${tar}.gz`) || !existsSync(`${tar}.zst`)) {
      const t0 = performance.now();
      await makeTar(tar);
      sh(`gzip -1 -k -f -n ${tar}`);
      sh(`zstd -q -3 -f ${tar} -o ${tar}.zst`);
      await rm(tar);
      console.log(`made a ${SIZE_MB} MiB tar of ${FILES} files in ${((performance.now() - t0) / 1000).toFixed(1)} s (gzip -1, zstd -3)`);
    }
    console.log(`runs: ${RUNS}, medians; ratio = tool time / cachescope time (≥ 0.9 is the target)`);
    await benchFormat('gzip', `${tar}.gz`, `tar -tzf ${tar}.gz > /dev/null`);
    await benchFormat('zstd', `${tar}.zst`, `zstd -dc ${tar}.zst | tar -t > /dev/null`);

    const cache = openListingCache(join(dir, 'listings'));
    const listing = await listLayerFile(`${tar}.gz`);
    await cache.put(listing.diffID!, listing);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const hit = await cache.get(listing.diffID!);
      times.push(performance.now() - t0);
      if (!hit || hit.entryCount !== listing.entryCount) throw new Error('cached listing differs');
    }
    console.log(`cached re-open (${listing.entryCount} entries, listing file read + JSON.parse): median ${median(times).toFixed(1)} ms`);
  } finally {
    if (!process.env.CACHESCOPE_BENCH_KEEP) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4] === 'hash', process.argv[5] === 'tar-stream' ? 'tar-stream' : 'own');
else await benchMain();
