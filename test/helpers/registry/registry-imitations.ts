/**
 * Fault functions for the counting proxy that make distribution answer like other registries do when they
 * reject a cache: the exact codes and texts from ../shared/docs/registries.md §1–2.
 */
import type { Fault, FaultContext, FaultFn } from './counting-proxy';

export type ImitatedRegistry = 'ecr' | 'gcr' | 'harbor' | 'quay' | 'gitea' | 'distribution3' | 'ghcr' | 'hub';

export interface ImitationOptions {
  /** ECR: a tag once pushed cannot be pushed again (TAG_INVALID). */
  immutableTags?: boolean;
  /** ECR: PATCH answers 201 instead of 202. */
  patch201?: boolean;
  /** GHCR without write_package: every upload start and manifest PUT → 403 `DENIED: permission_denied: write_package`. */
  denied?: boolean;
  /**
   * A token that does not carry push: every upload start and manifest PUT → 401 with a Bearer challenge
   * naming `error="insufficient_scope"` (the realm must be a real token server, so the client can ask again).
   */
  insufficientScope?: { realm: string; service: string };
  /** Docker Hub's rate limit: every upload start and manifest PUT → 429 `TOOMANYREQUESTS` with this Retry-After (seconds). */
  rateLimited?: { retryAfter: number };
  /** A proxy in front (nginx, Cloudflare): any blob PUT/PATCH body over this many bytes → `413 Request Entity Too Large`. */
  maxBodyBytes?: number;
  /** Cross-repository mounts (`POST …?mount=&from=`) refused with 403 `DENIED` (no read on the source); plain uploads pass. */
  refuseMounts?: boolean;
  /**
   * A registry with a minimum chunk size: every upload start (POST) answers with `OCI-Chunk-Min-Length: <n>`,
   * and a PATCH whose body is under n bytes is refused with 400 `SIZE_INVALID` (its last chunk included:
   * a client that honours the header sends the last chunk with the final PUT).
   */
  chunkMinLength?: number;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

const errors = (code: string, message: string, detail: unknown = null) => JSON.stringify({ errors: [{ code, message, detail }] });

const MANIFEST_PUT = /^\/v2\/(.+)\/manifests\/([^/?]+)$/;

/** What each registry answers to the PUT of an index-form cache (BuildKit's image-manifest=false). */
function indexRejection(kind: ImitatedRegistry, mediaType: string, repo: string, reference: string): Fault {
  switch (kind) {
    case 'ecr':
      return { kind: 'status', status: 400, body: errors('UNSUPPORTED', `Unsupported manifest type: "${mediaType}"`) };
    case 'gcr':
      return { kind: 'status', status: 400, body: errors('MANIFEST_INVALID', 'Image index child manifest not supported: application/vnd.oci.image.layer.v1.tar+gzip.') };
    case 'harbor':
      return { kind: 'status', status: 404, body: errors('NOT_FOUND', `artifact ${repo}:${reference} not found`) };
    case 'quay':
      return { kind: 'status', status: 400, body: errors('MANIFEST_INVALID', 'manifest invalid', { message: "'platform' is a required property" }) };
    case 'gitea':
      return { kind: 'status', status: 400, body: errors('MANIFEST_INVALID', 'manifest invalid', 'index entries must be image manifests') };
    case 'distribution3':
    case 'ghcr':
    case 'hub':
      return { kind: 'status', status: 400, body: errors('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { Digest: 'sha256:' + '0'.repeat(64) }) };
  }
}

const UPLOAD_START = /^\/v2\/(.+)\/blobs\/uploads\/(?:\?.*)?$/;
const UPLOAD_SESSION = /^\/v2\/.+\/blobs\/uploads\/[^/?]+/;

/** Refusals of a write (upload start or manifest PUT) that do not depend on what is written. */
function writeRefusal(opts: ImitationOptions, repo: string): Fault | undefined {
  if (opts.denied) return { kind: 'status', status: 403, body: errors('DENIED', 'permission_denied: write_package') };
  if (opts.insufficientScope) {
    const { realm, service } = opts.insufficientScope;
    return {
      kind: 'status',
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="${realm}",service="${service}",scope="repository:${repo}:pull,push",error="insufficient_scope"` },
      body: errors('UNAUTHORIZED', 'authentication required', [{ Type: 'repository', Class: '', Name: repo, Action: 'push' }]),
    };
  }
  if (opts.rateLimited) {
    return {
      kind: 'status',
      status: 429,
      headers: { 'retry-after': String(opts.rateLimited.retryAfter) },
      body: errors('TOOMANYREQUESTS', 'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit'),
    };
  }
  return undefined;
}

export function imitateRegistry(kind: ImitatedRegistry, opts: ImitationOptions = {}): FaultFn {
  const pushedTags = new Set<string>();
  return (req: FaultContext) => {
    if (req.method === 'PATCH' && opts.patch201) return { kind: 'rewrite-status', status: 201 };
    if (opts.maxBodyBytes !== undefined && (req.method === 'PATCH' || req.method === 'PUT') && UPLOAD_SESSION.test(req.path)) return { kind: 'too-large', maxBytes: opts.maxBodyBytes };
    const start = req.method === 'POST' ? UPLOAD_START.exec(req.path) : null;
    if (start && opts.refuseMounts && /[?&]mount=/.test(req.path)) return { kind: 'status', status: 403, body: errors('DENIED', 'requested access to the resource is denied') };
    if (start && opts.chunkMinLength !== undefined) return writeRefusal(opts, start[1]) ?? { kind: 'add-headers', headers: { 'oci-chunk-min-length': String(opts.chunkMinLength) } };
    if (opts.chunkMinLength !== undefined && req.method === 'PATCH' && UPLOAD_SESSION.test(req.path)) {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length < opts.chunkMinLength) return { kind: 'status', status: 400, body: errors('SIZE_INVALID', `chunk of ${length} bytes is smaller than OCI-Chunk-Min-Length ${opts.chunkMinLength}`) };
    }
    if (start) return writeRefusal(opts, start[1]);
    const m = req.method === 'PUT' ? MANIFEST_PUT.exec(req.path) : null;
    if (!m) return undefined;
    const [, repo, reference] = m;
    const refused = writeRefusal(opts, repo);
    if (refused) return refused;
    const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
    if (INDEX_TYPES.has(mediaType) && kind !== 'ghcr' && kind !== 'hub') return indexRejection(kind, mediaType, repo, reference);
    if (opts.immutableTags && !reference.startsWith('sha256:')) {
      const key = `${repo}:${reference}`;
      if (pushedTags.has(key)) {
        return { kind: 'status', status: 400, body: errors('TAG_INVALID', `The image tag '${reference}' already exists in the '${repo}' repository and cannot be overwritten because the repository is immutable.`) };
      }
      pushedTags.add(key);
    }
    return undefined;
  };
}

/** The first fault any of the functions picks. */
export function combineFaults(...fns: FaultFn[]): FaultFn {
  return (req) => {
    for (const fn of fns) {
      const f = fn(req);
      if (f) return f;
    }
    return undefined;
  };
}
