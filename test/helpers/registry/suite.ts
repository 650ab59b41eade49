/**
 * One real registry behind a counting proxy, a temp folder and (unless told not to) a RegistryClient,
 * started in a node:test `before` and stopped in an `after` of the suite that calls `registrySuite`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { startProxy } from './counting-proxy';
import type { CountingProxy, ProxyOptions } from './counting-proxy';
import { startRegistry } from './registry-server';
import type { RegistryOptions, RunningRegistry } from './registry-server';

export interface RegistrySuiteOptions {
  /** Options for startRegistry (default: no auth). */
  registry?: RegistryOptions;
  /** Options for startProxy in front of it (faults, …). */
  proxy?: ProxyOptions;
  /** The client's options, given the started proxy; `false`: no client (the suite makes its own). Default `{ env: {} }`. */
  client?: false | ((proxy: CountingProxy) => RegistryClientOptions);
  /** Point CACHESCOPE_CACHE_DIR at `<tmp>/process-cache` (the engine's per-process caches stay in the temp folder). */
  processCacheDir?: boolean;
  /** More setup inside the same `before`, once all is started (at file level a second `before` would not wait for this one). */
  setup?: (suite: RegistrySuite) => Promise<void>;
}

/** What the suite started; read inside tests or later hooks (each getter throws before `before` ran). */
export interface RegistrySuite {
  readonly registry: RunningRegistry;
  readonly proxy: CountingProxy;
  /** The temp folder, removed after the suite. */
  readonly tmp: string;
  readonly client: RegistryClient;
}

/** Registers before/after hooks that start and stop a registry + proxy + temp folder (`cachescope-<name>-…`) + client. */
export function registrySuite(name: string, options: RegistrySuiteOptions = {}): RegistrySuite {
  let registry: RunningRegistry | undefined;
  let proxy: CountingProxy | undefined;
  let tmp: string | undefined;
  let client: RegistryClient | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), `cachescope-${name}-`));
    if (options.processCacheDir) process.env.CACHESCOPE_CACHE_DIR = join(tmp, 'process-cache');
    registry = await startRegistry(options.registry);
    proxy = await startProxy(registry, options.proxy);
    if (options.client !== false) client = new RegistryClient(options.client ? options.client(proxy) : { env: {} });
    await options.setup?.(suite);
  });
  after(async () => {
    client?.close();
    await proxy?.stop();
    await registry?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true, maxRetries: 5 });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`registrySuite(${name}): ${what} is not started (read it inside a test or a later hook)`);
    return value;
  };
  const suite: RegistrySuite = {
    get registry() { return started(registry, 'the registry'); },
    get proxy() { return started(proxy, 'the proxy'); },
    get tmp() { return started(tmp, 'the temp folder'); },
    get client() { return started(client, options.client === false ? 'no client (client: false)' : 'the client'); },
  };
  return suite;
}
