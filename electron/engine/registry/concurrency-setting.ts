/**
 * How many requests may be in flight to one registry host, as users set it: the environment variable
 * CACHESCOPE_REGISTRY_CONCURRENCY (CLI and app alike) or the CLI's `--registry-concurrency N`, which
 * wins over it. Unset means the client's default (4, containerd's).
 */
import { CacheError } from '../../../shared/contract/errors';

export const REGISTRY_CONCURRENCY_ENV = 'CACHESCOPE_REGISTRY_CONCURRENCY';
/** More than this many connections to one host only trips rate limits. */
export const MAX_REGISTRY_CONCURRENCY = 64;

/** `text` as a limit, or a bad-request error naming `what` (the variable or the flag) and the range. */
export function parseRegistryConcurrency(text: string, what: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_REGISTRY_CONCURRENCY) {
    throw new CacheError('bad-request', `${what} must be an integer from 1 to ${MAX_REGISTRY_CONCURRENCY} (requests in flight per registry host), not ${JSON.stringify(text)}`, { field: what });
  }
  return n;
}

/** The limit CACHESCOPE_REGISTRY_CONCURRENCY sets in `env`, or undefined when it is unset or empty. */
export function registryConcurrencyFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env[REGISTRY_CONCURRENCY_ENV];
  if (text === undefined || text === '') return undefined;
  return parseRegistryConcurrency(text, REGISTRY_CONCURRENCY_ENV);
}

