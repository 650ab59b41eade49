/**
 * The registry browser: a repository's tag rows, the two tags picked for a diff, the delete in
 * progress, and who we are logged in as. Secrets pass through here once, on their way to the engine
 * (which stores them through docker's helper or config file); nothing here keeps a password.
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { RegistryTagRow } from '../../../shared/contract/index';
import { api } from '../bridge';
import { cachesStore } from './caches-store';
import { diffStore } from './diff-store';
import { errorText, statusStore } from './status-store';

export interface RegistryState {
  /** What the user typed: `registry/repo`. */
  input: string;
  /** The repository the rows are of (normalised by the engine), or null. */
  repository: string | null;
  rows: RegistryTagRow[] | null;
  loading: boolean;
  error: string | null;
  /** Tags ticked for a diff, in the order ticked (A first). */
  picked: string[];
  /** A notice after a delete or a diff attempt. */
  notice: string | null;
  /** Registry → "logged in as" name, or null when not logged in (undefined: not asked yet). */
  loggedInAs: Record<string, string | null>;
  setInput(input: string): void;
  list(repository?: string): Promise<void>;
  togglePick(tag: string): void;
  /** Opens a tag as a cache (it becomes the active one). */
  openTag(row: RegistryTagRow): Promise<void>;
  /** Opens the two picked tags and diffs them (A = first picked). */
  diffPicked(): Promise<void>;
  /** Deletes the tag's manifest; resolves to the error text when refused. */
  deleteTag(tag: string, force: boolean): Promise<string | null>;
  refreshStatus(registry: string): Promise<void>;
  /** Resolves to the error text when the login is refused; the password is not kept. */
  login(registry: string, username: string, password: string): Promise<string | null>;
  logout(registry: string): Promise<void>;
}

/** The registry part of `registry/repo` (everything before the first slash), or '' when there is none. */
export function registryOf(repository: string): string {
  const text = repository.trim();
  const slash = text.indexOf('/');
  return slash > 0 ? text.slice(0, slash) : '';
}

export const registryStore = createStore<RegistryState>()((set, get) => ({
  input: '',
  repository: null,
  rows: null,
  loading: false,
  error: null,
  picked: [],
  notice: null,
  loggedInAs: {},
  setInput: (input) => set({ input }),
  async list(repository) {
    const name = (repository ?? get().input).trim();
    if (!name) return;
    set({ loading: true, error: null, notice: repository ? get().notice : null, input: name });
    try {
      const result = await statusStore.getState().track(`Listing tags of ${name}…`, api.request('listRegistryTags', { repository: name }));
      const present = new Set(result.rows.map((r) => r.tag));
      set((s) => ({ repository: result.repository, rows: result.rows, loading: false, picked: s.picked.filter((t) => present.has(t)) }));
    } catch (err) {
      set({ loading: false, error: errorText(err), rows: null, repository: null, picked: [] });
    }
    const registry = registryOf(name);
    if (registry && get().loggedInAs[registry] === undefined) void get().refreshStatus(registry);
  },
  togglePick(tag) {
    set((s) => {
      if (s.picked.includes(tag)) return { picked: s.picked.filter((t) => t !== tag) };
      // Two at most: a third tick replaces the older pick.
      return { picked: [...s.picked, tag].slice(-2) };
    });
  },
  async openTag(row) {
    const opened = await cachesStore.getState().open(row.source);
    if (opened) cachesStore.getState().setTab('overview');
  },
  async diffPicked() {
    const { picked, rows } = get();
    if (picked.length !== 2 || !rows) return;
    const [a, b] = picked.map((t) => rows.find((r) => r.tag === t)!);
    set({ notice: null });
    const find = (source: string) => cachesStore.getState().caches.find((c) => c.view.source === source) ?? null;
    const left = find(a.source) ?? (await cachesStore.getState().open(a.source, { activate: false }));
    const right = find(b.source) ?? (await cachesStore.getState().open(b.source, { activate: false }));
    if (!left || !right) {
      set({ notice: `Could not open ${!left ? a.source : b.source} to compare it (the error is shown above).` });
      return;
    }
    diffStore.getState().setA(left.cacheId);
    diffStore.getState().setB(right.cacheId);
    cachesStore.getState().setTab('diff');
    await diffStore.getState().run();
  },
  async deleteTag(tag, force) {
    const repository = get().repository;
    if (!repository) return 'no repository listed';
    try {
      const result = await statusStore.getState().track(`Deleting ${repository}:${tag}…`, api.request('deleteRegistryTag', { repository, tag, force }));
      set({ notice: `Deleted manifest ${result.digest} (${result.removedTags.length === 1 ? `tag ${tag}` : `tags ${result.removedTags.join(', ')}`}).` });
      await get().list(repository);
      return null;
    } catch (err) {
      return errorText(err);
    }
  },
  async refreshStatus(registry) {
    try {
      const { loggedInAs } = await api.request('registryStatus', { registry });
      set((s) => ({ loggedInAs: { ...s.loggedInAs, [registry]: loggedInAs } }));
    } catch {
      // A broken helper or config: the login form still works, and its answer says what is wrong.
      set((s) => ({ loggedInAs: { ...s.loggedInAs, [registry]: null } }));
    }
  },
  async login(registry, username, password) {
    try {
      const { loggedInAs } = await statusStore.getState().track(`Logging in to ${registry}…`, api.request('registryLogin', { registry, username, password }));
      set((s) => ({ loggedInAs: { ...s.loggedInAs, [registry]: loggedInAs } }));
      // A listing this registry refused is asked again with the new login.
      if (get().error && registryOf(get().input) === registry) void get().list();
      return null;
    } catch (err) {
      return errorText(err);
    }
  },
  async logout(registry) {
    try {
      await api.request('registryLogout', { registry });
    } catch (err) {
      statusStore.getState().report(`Could not log out of ${registry}`, err, 'registry-logout');
    }
    await get().refreshStatus(registry);
  },
}));

export function useRegistry<T>(selector: (s: RegistryState) => T): T {
  return useStore(registryStore, selector);
}
