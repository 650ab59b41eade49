/**
 * Registry secrets typed into the GUI login form, kept by the main process and never handed to the
 * renderer (which only hears "logged in as …"). Where a secret goes, first match wins:
 *
 * 1. a docker credential helper configured for the registry (`credHelpers`/`credsStore`): the secret
 *    goes to the helper, as `docker login` would do;
 * 2. Electron's `safeStorage`, when `isEncryptionAvailable()` and it is backed by a real keyring:
 *    the entry is encrypted and written to one file under the app's userData (atomic, 0600);
 * 3. otherwise (no keyring, or Linux's `basic_text` backend, whose key is public) the secret is held
 *    in memory for this session only: never written anywhere in a form anyone could read back.
 *
 * Lookups ask DOCKER_AUTH_CONFIG and helpers first (docker's own precedence), then this session, then
 * the encrypted file, then the `auths` a `docker login` or `cachescope login` wrote, so a machine that
 * can `docker pull` needs no GUI login. The engine never imports electron: main builds this store and
 * hands it to the service as its `credentials`.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CacheError } from '../../shared/contract/errors';
import type { CredentialSource, CredentialStore, RegistryCredentials } from '../engine/registry/credentials';
import { authKey } from '../engine/registry/reference';
import { registerSecret } from '../engine/registry/registry-error';
import { makeDirs, writeFileAtomic } from '../engine/store/atomic-file';

/** The part of Electron's `safeStorage` used here (main passes the real one, tests a fake). */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: `basic_text` means a hard-coded key, i.e. no protection. */
  getSelectedStorageBackend?(): string;
}

export interface SafeStorageCredentialOptions {
  /** Electron's safeStorage; undefined (no Electron) counts as unavailable. */
  safeStorage: SafeStorageLike | undefined;
  /** The encrypted-entries file, e.g. `<userData>/registry-credentials.json`; a function so main asks app.getPath only on first use. */
  file: string | (() => string);
  /** docker's lookup (helpers, DOCKER_AUTH_CONFIG, config.json `auths`). */
  docker: CredentialStore;
}

/** What the file holds: per registry key, one safeStorage ciphertext (base64) of the whole credential JSON. */
interface EntriesFile {
  version: 1;
  entries: Record<string, string>;
}

const FILE_VERSION = 1;

/** See the module comment. */
export class SafeStorageCredentialStore implements CredentialStore {
  private readonly session = new Map<string, RegistryCredentials>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SafeStorageCredentialOptions) {}

  get file(): string {
    return typeof this.options.file === 'function' ? this.options.file() : this.options.file;
  }

  /** safeStorage with a real key behind it (a keyring, the macOS keychain, DPAPI). */
  encryptionUsable(): boolean {
    const s = this.options.safeStorage;
    if (!s) return false;
    try {
      if (!s.isEncryptionAvailable()) return false;
      return s.getSelectedStorageBackend?.() !== 'basic_text';
    } catch {
      return false;
    }
  }

  private async readEntries(): Promise<EntriesFile> {
    const file = this.file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: FILE_VERSION, entries: {} };
      throw new CacheError('io', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
    }
    try {
      const parsed = JSON.parse(text) as Partial<EntriesFile>;
      if (parsed.version !== FILE_VERSION || typeof parsed.entries !== 'object' || parsed.entries === null) throw new Error('unknown layout');
      return { version: FILE_VERSION, entries: { ...parsed.entries } };
    } catch {
      throw new CacheError('io', `${file} is not a Cachescope credentials file (field: entries); remove it to log in again`, { file, field: 'entries' });
    }
  }

  /** Read-modify-write under one queue, so two logins at once both land. */
  private update(change: (entries: Record<string, string>) => boolean): Promise<void> {
    const next = this.writes.then(async () => {
      const current = await this.readEntries();
      if (!change(current.entries)) return;
      const file = this.file;
      await makeDirs(dirname(file));
      await writeFileAtomic(file, `${JSON.stringify(current, null, 2)}\n`, { mode: 0o600 });
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  private decrypt(cipher: string): RegistryCredentials | null {
    const s = this.options.safeStorage;
    if (!s || !this.encryptionUsable()) return null;
    try {
      const creds = JSON.parse(s.decryptString(Buffer.from(cipher, 'base64'))) as RegistryCredentials;
      registerSecret(creds.password);
      registerSecret(creds.identityToken);
      registerSecret(creds.registryToken);
      return creds;
    } catch {
      // Another user's or another keyring's entry: as if there were none (a new login replaces it).
      return null;
    }
  }

  /** docker's own stores win where docker would ask them first. */
  private async dockerFirst(registry: string): Promise<CredentialSource | null> {
    const src = await this.options.docker.source(registry);
    return src.kind === 'env' || src.kind === 'helper' ? src : null;
  }

  async get(registry: string, signal?: AbortSignal): Promise<RegistryCredentials | null> {
    if (await this.dockerFirst(registry)) return this.options.docker.get(registry, signal);
    const key = authKey(registry);
    const held = this.session.get(key);
    if (held) return held;
    // An unreadable file must not take docker's own credentials away: it is reported on the next login.
    const cipher = (await this.readEntries().catch(() => null))?.entries[key];
    const stored = cipher ? this.decrypt(cipher) : null;
    if (stored) return stored;
    return this.options.docker.get(registry, signal);
  }

  async store(registry: string, credentials: RegistryCredentials, signal?: AbortSignal): Promise<CredentialSource> {
    registerSecret(credentials.password);
    registerSecret(credentials.identityToken);
    registerSecret(credentials.registryToken);
    const key = authKey(registry);
    const helper = await this.dockerFirst(registry);
    if (helper?.kind === 'helper') {
      const where = await this.options.docker.store(registry, credentials, signal);
      this.session.delete(key);
      await this.update((e) => (key in e ? (delete e[key], true) : false));
      return where;
    }
    if (this.encryptionUsable()) {
      const cipher = this.options.safeStorage!.encryptString(JSON.stringify(credentials)).toString('base64');
      await this.update((e) => ((e[key] = cipher), true));
      this.session.delete(key);
      return { kind: 'file', file: this.file };
    }
    // No real encryption here: keep it for this session only, and drop any older encrypted entry.
    this.session.set(key, credentials);
    await this.update((e) => (key in e ? (delete e[key], true) : false)).catch(() => undefined);
    return { kind: 'static' };
  }

  async erase(registry: string, signal?: AbortSignal): Promise<void> {
    const key = authKey(registry);
    this.session.delete(key);
    await this.update((e) => (key in e ? (delete e[key], true) : false));
    // As `docker logout`: the helper's and config.json's entries go too.
    await this.options.docker.erase(registry, signal);
  }

  async source(registry: string): Promise<CredentialSource> {
    const first = await this.dockerFirst(registry);
    if (first) return first;
    const key = authKey(registry);
    if (this.session.has(key)) return { kind: 'static' };
    if ((await this.readEntries().catch(() => null))?.entries[key]) return { kind: 'file', file: this.file };
    return this.options.docker.source(registry);
  }
}
