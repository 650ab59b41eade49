/** The one error shape that crosses every boundary (IPC, HTTP, CLI JSON). */

export type ErrorCode =
  | 'bad-request'
  | 'not-found'
  | 'invalid-source'
  | 'invalid-json'
  | 'invalid-digest'
  | 'invalid-config'
  | 'invalid-manifest'
  | 'missing-blob'
  | 'digest-mismatch'
  | 'size-mismatch'
  | 'too-large'
  | 'unknown-tag'
  | 'invalid-options'
  | 'io'
  | 'locked'
  | 'cancelled'
  | 'forbidden'
  | 'internal';

export interface ContractError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ContractError };

/** An Error that carries a contract code, so handlers can turn it into a value without losing meaning. */
export class CacheError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CacheError';
    this.code = code;
    this.details = details;
  }
}

/** Turns anything thrown into the contract error shape; stack traces never leave the process. */
export function toContractError(err: unknown): ContractError {
  if (err instanceof CacheError) {
    return err.details ? { code: err.code, message: err.message, details: err.details } : { code: err.code, message: err.message };
  }
  if (err && typeof err === 'object' && 'name' in err && (err as Error).name === 'AbortError') {
    return { code: 'cancelled', message: 'cancelled' };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message };
}
