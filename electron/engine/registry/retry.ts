/**
 * When and how long to wait before trying a request again: exponential backoff with jitter, bounded,
 * and the server's own `Retry-After` honoured (seconds or an HTTP date). The clock, the sleep and the
 * randomness are injected so tests never wait and never depend on timing.
 */
import { CacheError } from '../../../shared/contract/errors';

export interface RetryPolicy {
  /** Retries after the first attempt (so at most maxRetries + 1 requests). */
  maxRetries: number;
  /** The first backoff; doubled per retry. */
  baseDelayMs: number;
  /** No single backoff is longer than this. */
  maxDelayMs: number;
  /** A `Retry-After` longer than this is cut to it (containers/image waits at most 60 s). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 5, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/** What time is and how to wait: real by default, fake in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export function abortError(signal?: AbortSignal): Error {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const realClock: Clock = { now: () => Date.now(), sleep: realSleep, random: Math.random };

/** Statuses worth another try: timeouts, rate limits and server faults (not 501/505, which never heal). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const RETRYABLE_ERRNO = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ERR_REGISTRY_STALLED', 'ERR_REGISTRY_TRUNCATED',
]);

/** Network failures worth another try; TLS and DNS-name errors are not (they will not heal by waiting). */
export function isRetryableError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  if ((err as Error).name === 'AbortError' || err instanceof CacheError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && RETRYABLE_ERRNO.has(code)) return true;
  return /socket hang up|premature close|aborted/i.test(String((err as Error).message)) && code !== 'ABORT_ERR';
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined | null, now: number): number | null {
  if (value === undefined || value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.max(0, when - now);
}

/** The wait before retry number `retry` (0-based): half fixed, half random ("equal jitter"). */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The wait before retry `retry`, preferring the server's Retry-After (capped) over our own backoff. */
export function retryDelay(retry: number, policy: RetryPolicy, clock: Clock, retryAfter?: string | null): number {
  const asked = parseRetryAfter(retryAfter, clock.now());
  if (asked !== null) return Math.min(asked, policy.maxRetryAfterMs);
  return backoffDelay(retry, policy, clock.random);
}
