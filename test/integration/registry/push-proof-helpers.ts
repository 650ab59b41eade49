/**
 * The four registry setups of issue 9 as push targets (no auth, htpasswd, Bearer tokens, TLS through
 * certs.d), each behind a counting proxy, with credentials only in a docker config in a temp
 * DOCKER_CONFIG; plus what the push proofs compare: a cache's view without where it came from, the
 * blobs of a layout, and a CLI run whose every output line is kept for the password grep.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheView } from '../../../shared/cache/view-types';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

export type SetupKind = 'none' | 'htpasswd' | 'token' | 'tls';

export interface PushSetup {
  kind: SetupKind;
  registry: RunningRegistry;
  /** In front of the registry; every reference goes through it (`proxy.host`). */
  proxy: CountingProxy;
  host: string;
  /** The secret a grep must never find (null without auth). */
  password: string | null;
  /** `user:password` in base64, as config.json holds it (also never to be printed). */
  auth: string | null;
  /** DOCKER_CONFIG, HOME (for ~/.docker/certs.d) and the caches of CLI runs. */
  env: NodeJS.ProcessEnv;
  clientOptions: RegistryClientOptions;
  client: RegistryClient;
  access: RegistryAccess;
  stop(): Promise<void>;
}

/**
 * Starts one setup under `dir`. TLS: distribution serves HTTPS with a test CA, htpasswd on top (Basic
 * auth goes over TLS, as docker insists off loopback); the proxy in front serves HTTPS with the same
 * CA, trusted only through `<HOME>/.docker/certs.d/<proxy host>/ca.crt`.
 */
export async function startSetup(kind: SetupKind, dir: string): Promise<PushSetup> {
  const password = kind === 'none' ? null : `pw-${randomBytes(12).toString('hex')}`;
  const users = password ? { alice: password } : undefined;
  const registry = await startRegistry({ auth: kind === 'tls' ? 'htpasswd' : kind, tls: kind === 'tls', users });
  const proxy = await startProxy(registry, kind === 'tls' ? { tls: registry.ca } : {});
  const home = join(dir, 'home');
  const dockerConfig = join(dir, 'docker');
  await mkdir(dockerConfig, { recursive: true });
  const auth = password ? Buffer.from(`alice:${password}`).toString('base64') : null;
  await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: auth ? { [proxy.host]: { auth } } : {} }));
  const certsDirs: string[] = [];
  if (kind === 'tls') {
    const hostDir = join(home, '.docker', 'certs.d', proxy.host);
    await mkdir(hostDir, { recursive: true });
    const { copyFile } = await import('node:fs/promises');
    await copyFile(registry.ca!.caCert, join(hostDir, 'ca.crt'));
    certsDirs.push(join(home, '.docker', 'certs.d'));
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    DOCKER_CONFIG: dockerConfig,
    CACHESCOPE_CACHE_DIR: join(dir, 'cli-cache'),
    XDG_CACHE_HOME: join(dir, 'cli-xdg'),
    CACHESCOPE_CLI: 'source',
  };
  const clientOptions: RegistryClientOptions = { env, certsDirs: certsDirs.length ? certsDirs : [join(home, 'no-certs.d')] };
  const client = new RegistryClient(clientOptions);
  const access = createRegistryAccess({ client: clientOptions, blobCache: { root: join(dir, 'blob-cache') } });
  return {
    kind, registry, proxy, host: proxy.host, password, auth, env, clientOptions, client, access,
    async stop() {
      client.close();
      access.close();
      await proxy.stop();
      await registry.stop();
    },
  };
}

/** The view without what says where it came from (source string, layout folder, blob location, orphans). */
export function comparable(view: CacheView): unknown {
  const { source: _s, layout: _l, blobLocation: _b, orphans: _o, ...rest } = view;
  return { ...rest, warnings: rest.warnings.map((w) => ({ code: w.code, message: w.message })) };
}

/** `sha256:…` of every blob file in a layout. */
export function layoutBlobs(dir: string): string[] {
  const root = join(dir, 'blobs', 'sha256');
  return existsSync(root) ? readdirSync(root).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => `sha256:${f}`).sort() : [];
}

/** Runs the CLI (`bin/cachescope.mjs`), keeping stdout and stderr together. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

/** Blob bytes the proxy saw going up (PATCH bodies and blob PUT bodies). */
export function blobBytesUp(proxy: CountingProxy): number {
  return proxy.requests().filter((q) => q.method === 'PATCH' || (q.method === 'PUT' && q.path.includes('/blobs/'))).reduce((n, q) => n + q.bytesIn, 0);
}
