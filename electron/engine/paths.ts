/** Where the checkout's own files are when running from source or from the built CLI (browser mode, tests). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout root: the nearest folder above this module holding package.json and bin/cachescope.mjs.
 * Searched, not counted: this file runs as electron/engine/paths.ts and inside dist/cli/chunks/.
 */
function findRoot(start: string): string {
  for (let dir = start; ; ) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'cachescope.mjs'))) return dir;
    const up = dirname(dir);
    if (up === dir) return join(start, '..', '..');
    dir = up;
  }
}

export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const DEMO_CACHE_DIR = join(REPO_ROOT, 'assets', 'demo-cache');
export const RENDERER_DIST = join(REPO_ROOT, 'dist', 'renderer');
