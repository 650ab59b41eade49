/**
 * Registry credentials exactly where and how the docker CLI finds them, so a machine that can
 * `docker pull` can open the same cache with no extra setup:
 *
 * 1. `DOCKER_AUTH_CONFIG` (a JSON string shaped like config.json): its `auths` entry for the
 *    registry, when there is one, wins;
 * 2. otherwise `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) decides which one
 *    store answers: `credHelpers[<key>]`, else `credsStore`, else its own `auths`. As in docker,
 *    the chosen store is the only one asked: a helper's "credentials not found" means anonymous.
 *
 * `<key>` is the registry as written (`host[:port]`), or `https://index.docker.io/v1/` for every
 * Docker Hub alias. Credentials stay in the engine: they never reach the renderer, logs or errors.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CacheError } from '../../../shared/contract/errors';
import { helperErase, helperGet, helperStore } from './credential-helper';
import { authKey, isDockerHub } from './reference';
import { registerSecret } from './registry-error';

/** What a registry login amounts to; at most one of the token forms is normally set. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token (docker's `identitytoken`; a helper's Username `<token>`). */
  identityToken?: string;
  /** A bearer token sent to the registry as it is (docker's `registrytoken`). */
  registryToken?: string;
}

/** Where a registry's credentials come from, for "logged in as … (via …)" messages. */
export type CredentialSource =
  | { kind: 'env'; variable: 'DOCKER_AUTH_CONFIG' }
  | { kind: 'helper'; helper: string; setting: 'credHelpers' | 'credsStore'; file: string }
  | { kind: 'file'; file: string }
  | { kind: 'static' }
  | { kind: 'none' };

/** Looks credentials up per registry and stores them on login; the registry client only calls `get`. */
export interface CredentialStore {
  /** The registry's credentials, or null for anonymous access. */
  get(registry: string, signal?: AbortSignal): Promise<RegistryCredentials | null>;
  /** Saves credentials where `docker login` would: the configured helper, else config.json `auths`. */
  store(registry: string, credentials: RegistryCredentials, signal?: AbortSignal): Promise<CredentialSource>;
  /** Forgets them, as `docker logout` does. */
  erase(registry: string, signal?: AbortSignal): Promise<void>;
  /** Which store answers for this registry. */
  source(registry: string): Promise<CredentialSource>;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

interface DockerConfigJson {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

export interface DockerCredentialOptions {
  /** Read for DOCKER_CONFIG, DOCKER_AUTH_CONFIG and PATH (helpers); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Home directory for `~/.docker` (default os.homedir()). */
  home?: string;
}

/** docker's `ConvertToHostname`: drops the scheme and any path, so `https://host/v1/` and `host` match. */
export function convertToHostname(key: string): string {
  let s = key;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  return s.split('/')[0];
}

function sameRegistry(a: string, b: string): boolean {
  const ha = convertToHostname(a).toLowerCase();
  const hb = convertToHostname(b).toLowerCase();
  return ha === hb || (isDockerHub(ha) && isDockerHub(hb));
}

function badConfig(file: string, field: string, problem: string): CacheError {
  return new CacheError('invalid-config', `${file}: ${field}: ${problem}`, { file, field });
}

function parseConfig(text: string, file: string): DockerConfigJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CacheError('invalid-json', `${file}: not valid JSON (${(err as Error).message.replace(/\s+/g, ' ')})`, { file });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badConfig(file, '(top level)', 'expected a JSON object');
  const config = parsed as DockerConfigJson;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null || Array.isArray(config.auths))) {
    throw badConfig(file, 'auths', 'expected an object keyed by registry');
  }
  if (config.credsStore !== undefined && typeof config.credsStore !== 'string') throw badConfig(file, 'credsStore', 'expected a helper name string');
  if (config.credHelpers !== undefined && (typeof config.credHelpers !== 'object' || config.credHelpers === null)) {
    throw badConfig(file, 'credHelpers', 'expected an object of registry → helper name');
  }
  return config;
}

