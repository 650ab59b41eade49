/** Failed requests (the global error banner) and requests in flight (loading states), for the whole window. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';

export interface ErrorNotice {
  id: number;
  /** Where the error came from (an action and its target); a newer error from the same source replaces the older one. */
  source: string;
  /** What was being done, e.g. `Could not open /x`. */
  context: string;
  message: string;
  /** The contract's error code, when the failure came from the engine. */
  code: string | null;
}

/** Something the user should know that is not a failure, e.g. a generation removed by gc. */
export interface InfoNotice {
  id: number;
  /** A newer notice with the same key replaces the older one. */
  key: string;
  text: string;
}

export interface StatusState {
  errors: ErrorNotice[];
  notices: InfoNotice[];
  /** Labels of slow requests in flight, by id. */
  busy: { id: number; label: string }[];
  /** Shows an error; `source` (default: the context) names where it came from, and one source shows one error. */
  report(context: string, err: unknown, source?: string): ErrorNotice;
  /** Takes back the error of a source that has since succeeded. */
  clearSource(source: string): void;
  dismiss(id: number): void;
  notify(key: string, text: string): InfoNotice;
  dismissNotice(id: number): void;
  dismissAll(): void;
  /** Shows `label` while `work` runs. */
  track<T>(label: string, work: Promise<T>): Promise<T>;
}

/** Message and code of anything thrown: the bridge throws errors that carry the contract's code. */
export function errorParts(err: unknown): { message: string; code: string | null } {
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; code?: unknown };
    const message = typeof e.message === 'string' && e.message ? e.message : String(err);
    return { message, code: typeof e.code === 'string' ? e.code : null };
  }
  return { message: String(err), code: null };
}

/** `message [code]`: readable, and the code says what kind of failure it was. */
export function errorText(err: unknown): string {
  const { message, code } = errorParts(err);
  return code ? `${message} [${code}]` : message;
}

let nextId = 1;
const MAX_ERRORS = 3;
const MAX_NOTICES = 4;

export const statusStore = createStore<StatusState>()((set) => ({
  errors: [],
  notices: [],
  busy: [],
  report(context, err, source = context) {
    const notice: ErrorNotice = { id: nextId++, source, context, ...errorParts(err) };
    // Banners must not pile up: the same source replaces its old error, and only the newest few stay.
    set((s) => ({ errors: [...s.errors.filter((e) => e.source !== source), notice].slice(-MAX_ERRORS) }));
    return notice;
  },
  clearSource: (source) => set((s) => (s.errors.some((e) => e.source === source) ? { errors: s.errors.filter((e) => e.source !== source) } : {})),
  dismiss: (id) => set((s) => ({ errors: s.errors.filter((e) => e.id !== id) })),
  dismissAll: () => set({ errors: [] }),
  notify(key, text) {
    const notice: InfoNotice = { id: nextId++, key, text };
    set((s) => ({ notices: [...s.notices.filter((n) => n.key !== key), notice].slice(-MAX_NOTICES) }));
    return notice;
  },
  dismissNotice: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
  async track(label, work) {
    const id = nextId++;
    set((s) => ({ busy: [...s.busy, { id, label }] }));
    try {
      return await work;
    } finally {
      set((s) => ({ busy: s.busy.filter((b) => b.id !== id) }));
    }
  },
}));

export function useStatus<T>(selector: (s: StatusState) => T): T {
  return useStore(statusStore, selector);
}
