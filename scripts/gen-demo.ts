/**
 * Writes the bundled demo cache (assets/demo-cache): a small, real BuildKit-shaped local cache export
 * with two generations in one folder, like a project built twice with `--cache-to type=local`:
 *   - an older export (revision 0) whose manifest and config stay in blobs/ but are no longer named by
 *     index.json (an orphan for `gc` and `diff` to find);
 *   - the current export (revision 1: the build context changed, so the COPY layer and what depends on
 *     it were rebuilt, the rest were cache hits and share their blobs), tagged `latest`.
 *
 *   node --import tsx scripts/gen-demo.ts [outDir]
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCache } from './cache-generator/generate';
import type { GenerateOptions } from './cache-generator/generate';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(repo, 'assets', 'demo-cache'));

const common: GenerateOptions = {
  seed: 'cachescope-demo',
  stages: 4,
  layersPerStage: 2,
  layers: 8, // 1 base layer + 7 ops, two of them the empty WORKDIR layer (one blob, two chain positions)
  baseLayers: 1,
  layerBytes: 3000,
  compression: 'gzip',
  form: 'image-manifest',
  tag: 'latest',
  withBlobs: true,
  startTime: '2026-05-19T05:07:51.603405567Z',
};

async function clearOldOutput(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => null);
  if (entries === null) return;
  // Only ever delete something that is a previous demo cache, never an arbitrary folder.
  const foreign = entries.filter((e) => !['blobs', 'index.json', 'oci-layout'].includes(e));
  if (foreign.length > 0) throw new Error(`${dir} holds other files (${foreign.join(', ')}); refusing to overwrite it`);
  await rm(dir, { recursive: true, force: true });
}

async function totalBytes(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    n += entry.isDirectory() ? await totalBytes(p) : (await stat(p)).size;
  }
  return n;
}

await clearOldOutput(outDir);
const older = await generateCache(outDir, { ...common, revision: 0, records: 18 });
const current = await generateCache(outDir, { ...common, revision: 1, records: 20 });
const blobs = await readdir(join(outDir, 'blobs', 'sha256'));
console.log(`demo cache written to ${outDir}`);
console.log(`  current manifest ${current.manifestDescriptor.digest} (tag latest): ${current.config.layers?.length} layer entries, ${current.config.records?.length} records`);
console.log(`  orphaned manifest ${older.manifestDescriptor.digest}: ${older.config.layers?.length} layer entries, ${older.config.records?.length} records`);
console.log(`  ${blobs.length} blobs, ${await totalBytes(outDir)} bytes in total`);
