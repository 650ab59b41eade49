/** The app's start and end: what it opens first, and the engine shut down before it quits. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface StartupContext {
  argv: string[];
  isPackaged: boolean;
  resourcesPath: string;
  /** Folder of the bundled main script (dist/main in a checkout, inside app.asar when packaged). */
  mainDir: string;
}

/** The bundled demo cache: an extraResource when packaged, assets/demo-cache in a checkout. */
export function demoCachePath(ctx: Pick<StartupContext, 'isPackaged' | 'resourcesPath' | 'mainDir'>): string {
  return ctx.isPackaged ? join(ctx.resourcesPath, 'demo-cache') : join(ctx.mainDir, '..', '..', 'assets', 'demo-cache');
}

/** The first non-flag argument after the app path, else the demo cache (null if even that is missing). */
export function startupSource(ctx: StartupContext): string | null {
  // argv is [electron, <app path>, ...user args] in a checkout and [app, ...user args] when packaged;
  // Chromium switches and macOS's -psn_… start with '-' and are skipped.
  const userArgs = ctx.argv.slice(ctx.isPackaged ? 1 : 2).filter((a) => a.length > 0 && !a.startsWith('-'));
  if (userArgs.length > 0) return userArgs[0];
  const demo = demoCachePath(ctx);
  return existsSync(demo) ? demo : null;
}

export interface QuittingApp {
  on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  quit(): void;
}

/**
 * Holds the first quit until the engine has cancelled its export jobs (so they clean up their
 * partial files and release the layout lock), then quits for real. Bounded by `timeoutMs`, so a
 * stuck job can delay quitting but never prevent it.
 */
export function disposeBeforeQuit(app: QuittingApp, dispose: () => Promise<void>, timeoutMs = 5000): void {
  let state: 'running' | 'disposing' | 'done' = 'running';
  app.on('before-quit', (event) => {
    if (state === 'done') return;
    event.preventDefault();
    if (state === 'disposing') return;
    state = 'disposing';
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    const disposed = dispose().catch((err: unknown) => console.error('cachescope: engine shutdown failed:', err));
    void Promise.race([disposed, deadline]).then(() => {
      clearTimeout(timer);
      state = 'done';
      app.quit();
    });
  });
}
