#!/usr/bin/env node
// Runs the built CLI (dist/cli, made by `npm ci` through the prepare script or `npm run build`) when
// it is there and no source it was built from is newer; otherwise the sources through tsx, so a
// checkout being edited never runs a stale bundle. CACHESCOPE_CLI=source forces the sources,
// CACHESCOPE_CLI=built the bundle (the start-up bench).
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'cli', 'cachescope.mjs');

/** True when the bundle exists and every source listed in dist/cli/inputs.json is older (absent sources, as in a package, do not count). */
function bundleIsFresh() {
  let built;
  let inputs;
  try {
    built = statSync(bundle).mtimeMs;
    inputs = JSON.parse(readFileSync(join(root, 'dist', 'cli', 'inputs.json'), 'utf8'));
  } catch {
    return false;
  }
  for (const input of inputs) {
    const st = statSync(join(root, input), { throwIfNoEntry: false });
    if (st && st.mtimeMs > built) return false;
  }
  return true;
}

let main;
const wanted = process.env.CACHESCOPE_CLI;
if (wanted === 'built' || (wanted !== 'source' && bundleIsFresh())) {
  ({ main } = await import(pathToFileURL(bundle).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../electron/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
