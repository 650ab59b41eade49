/** Where the per-user blob cache lives: the platform's cache folder, so the OS may clear it and backups skip it. */
import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';

/**
 * The blob cache folder for this user:
 *  - `CACHESCOPE_CACHE_DIR` set: `<it>/blobs` (one override for every platform, and for tests of the CLI);
 *  - Linux and other Unixes: `$XDG_CACHE_HOME/cachescope/blobs`, or `~/.cache/cachescope/blobs`
 *    (a relative XDG_CACHE_HOME is ignored, as the XDG spec says);
 *  - macOS: `~/Library/Caches/cachescope/blobs`;
 *  - Windows: `%LOCALAPPDATA%\cachescope\Cache\blobs`.
 */
export function defaultBlobCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  const path = platform === 'win32' ? win32 : posix;
  const override = env.CACHESCOPE_CACHE_DIR;
  if (override) return path.join(path.resolve(override), 'blobs');
  if (platform === 'darwin') return path.join(home, 'Library', 'Caches', 'cachescope', 'blobs');
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA && path.isAbsolute(env.LOCALAPPDATA) ? env.LOCALAPPDATA : path.join(home, 'AppData', 'Local');
    return path.join(local, 'cachescope', 'Cache', 'blobs');
  }
  const xdg = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(home, '.cache');
  return path.join(xdg, 'cachescope', 'blobs');
}