/** Decodes one `auths` entry the way docker's config file loader does. */
export function decodeAuthEntry(entry: AuthEntry, file: string, key: string): RegistryCredentials {
  const field = `auths[${JSON.stringify(key)}]`;
  if (!entry || typeof entry !== 'object') throw badConfig(file, field, 'expected an object');
  const out: RegistryCredentials = {};
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw badConfig(file, `${field}.auth`, 'is not base64 of "username:password"');
    out.username = decoded.slice(0, colon);
    out.password = decoded.slice(colon + 1).replace(/\0+$/, '');
    registerSecret(entry.auth);
  } else {
    if (typeof entry.username === 'string' && entry.username) out.username = entry.username;
    if (typeof entry.password === 'string' && entry.password) out.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) out.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken) out.registryToken = entry.registrytoken;
  registerSecret(out.password);
  registerSecret(out.identityToken);
  registerSecret(out.registryToken);
  return out;
}

function isEmpty(c: RegistryCredentials): boolean {
  return !c.username && !c.password && !c.identityToken && !c.registryToken;
}

function findAuth(auths: Record<string, AuthEntry> | undefined, key: string): [string, AuthEntry] | null {
  if (!auths) return null;
  if (Object.prototype.hasOwnProperty.call(auths, key)) return [key, auths[key]];
  for (const k of Object.keys(auths)) if (sameRegistry(k, key)) return [k, auths[k]];
  return null;
}

