/** Failed requests (the global error banner) and requests in flight (loading states), for the whole window. */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';

export interface ErrorNotice {
  id: number;
  /** What was being done, e.g. `Could not open /x`. */
  context: string;
  message: string;
  /** The contract's error code, when the failure came from the engine. */
  code: string | null;
}

export interface StatusState {
  errors: ErrorNotice[];
  /** Labels of slow requests in flight, by id. */
  busy: { id: number; label: string }[];
  report(context: string, err: unknown): ErrorNotice;
  dismiss(id: number): void;
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
const MAX_ERRORS = 5;

export const statusStore = createStore<StatusState>()((set) => ({
  errors: [],
  busy: [],
  report(context, err) {
    const notice: ErrorNotice = { id: nextId++, context, ...errorParts(err) };
    set((s) => ({ errors: [...s.errors, notice].slice(-MAX_ERRORS) }));
    return notice;
  },
  dismiss: (id) => set((s) => ({ errors: s.errors.filter((e) => e.id !== id) })),
  dismissAll: () => set({ errors: [] }),
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
