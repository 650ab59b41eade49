/**
 * Why a registry refused a push, in words a user can act on: the registry's own words stay verbatim
 * (they come first, from registry-error.ts), then what they mean and the fix (registries.md §2).
 */
import { CacheError } from '../../../shared/contract/errors';
import type { RepositoryRef } from './reference';
import type { RegistryErrorEntry } from './registry-error';

export interface RejectionContext {
  kind: 'blob' | 'manifest';
  repo: RepositoryRef;
  /** The manifest's Content-Type (manifest PUTs). */
  mediaType?: string;
  tag?: string | null;
  status?: number;
  /** The 401's WWW-Authenticate, for insufficient_scope. */
  challenge?: string;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** `meaning` and `fix` for a refusal, or null when there is nothing better to say than the registry's words. */
export function adviceFor(entries: RegistryErrorEntry[], ctx: RejectionContext): { meaning: string; fix: string } | null {
  const codes = new Set(entries.map((e) => e.code.toUpperCase()));
  const text = entries.map((e) => `${e.code} ${e.message ?? ''} ${typeof e.detail === 'string' ? e.detail : ''}`).join(' ');
  const where = `${ctx.repo.registry}/${ctx.repo.repository}`;
  if (codes.has('TAG_INVALID') || /immutable/i.test(text)) {
    return { meaning: `the tag ${ctx.tag ?? ''} already exists in ${where} and the repository does not let tags be overwritten (immutable tags)`.replace('  ', ' '), fix: 'export to a new tag (--opt tag=… or DEST:newtag), or allow tag overwrites on the repository' };
  }
  if (ctx.status === 413 || codes.has('SIZE_INVALID') && /large/i.test(text)) {
    return { meaning: 'the registry, or a proxy in front of it, refuses request bodies this large (413 Request Entity Too Large)', fix: 'raise the proxy\'s body limit (nginx client_max_body_size); Cachescope already halves its upload chunks down to 64 KiB' };
  }
  if (ctx.status === 429 || codes.has('TOOMANYREQUESTS')) {
    return { meaning: `${ctx.repo.registry} is rate-limiting this client (429 toomanyrequests) and retries did not get through`, fix: 'wait a while and run the export again; blobs already pushed are skipped' };
  }
  if ((ctx.status === 401 && /insufficient_scope/i.test(`${ctx.challenge ?? ''} ${text}`)) || codes.has('INSUFFICIENT_SCOPE')) {
    return { meaning: `the credentials for ${ctx.repo.registry} are not allowed to push to ${ctx.repo.repository} (insufficient_scope)`, fix: `log in with an account that has push rights on ${where} (cachescope login ${ctx.repo.registry}), or choose a repository you may write` };
  }
  if (ctx.status === 401 || codes.has('UNAUTHORIZED')) {
    return { meaning: `${ctx.repo.registry} wants credentials to push to ${ctx.repo.repository}`, fix: `log in first: cachescope login ${ctx.repo.registry}` };
  }
  if (ctx.status === 403 || codes.has('DENIED')) {
    return { meaning: `${ctx.repo.registry} denies this account write access to ${ctx.repo.repository}`, fix: 'ask for write (push) permission on the repository or package, or push to one you own' };
  }
  if (ctx.kind === 'manifest' && ctx.mediaType && INDEX_TYPES.has(ctx.mediaType)) {
    const indexRefusal = ['MANIFEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'UNSUPPORTED', 'NOT_FOUND', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN'];
    if (ctx.status === 404 || indexRefusal.some((c) => codes.has(c))) {
      return { meaning: 'this registry does not accept the index form of a cache manifest (an index whose entries are layers, not image manifests)', fix: 'export with image-manifest=true (--opt image-manifest=true), the form every registry accepts' };
    }
  }
  if (ctx.kind === 'manifest' && (codes.has('MANIFEST_BLOB_UNKNOWN') || codes.has('BLOB_UNKNOWN'))) {
    return { meaning: 'the registry does not find a blob the manifest names', fix: 'run the export again: every blob is pushed before the manifest' };
  }
  return null;
}

/** The error with `meaning:` and `fix:` lines added; the registry's words stay verbatim. */
export function explainRejection(err: CacheError, ctx: RejectionContext): CacheError {
  const entries = ((err.details?.registryErrors as RegistryErrorEntry[] | undefined) ?? []).map((e) => ({ ...e }));
  const advice = adviceFor(entries, ctx);
  if (!advice) return err;
  return new CacheError(err.code, `${err.message}\n  meaning: ${advice.meaning}\n  fix: ${advice.fix}`, { ...err.details, meaning: advice.meaning, fix: advice.fix });
}

/**
 * Any push failure the registry answered (HEAD, mount, POST, PATCH, PUT, manifest), explained once:
 * an error that already carries `meaning` (or has no registry status: a network or local failure)
 * is returned as it is.
 */
export function explainPushFailure(err: unknown, ctx: Omit<RejectionContext, 'status' | 'challenge'>): unknown {
  if (!(err instanceof CacheError) || err.details?.meaning !== undefined) return err;
  const tls = certificateAdvice(err, ctx.repo.registry);
  if (tls) return new CacheError(err.code, `${err.message}\n  meaning: ${tls.meaning}\n  fix: ${tls.fix}`, { ...err.details, ...tls });
  const status = err.details?.status;
  if (typeof status !== 'number' || status < 400) return err;
  // The client notes a Bearer challenge's insufficient_scope in the message (client.ts answerError).
  const challenge = /insufficient_scope/i.test(err.message) ? 'error="insufficient_scope"' : undefined;
  return explainRejection(err, { ...ctx, status, challenge });
}

/** Node's codes for a server certificate that cannot be verified. */
const CERTIFICATE_ERRNOS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A push that never reached the registry because its certificate is not trusted: the two ways docker and BuildKit offer. */
function certificateAdvice(err: CacheError, registry: string): { meaning: string; fix: string } | null {
  const errno = err.details?.errno;
  if (typeof errno !== 'string' || !CERTIFICATE_ERRNOS.has(errno)) return null;
  return {
    meaning: `the TLS certificate of ${registry} is not trusted here (${errno}), so nothing was sent to it`,
    fix: `trust its CA (put it in ~/.docker/certs.d/${registry}/ca.crt), or, for a registry you control, export with registry.insecure=true (type=registry,ref=${registry}/…,registry.insecure=true, or the dialog's insecure toggle)`,
  };
}