/** Writes `text` to `file` through a temp file and a rename, mode 0600, so a crash never leaves half a config. */
async function writeFileAtomic0600(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  await chmod(tmp, 0o600);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The docker CLI's credential lookup; see the module comment. */
export class DockerCredentialStore implements CredentialStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly home: string;

  constructor(options: DockerCredentialOptions = {}) {
    this.env = options.env ?? process.env;
    this.home = options.home ?? homedir();
  }

  /** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  get configFile(): string {
    const dir = this.env.DOCKER_CONFIG || join(this.home, '.docker');
    return join(dir, 'config.json');
  }

  private async readConfig(): Promise<DockerConfigJson> {
    const file = this.configFile;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return {};
      throw new CacheError('io', `cannot read ${file}: ${code ?? (err as Error).message}`, { file });
    }
    if (text.trim() === '') return {};
    return parseConfig(text, file);
  }

  private envConfig(): DockerConfigJson | null {
    const text = this.env.DOCKER_AUTH_CONFIG;
    if (!text) return null;
    return parseConfig(text, 'DOCKER_AUTH_CONFIG');
  }

  private helperFor(config: DockerConfigJson, key: string): { helper: string; setting: 'credHelpers' | 'credsStore' } | null {
    const helpers = config.credHelpers ?? {};
    for (const [k, name] of Object.entries(helpers)) {
      if ((k === key || sameRegistry(k, key)) && typeof name === 'string' && name) return { helper: name, setting: 'credHelpers' };
    }
    if (config.credsStore) return { helper: config.credsStore, setting: 'credsStore' };
    return null;
  }

  async source(registry: string): Promise<CredentialSource> {
    const key = authKey(registry);
    const env = this.envConfig();
    if (env && findAuth(env.auths, key)) return { kind: 'env', variable: 'DOCKER_AUTH_CONFIG' };
    const config = await this.readConfig();
    const helper = this.helperFor(config, key);
    if (helper) return { kind: 'helper', helper: helper.helper, setting: helper.setting, file: this.configFile };
    if (findAuth(config.auths, key)) return { kind: 'file', file: this.configFile };
    return { kind: 'none' };
  }

  async get(registry: string, signal?: AbortSignal): Promise<RegistryCredentials | null> {
    const key = authKey(registry);
    const env = this.envConfig();
    const fromEnv = env ? findAuth(env.auths, key) : null;
    if (fromEnv) {
      const creds = decodeAuthEntry(fromEnv[1], 'DOCKER_AUTH_CONFIG', fromEnv[0]);
      return isEmpty(creds) ? null : creds;
    }
    const config = await this.readConfig();
    const helper = this.helperFor(config, key);
    if (helper) {
      const got = await helperGet(helper.helper, key, { env: this.env, signal });
      if (!got || (!got.Username && !got.Secret)) return null;
      if (got.Username === '<token>') return { identityToken: got.Secret };
      return { username: got.Username, password: got.Secret };
    }
    const found = findAuth(config.auths, key);
    if (!found) return null;
    const creds = decodeAuthEntry(found[1], this.configFile, found[0]);
    return isEmpty(creds) ? null : creds;
  }

  async store(registry: string, credentials: RegistryCredentials, signal?: AbortSignal): Promise<CredentialSource> {
    const key = authKey(registry);
    const config = await this.readConfig();
    const helper = this.helperFor(config, key);
    const auths = { ...(config.auths ?? {}) };
    const existing = findAuth(auths, key);
    if (existing) delete auths[existing[0]];
    if (helper) {
      const secret = credentials.identityToken ?? credentials.password ?? '';
      const username = credentials.identityToken ? '<token>' : (credentials.username ?? '');
      await helperStore(helper.helper, { ServerURL: key, Username: username, Secret: secret }, { env: this.env, signal });
      // docker keeps an empty entry so `docker info`/`logout` know the registry; the secret stays in the helper.
      auths[key] = {};
    } else {
      const entry: AuthEntry = {};
      if (credentials.username !== undefined || credentials.password !== undefined) {
        entry.auth = Buffer.from(`${credentials.username ?? ''}:${credentials.password ?? ''}`).toString('base64');
      }
      if (credentials.identityToken) entry.identitytoken = credentials.identityToken;
      if (credentials.registryToken) entry.registrytoken = credentials.registryToken;
      auths[key] = entry;
    }
    await writeFileAtomic0600(this.configFile, `${JSON.stringify({ ...config, auths }, null, '\t')}\n`);
    return helper ? { kind: 'helper', helper: helper.helper, setting: helper.setting, file: this.configFile } : { kind: 'file', file: this.configFile };
  }

  async erase(registry: string, signal?: AbortSignal): Promise<void> {
    const key = authKey(registry);
    const config = await this.readConfig();
    const helper = this.helperFor(config, key);
    if (helper) await helperErase(helper.helper, key, { env: this.env, signal });
    const found = findAuth(config.auths, key);
    if (!found) return;
    const auths = { ...(config.auths ?? {}) };
    delete auths[found[0]];
    await writeFileAtomic0600(this.configFile, `${JSON.stringify({ ...config, auths }, null, '\t')}\n`);
  }
}

/** A fixed set of credentials (tests, or a login form's answer before it is stored). */
export class StaticCredentialStore implements CredentialStore {
  private readonly byRegistry = new Map<string, RegistryCredentials>();
  constructor(entries: Record<string, RegistryCredentials> = {}) {
    for (const [k, v] of Object.entries(entries)) {
      this.byRegistry.set(authKey(k), v);
      registerSecret(v.password);
      registerSecret(v.identityToken);
      registerSecret(v.registryToken);
    }
  }
  async get(registry: string): Promise<RegistryCredentials | null> {
    return this.byRegistry.get(authKey(registry)) ?? null;
  }
  async store(registry: string, credentials: RegistryCredentials): Promise<CredentialSource> {
    this.byRegistry.set(authKey(registry), credentials);
    return { kind: 'static' };
  }
  async erase(registry: string): Promise<void> {
    this.byRegistry.delete(authKey(registry));
  }
  async source(registry: string): Promise<CredentialSource> {
    return this.byRegistry.has(authKey(registry)) ? { kind: 'static' } : { kind: 'none' };
  }
}
