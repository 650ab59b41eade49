/**
 * A failed export's message split for display: the engine's words (for a refused push, the
 * registry's own, verbatim) and the `meaning:` / `fix:` lines registry/push-advice.ts adds (also in
 * the error's details).
 */
import type { ContractError } from '../contract/errors';

export interface Explained {
  /** The message without the advice lines. */
  words: string;
  meaning: string | null;
  fix: string | null;
}

/** Splits the advice off a message; the details carry the same texts when the engine sent them. */
export function explainError(error: ContractError): Explained {
  const lines = error.message.split('\n');
  const advice = (key: string) => {
    const fromDetails = error.details?.[key];
    if (typeof fromDetails === 'string') return fromDetails;
    const line = lines.find((l) => l.trimStart().startsWith(`${key}: `));
    return line ? line.trimStart().slice(key.length + 2) : null;
  };
  const words = lines.filter((l) => !/^\s*(meaning|fix): /.test(l)).join('\n');
  return { words, meaning: advice('meaning'), fix: advice('fix') };
}
