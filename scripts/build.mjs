#!/usr/bin/env node
// Bundles every runnable piece with esbuild: main and preload (CJS, only `electron` external),
// the renderer (one ESM file plus CSS, and its JSON worker), the CLI and the server.
import { build } from 'esbuild';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// CACHESCOPE_DIST builds elsewhere (a test scans its own build of main and preload without touching dist/).
const dist = process.env.CACHESCOPE_DIST ?? join(root, 'dist');
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

/**
 * The CLI as ESM with a chunk per command, each loaded on first use, so `cachescope inspect` starts
 * without parsing the exporter, the server or the diff engine. dist/cli/inputs.json lists the sources
 * it was built from: bin/cachescope.mjs runs the bundle only while none of them is newer.
 */
async function buildCli() {
  const out = join(dist, 'cli');
  await rm(out, { recursive: true, force: true });
  const result = await build({
    ...node,
    format: 'esm',
    splitting: true,
    minify: true,
    absWorkingDir: root,
    entryPoints: { cachescope: join(root, 'electron/cli/main.ts') },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/'));
  await writeFile(join(out, 'inputs.json'), `${JSON.stringify(inputs, null, 1)}\n`);
}

const jobs = {
  cli: buildCli,
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
    // The Raw JSON worker: its own same-origin file next to app.js (the CSP's worker-src 'self';
    // no blob: or data: worker), a classic script so any Chromium can start it.
    await build({
      bundle: true,
      platform: 'browser',
      target: 'chrome120',
      format: 'iife',
      sourcemap: true,
      minify: true,
      logLevel: 'warning',
      // The record graph's layout worker is a second same-origin classic worker file, built the same way.
      entryPoints: { 'json-worker': join(root, 'renderer/src/json-worker.ts'), 'graph-layout-worker': join(root, 'renderer/src/graph-layout-worker.ts') },
      outdir: join(dist, 'renderer'),
    });
    await copyFile(join(root, 'renderer/index.html'), join(dist, 'renderer/index.html'));
    // The icon is a file, so the CSP needs no data: images.
    await copyFile(join(root, 'renderer/favicon.svg'), join(dist, 'renderer/favicon.svg'));
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
