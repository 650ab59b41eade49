/**
 * `docker login` / `docker logout` for Cachescope: credentials are proved against the registry first
 * (a `/v2/` ping answered with them: Basic, or a token from the registry's realm), then stored where
 * docker stores them (the configured credential helper, else `auths` in config.json, 0600, atomic).
 * Nothing here returns or prints a secret: callers get the user name only.
 */
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from './client';
import { DockerCredentialStore, StaticCredentialStore, convertToHostname } from './credentials';
import type { CredentialSource, CredentialStore } from './credentials';
import { parseReference } from './reference';
import { registerSecret } from './registry-error';

export interface LoginOptions {
  /** DOCKER_CONFIG, PATH (helpers), proxies and CA settings come from here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where to store (default: docker's own config). */
  store?: CredentialStore;
  /** Registries marked `registry.insecure=true`. */
  insecureRegistries?: Iterable<string>;
  signal?: AbortSignal;
}

export interface LoginResult {
  registry: string;
  loggedInAs: string;
  /** Where the credentials went (a helper's name, or the config file). */
  storedIn: CredentialSource;
  /** False when the registry asked for no credentials at all (they were stored anyway, as docker does). */
  verified: boolean;
}

/** The registry part of what the user typed: `host[:port]`, `https://host/…` (as docker accepts it), or Docker Hub's names. */
export function normaliseRegistry(input: string): string {
  const host = convertToHostname(input.trim());
  if (host === '') throw new CacheError('bad-request', 'name a registry (host[:port])', { field: 'registry' });
  // A repository name after it is checked by the reference parser; only its registry part is kept.
  const ref = parseReference(`${host}/probe`);
  if (ref.registry === 'docker.io' && !/^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io|registry\.hub\.docker\.com)$/i.test(host)) {
    throw new CacheError('bad-request', `${JSON.stringify(input)} is not a registry host (write host[:port], e.g. registry.example:5000)`, { field: 'registry' });
  }
  return ref.registry;
}

/** Proves `username`/`password` against `registry`, then stores them as docker would. */
export async function loginRegistry(registryInput: string, username: string, password: string, options: LoginOptions = {}): Promise<LoginResult> {
  registerSecret(password);
  if (username === '' || username.includes(':')) throw new CacheError('bad-request', 'the user name must be non-empty and contain no ":"', { field: 'username' });
  if (password === '') throw new CacheError('bad-request', 'the password is empty', { field: 'password' });
  const registry = normaliseRegistry(registryInput);
  const env = options.env ?? process.env;
  const client = new RegistryClient({
    env,
    credentials: new StaticCredentialStore({ [registry]: { username, password } }),
    insecureRegistries: options.insecureRegistries,
    // A login answers now or says why; it does not sit through five back-offs.
    retry: { maxRetries: 1 },
  });
  let verified: boolean;
  try {
    verified = (await client.ping(registry, { signal: options.signal })).authenticated;
  } catch (err) {
    if (err instanceof CacheError && err.code === 'forbidden') {
      throw new CacheError('forbidden', `login to ${registry} failed: the registry refused these credentials (${err.message})`, { registry });
    }
    throw err;
  } finally {
    client.close();
  }
  const store = options.store ?? new DockerCredentialStore({ env });
  const storedIn = await store.store(registry, { username, password }, options.signal);
  return { registry, loggedInAs: username, storedIn, verified };
}

/** Forgets the registry's credentials (helper and `auths`); false when there were none. */
export async function logoutRegistry(registryInput: string, options: Omit<LoginOptions, 'insecureRegistries'> = {}): Promise<{ registry: string; loggedOut: boolean }> {
  const registry = normaliseRegistry(registryInput);
  const store = options.store ?? new DockerCredentialStore({ env: options.env ?? process.env });
  const had = (await store.get(registry, options.signal).catch(() => null)) !== null;
  await store.erase(registry, options.signal);
  return { registry, loggedOut: had };
}

/** Who we are logged in as at `registry` ("<identity token>" for a token login), or null. */
export async function registryStatus(registryInput: string, options: Omit<LoginOptions, 'insecureRegistries'> = {}): Promise<{ registry: string; loggedInAs: string | null }> {
  const registry = normaliseRegistry(registryInput);
  const store = options.store ?? new DockerCredentialStore({ env: options.env ?? process.env });
  const creds = await store.get(registry, options.signal);
  if (!creds) return { registry, loggedInAs: null };
  return { registry, loggedInAs: creds.username || (creds.identityToken || creds.registryToken ? '<identity token>' : null) };
}
