/**
 * Fault functions for the counting proxy that make distribution answer like other registries do when they
 * reject a cache: the exact codes and texts from ../shared/docs/registries.md §1–2.
 */
import type { Fault, FaultContext, FaultFn } from './counting-proxy';

export type ImitatedRegistry = 'ecr' | 'gcr' | 'harbor' | 'quay' | 'gitea' | 'distribution3';

export interface ImitationOptions {
  /** ECR: a tag once pushed cannot be pushed again (TAG_INVALID). */
  immutableTags?: boolean;
  /** ECR: PATCH answers 201 instead of 202. */
  patch201?: boolean;
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
      return { kind: 'status', status: 400, body: errors('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { Digest: 'sha256:' + '0'.repeat(64) }) };
  }
}

export function imitateRegistry(kind: ImitatedRegistry, opts: ImitationOptions = {}): FaultFn {
  const pushedTags = new Set<string>();
  return (req: FaultContext) => {
    if (req.method === 'PATCH' && opts.patch201) return { kind: 'rewrite-status', status: 201 };
    const m = req.method === 'PUT' ? MANIFEST_PUT.exec(req.path) : null;
    if (!m) return undefined;
    const [, repo, reference] = m;
    const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
    if (INDEX_TYPES.has(mediaType)) return indexRejection(kind, mediaType, repo, reference);
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
