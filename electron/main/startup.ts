/** What the app opens first: the first non-flag argument, else the bundled demo cache. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface StartupContext {
  argv: string[];
  isPackaged: boolean;
  resourcesPath: string;
  /** Folder of the bundled main script (dist/main in a checkout). */
  mainDir: string;
}

export function demoCachePath(ctx: Pick<StartupContext, 'isPackaged' | 'resourcesPath' | 'mainDir'>): string {
  return ctx.isPackaged ? join(ctx.resourcesPath, 'demo-cache') : join(ctx.mainDir, '..', '..', 'assets', 'demo-cache');
}

export function startupSource(ctx: StartupContext): string | null {
  // argv: [electron, (app path when not packaged), ...user args]
  const userArgs = ctx.argv.slice(ctx.isPackaged ? 1 : 2).filter((a) => !a.startsWith('-'));
  if (userArgs.length > 0) return userArgs[0];
  const demo = demoCachePath(ctx);
  return existsSync(demo) ? demo : null;
}
