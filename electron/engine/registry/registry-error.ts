/**
 * Turning registry answers into CacheErrors: the registry's own words (`errors[].code`, `message`,
 * `detail`) verbatim, the HTTP status, and never a credential. Every message built in this folder
 * passes through `scrub` so a secret that leaked into a body or URL is cut out before anyone sees it.
 */
import { CacheError } from '../../../shared/contract/errors';
import type { ErrorCode } from '../../../shared/contract/errors';

/** One entry of the distribution spec's error body. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Secrets this process knows about (passwords, tokens); registered by whoever reads them. */
const knownSecrets = new Set<string>();

/** Remembers a secret so `scrub` removes it from any text; short strings are skipped (they would mangle words). */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 4) knownSecrets.add(secret);
}

/** Cuts credentials out of a text: known secrets, URL user-info, query strings (signed URLs), auth headers. */
export function scrub(text: string): string {
  let out = text;
  for (const secret of knownSecrets) out = out.split(secret).join('***');
  out = out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s"']*@/gi, '$1***@');
  out = out.replace(/(https?:\/\/[^\s"'?#]*)\?[^\s"']*/gi, '$1?…');
  out = out.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 ***');
  return out;
}

/** A URL for messages: no user-info and no query (blob-storage URLs carry signatures there). */
export function displayUrl(url: URL | string): string {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  const query = u.search ? '?…' : '';
  u.search = '';
  u.hash = '';
  return `${u.toString()}${query}`;
}

/** Reads the distribution error body; tolerant of registries that answer HTML or plain text. */
export function parseRegistryErrors(body: string): RegistryErrorEntry[] {
  try {
    const parsed = JSON.parse(body) as unknown;
    const list = (parsed as { errors?: unknown })?.errors;
    if (Array.isArray(list)) {
      return list
        .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
        .map((e) => ({ code: String(e.code ?? 'UNKNOWN'), message: typeof e.message === 'string' ? e.message : undefined, detail: e.detail }));
    }
    // Token servers and some registries answer {"error": "...", "error_description": "..."} or {"code","message"}.
    const single = parsed as Record<string, unknown>;
    if (single && typeof single === 'object') {
      if (typeof single.code === 'string') return [{ code: single.code, message: typeof single.message === 'string' ? single.message : undefined }];
      if (typeof single.error === 'string') {
        return [{ code: single.error, message: typeof single.error_description === 'string' ? single.error_description : undefined }];
      }
      if (typeof single.details === 'string') return [{ code: 'UNKNOWN', message: single.details }];
    }
  } catch {
    /* not JSON: the caller shows the text itself */
  }
  return [];
}

/** `CODE: message (detail)` per entry, as the registry wrote them. */
export function formatRegistryErrors(entries: RegistryErrorEntry[]): string {
  return entries
    .map((e) => {
      const detail = e.detail === undefined || e.detail === null ? '' : ` (${typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail)})`;
      return `${e.code}${e.message ? `: ${e.message}` : ''}${detail}`;
    })
    .join('; ');
}

/** Which contract code a registry status means to a user. */
export function codeForStatus(status: number, entries: RegistryErrorEntry[]): ErrorCode {
  const codes = new Set(entries.map((e) => e.code));
  if (status === 401 || status === 403) return 'forbidden';
  if (codes.has('MANIFEST_UNKNOWN') || codes.has('BLOB_UNKNOWN') || codes.has('NAME_UNKNOWN') || status === 404) return 'not-found';
  if (status === 413 || codes.has('SIZE_INVALID')) return 'too-large';
  if (codes.has('DIGEST_INVALID')) return 'digest-mismatch';
  if (status === 400 || status === 405 || status === 416) return 'bad-request';
  return 'io';
}

export interface ResponseErrorContext {
  /** What we were doing, e.g. `GET manifest registry.example/repo:tag`. */
  action: string;
  status: number;
  statusText?: string;
  body: string;
  host: string;
}

/** The error for an unsuccessful answer: the action, the status, and the registry's words verbatim. */
export function responseError(ctx: ResponseErrorContext): CacheError {
  const entries = parseRegistryErrors(ctx.body);
  const words = entries.length ? formatRegistryErrors(entries) : ctx.body.trim().slice(0, 500);
  const status = `${ctx.status}${ctx.statusText ? ` ${ctx.statusText}` : ''}`;
  const message = scrub(`${ctx.action}: ${status}${words ? `: ${words}` : ''}`);
  const details: Record<string, unknown> = { host: ctx.host, status: ctx.status };
  if (entries.length) details.registryErrors = entries.map((e) => ({ code: e.code, message: e.message === undefined ? undefined : scrub(e.message) }));
  return new CacheError(codeForStatus(ctx.status, entries), message, details);
}

/** A network-level failure (reset, refused, TLS) with the host and the system's own code. */
export function networkError(action: string, host: string, err: unknown): CacheError {
  if (err instanceof CacheError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code;
  const detail = code && !String(e.message).includes(code) ? `${code}: ${e.message}` : String(e?.message ?? err);
  return new CacheError('io', scrub(`${action}: ${detail}`), { host, ...(code ? { errno: code } : {}) });
}
