/** A temp folder standing in for the user's docker config and per-user caches while a test runs browser mode in this process. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface UserDirs {
  /** The temp folder (DOCKER_CONFIG is `<tmp>/docker`, XDG_CACHE_HOME `<tmp>/xdg-cache`). */
  tmp: string;
  /** Puts DOCKER_CONFIG and XDG_CACHE_HOME back as they were and removes the temp folder. */
  restore(): Promise<void>;
}

/** Points DOCKER_CONFIG and XDG_CACHE_HOME into a new `cachescope-e2e-<name>-…` temp folder. */
export async function isolateUserDirs(name: string): Promise<UserDirs> {
  const saved = { DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
  const tmp = await mkdtemp(join(tmpdir(), `cachescope-e2e-${name}-`));
  // The server runs in this process: its engine reads docker's config and the per-user caches from here.
  process.env.DOCKER_CONFIG = join(tmp, 'docker');
  process.env.XDG_CACHE_HOME = join(tmp, 'xdg-cache');
  return {
    tmp,
    async restore() {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
