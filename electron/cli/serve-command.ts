/** `cachescope serve [source] [--port N]`: browser mode on 127.0.0.1, behind a token printed in the URL. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheError } from '../../shared/contract/errors';
import { DEMO_CACHE_DIR, RENDERER_DIST, REPO_ROOT } from '../engine/paths';
import { createService } from '../engine/service';
import { parseSource } from '../engine/sources/source-ref';
import type { RunningServer } from '../server/server';
import { startServer } from '../server/server';
import { printHelp, wantsHelp } from './help';
import type { CommandIo } from './io';

export const SERVE_HELP = `usage: cachescope serve [source] [--port N]

Browser mode: serves the app's renderer and the engine on 127.0.0.1 only, behind a token printed in
the URL. Opens [source] (any source inspect takes), else the bundled demo cache. Ctrl-C stops it.

  --port N   the port to listen on (default: a free one)`;

export interface ServeArgs {
  source: string | null;
  port: number;
}

export function parseServeArgs(args: string[]): ServeArgs {
  let port = 0;
  let source: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') {
      const v = args[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) throw new CacheError('bad-request', `--port needs a number from 0 to 65535, got ${JSON.stringify(v ?? '')}`);
      port = Number(v);
    } else if (a.startsWith('--port=')) {
      return parseServeArgs([...args.slice(0, i), '--port', a.slice(7), ...args.slice(i + 1)]);
    } else if (a.startsWith('--')) {
      throw new CacheError('bad-request', `unknown option ${a}`);
    } else if (source === null) source = a;
    else throw new CacheError('bad-request', `unexpected argument ${a}`);
  }
  return { source, port };
}

/**
 * A local source that does not exist is refused before anything starts: a page opening on an error
 * helps nobody. A registry reference (sources/source-ref.ts decides) is checked when the page opens it.
 */
async function checkSourceExists(source: string): Promise<void> {
  const spec = parseSource(source); // throws for a string that is neither an existing path nor a reference
  if (spec.kind !== 'local') return;
  const ref = spec.ref;
  try {
    await stat(ref.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CacheError('not-found', `${source}: ${code === 'ENOENT' ? 'no such file or directory' : `cannot read it (${code ?? (err as Error).message})`}`, { path: ref.path });
  }
}

/** Starts browser mode and returns the running server (the command itself waits for a signal). */
export async function startBrowserMode(args: ServeArgs): Promise<RunningServer> {
  if (args.source !== null) await checkSourceExists(args.source);
  if (!existsSync(join(RENDERER_DIST, 'index.html'))) {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), 'renderer'], { stdio: 'inherit' });
    if (r.status !== 0) throw new CacheError('internal', 'building the renderer failed');
  }
  let server: RunningServer | null = null;
  const service = createService({
    startupSource: args.source ?? (existsSync(DEMO_CACHE_DIR) ? DEMO_CACHE_DIR : null),
    mode: 'browser',
    emit: (event, payload) => server?.emit(event, payload),
  });
  server = await startServer({ handlers: service, rendererDir: RENDERER_DIST, port: args.port });
  const close = server.close.bind(server);
  server.close = async () => {
    await service.dispose();
    await close();
  };
  return server;
}

export async function serveCommand(args: string[], io: CommandIo): Promise<number> {
  if (wantsHelp(args)) return printHelp(io, SERVE_HELP);
  const server = await startBrowserMode(parseServeArgs(args));
  io.out(`Cachescope browser mode: ${server.url}`);
  io.out('(bound to 127.0.0.1 only; the token in the URL is the key. Ctrl-C stops it.)');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
