/** Where the checkout's own files are when running from source (CLI, browser mode, tests). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_CACHE_DIR = join(REPO_ROOT, 'assets', 'demo-cache');
export const RENDERER_DIST = join(REPO_ROOT, 'dist', 'renderer');
