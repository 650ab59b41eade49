#!/usr/bin/env node
// Bundles every runnable piece with esbuild: main and preload (CJS, only `electron` external),
// the renderer (one ESM file plus CSS), the CLI and the server.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const only = process.argv[2];

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // zstd-napi is a native N-API module: it is loaded at run time, never bundled.
  external: ['electron', 'zstd-napi'],
};

const jobs = {
  main: () =>
    build({ ...node, entryPoints: [join(root, 'electron/main/main.ts')], outfile: join(dist, 'main/main.cjs') }),
  preload: () =>
    build({
      ...node,
      platform: 'browser',
      target: 'chrome130',
      // A sandboxed preload can require only `electron`; everything else is bundled in.
      external: ['electron'],
      entryPoints: [join(root, 'electron/preload/preload.ts')],
      outfile: join(dist, 'preload/preload.cjs'),
    }),
  renderer: async () => {
    await build({
      bundle: true,
      platform: 'browser',
      target: 'chrome120',
      format: 'esm',
      sourcemap: true,
      minify: true,
      logLevel: 'warning',
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      entryPoints: { app: join(root, 'renderer/src/main.tsx') },
      outdir: join(dist, 'renderer'),
      loader: { '.svg': 'file', '.png': 'file' },
    });
    await copyFile(join(root, 'renderer/index.html'), join(dist, 'renderer/index.html'));
  },
};

const names = only ? [only] : Object.keys(jobs);
if (!only) await rm(dist, { recursive: true, force: true });
for (const name of names) {
  if (!jobs[name]) throw new Error(`unknown build target ${name}`);
  await mkdir(dist, { recursive: true });
  await jobs[name]();
}
console.log(`built ${names.join(', ')} into dist/`);
