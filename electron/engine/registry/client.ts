/**
 * The OCI distribution client: one `RegistryClient` per process (or per job) talks to any number of
 * registries with docker's credentials, tokens and TLS, and hands out only verified content. Uploads
 * (`pushBlob`, `mountBlob`, `putManifest`) live in uploads.ts and ask for `pull,push`, push first.
 *
 * Scheme: HTTPS always, except for loopback registries and registries marked insecure
 * (`registry.insecure=true`): those try HTTPS first and fall back to plain HTTP when the server does
 * not speak TLS at all, as docker does for insecure registries. A certificate error never downgrades.
 */
import { createHash } from 'node:crypto';
import type { LookupFunction } from 'node:net';
import type { Writable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheError } from '../../../shared/contract/errors';
import type { Descriptor } from '../../../shared/oci/types';
import { RegistryAuth, repositoryScope } from './auth';
import { VerifiedBlobStream } from './blobs';
import type { BlobResume } from './blobs';
import { DockerCredentialStore } from './credentials';
import type { CredentialStore } from './credentials';
import { nextLink } from './link-header';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, bareMediaType, checkManifest, checkManifestLength } from './manifests';
import type { FetchedManifest, ManifestInfo } from './manifests';
import { apiHost, formatReference, isLoopbackHost, parseReference, splitHostPort } from './reference';
import type { Reference, RepositoryRef } from './reference';
import { responseError } from './registry-error';
import { registryOrigins } from './registry-origins';
import { DEFAULT_RETRY_POLICY, realClock, retryDelay } from './retry';
import type { Clock, RetryPolicy } from './retry';
import { Transport, headerValue } from './transport';
import { closeIdleDirectConnections } from './direct-download';
import type { DirectGetPlan } from './direct-download';
import { displayUrl } from './registry-error';
import { mountBlob, pushBlob, putManifest } from './uploads';
import type { BlobPushResult, ManifestPutResult, MountResult, PushBlobOptions, UploadRequest } from './uploads';
import type { HttpMethod, RequestEvent, TransportResponse } from './transport';

export interface RegistryClientOptions {
  /** Where credentials come from (default: the docker CLI's config, read from `env`). */
  credentials?: CredentialStore;
  /** Registries (`host[:port]` as written in references) marked `registry.insecure=true`. */
  insecureRegistries?: Iterable<string>;
  /** Requests in flight per host (default 4). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** Fake time for tests: `now`, `sleep`, `random`. */
  clock?: Partial<Clock>;
  /** docker's certs.d roots (default /etc/docker/certs.d and ~/.docker/certs.d). */
  certsDirs?: string[];
  /** Proxies, DOCKER_CONFIG, DOCKER_AUTH_CONFIG, NODE_EXTRA_CA_CERTS and PATH are read here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** No bytes for this long on a connection counts as a dropped connection (default 30 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
  /** Every HTTP attempt, without headers, user-info or query strings. */
  onRequest?: (event: RequestEvent) => void;
  /** Name resolution for direct connections (default: the system's); tests map names to loopback. */
  lookup?: LookupFunction;
  /** Use the OAuth password grant for tokens (docker login's forceOAuth). */
  oauthPassword?: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface PingResult {
  /** The URL base that answered (`https://host:port` or, for loopback/insecure, maybe `http://…`). */
  base: string;
  /** What `/v2/` asked for: nothing, Basic or Bearer. */
  auth: 'none' | 'basic' | 'bearer';
  /** True when `/v2/` asked for auth and then answered 200 to ours (credentials, or an anonymous token). */
  authenticated: boolean;
}

export interface GetManifestOptions extends CallOptions {
  /** Refuse bigger manifests (default 4 MiB). */
  maxBytes?: number;
}

export interface OpenBlobOptions extends CallOptions {
  /** Continue a blob whose first bytes the caller already has (and hashed). */
  resume?: BlobResume;
  /** Told when a dropped connection is resumed with Range. */
  onResume?: (offset: number, reason: string) => void;
  /** The caller hashes every byte and refuses a mismatch itself (the blob cache): the stream skips its own hash. */
  callerVerifies?: boolean;
}

export interface FetchBlobOptions extends OpenBlobOptions {
  /** Bytes delivered so far (a resumed prefix included), after each chunk. */
  onProgress?: (bytes: number) => void;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

type BlobDescriptor = Pick<Descriptor, 'digest' | 'size'> & Partial<Descriptor>;

const TAGS_BODY_LIMIT = 16 << 20;
const MAX_TAG_PAGES = 10_000;
export const BLOB_REDIRECTS = 5;

function asReference(ref: Reference | string): Reference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** True only when the server does not speak TLS at all (a plain-HTTP answer to our hello), never for a TLS failure. */
function isNotTlsServer(err: unknown): boolean {
  const details = (err as CacheError)?.details;
  const errno = String(details?.errno ?? (err as NodeJS.ErrnoException)?.code ?? '');
  const message = String((err as Error)?.message ?? '');
  return errno === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(message);
}

/** See the module comment. */
/** A blob GET planned for a download thread (RegistryClient.directBlobGet). */
export interface DirectBlobGet {
  /** Where the GET goes (its query may hold a storage signature: never print it, use displayUrl). */
  url: URL;
  plan: DirectGetPlan;
  /** Gives the host's request slot back; call once the download has ended. */
  release: () => void;
  /** Tells `onRequest` what became of the GET. */
  report: (outcome: { status?: number; error?: string }) => void;
  /** The wait before the client asks again after this GET failed: the registry's Retry-After, else the first backoff. */
  pause: (retryAfter: string | undefined, signal: AbortSignal) => Promise<void>;
}

export class RegistryClient {
  readonly transport: Transport;
  readonly auth: RegistryAuth;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;
  private readonly insecure: Set<string>;
  private readonly schemes = new Map<string, 'https:' | 'http:'>();

  constructor(options: RegistryClientOptions = {}) {
    const env = options.env ?? process.env;
    this.clock = { ...realClock, ...options.clock };
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.insecure = new Set([...(options.insecureRegistries ?? [])].map((r) => r.toLowerCase()));
    this.transport = new Transport({
      concurrency: options.concurrency,
      retry: this.policy,
      clock: this.clock,
      certsDirs: options.certsDirs,
      env,
      insecureHosts: new Set([...this.insecure].map(apiHost)),
      idleTimeoutMs: options.idleTimeoutMs,
      userAgent: options.userAgent,
      onRequest: options.onRequest,
      lookup: options.lookup,
    });
    this.auth = new RegistryAuth({
      transport: this.transport,
      credentials: options.credentials ?? new DockerCredentialStore({ env }),
      clock: this.clock,
      oauthPassword: options.oauthPassword,
      ownOrigins: (registry) => registryOrigins(registry, this.mayUsePlainHttp(registry)),
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.transport.close();
    closeIdleDirectConnections();
  }

  private mayUsePlainHttp(registry: string): boolean {
    return isLoopbackHost(splitHostPort(apiHost(registry)).host) || this.insecure.has(registry.toLowerCase());
  }

  /** One authenticated request to `registry` at `path`, choosing the scheme as the module comment says. */
  private async call(
    registry: string,
    path: string,
    init: { method: HttpMethod; scopes: string[]; headers?: Record<string, string>; body?: Buffer; retry?: boolean; signal?: AbortSignal; maxRedirects?: number; action: string },
  ): Promise<TransportResponse> {
    const host = apiHost(registry);
    const known = this.schemes.get(host);
    const scheme = known ?? 'https:';
    const send = (s: string) => this.auth.send({ ...init, registry, url: new URL(`${s}//${host}${path}`) });
    try {
      const res = await send(scheme);
      this.schemes.set(host, scheme);
      return res;
    } catch (err) {
      if (known || scheme !== 'https:' || !this.mayUsePlainHttp(registry) || !isNotTlsServer(err)) throw err;
      const res = await send('http:');
      this.schemes.set(host, 'http:');
      return res;
    }
  }

  /** `GET /v2/`: is this a registry, what auth does it want, and do our credentials pass? */
  async ping(registry: string, options: CallOptions = {}): Promise<PingResult> {
    const res = await this.call(registry, '/v2/', { method: 'GET', scopes: [], signal: options.signal, action: `GET /v2/ on ${registry}` });
    const base = `${res.url.protocol}//${res.url.host}`;
    const challenge = this.auth.challengeFor(`${res.url.protocol}//${res.url.hostname}:${res.url.port || (res.url.protocol === 'https:' ? '443' : '80')}`);
    if (res.status === 200) {
      res.discard();
      return { base, auth: challenge ? (challenge.scheme === 'basic' ? 'basic' : 'bearer') : 'none', authenticated: !!challenge };
    }
    throw responseError({ action: `GET /v2/ on ${registry}`, status: res.status, statusText: res.statusText, body: await res.text(), host: registry });
  }

  /** GET a manifest (any OCI/Docker manifest or index), verified against every digest known. */
  async getManifest(ref: Reference | string, options: GetManifestOptions = {}): Promise<FetchedManifest> {
    const r = asReference(ref);
    const what = `GET manifest ${formatReference(r)}`;
    const res = await this.call(r.registry, `/v2/${r.repository}/manifests/${r.digest ?? r.tag}`, {
      method: 'GET',
      scopes: [repositoryScope(r.repository, 'pull')],
      headers: { accept: MANIFEST_ACCEPT },
      signal: options.signal,
      action: what,
    });
    if (res.status !== 200) throw this.answerError(what, r, res, await res.text());
    const limit = options.maxBytes ?? MAX_MANIFEST_BYTES;
    try {
      checkManifestLength(what, res.headers, limit);
    } catch (err) {
      res.discard();
      throw err;
    }
    const bytes = await res.bytes(limit);
    return checkManifest(what, bytes, res.headers, r.digest);
  }

  /** HEAD a manifest: its digest, type and size without the body, or null when the registry has none. */
  async headManifest(ref: Reference | string, options: CallOptions = {}): Promise<ManifestInfo | null> {
    const r = asReference(ref);
    const what = `HEAD manifest ${formatReference(r)}`;
    const res = await this.call(r.registry, `/v2/${r.repository}/manifests/${r.digest ?? r.tag}`, {
      method: 'HEAD',
      scopes: [repositoryScope(r.repository, 'pull')],
      headers: { accept: MANIFEST_ACCEPT },
      signal: options.signal,
      action: what,
    });
    res.discard();
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.answerError(what, r, res, '');
    const digest = headerValue(res.headers['docker-content-digest']) ?? r.digest;
    if (!digest) throw new CacheError('invalid-manifest', `${what}: the registry sent no Docker-Content-Digest; GET the manifest to learn its digest`, { field: 'Docker-Content-Digest' });
    if (r.digest && digest !== r.digest) {
      throw new CacheError('digest-mismatch', `${what}: Docker-Content-Digest says ${digest}, not the requested ${r.digest}`, { expected: r.digest, actual: digest, field: 'Docker-Content-Digest' });
    }
    return { digest, mediaType: bareMediaType(headerValue(res.headers['content-type'])), size: Number(headerValue(res.headers['content-length']) ?? -1) };
  }

  /** HEAD a blob: its size, or null when the repository does not have it. */
  async headBlob(repo: RepositoryRef, digest: string, options: CallOptions = {}): Promise<BlobInfo | null> {
    const what = `HEAD blob ${repo.registry}/${repo.repository}@${digest}`;
    const res = await this.call(repo.registry, `/v2/${repo.repository}/blobs/${digest}`, {
      method: 'HEAD',
      scopes: [repositoryScope(repo.repository, 'pull')],
      signal: options.signal,
      maxRedirects: BLOB_REDIRECTS,
      action: what,
    });
    res.discard();
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.answerError(what, repo, res, '');
    return { digest, size: Number(headerValue(res.headers['content-length']) ?? -1) };
  }

  /**
   * A verified stream of a blob: rejects at once when the registry refuses it (404, 401…); the
   * stream ends only after size and digest are proved, else it errors. Drops resume with Range.
   */
  async openBlob(repo: RepositoryRef, desc: BlobDescriptor, options: OpenBlobOptions = {}): Promise<VerifiedBlobStream> {
    const what = `GET blob ${repo.registry}/${repo.repository}@${desc.digest}`;
    const open = (offset: number, signal: AbortSignal) =>
      this.call(repo.registry, `/v2/${repo.repository}/blobs/${desc.digest}`, {
        method: 'GET',
        scopes: [repositoryScope(repo.repository, 'pull')],
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        signal: options.signal ? AbortSignal.any([options.signal, signal]) : signal,
        maxRedirects: BLOB_REDIRECTS,
        action: what,
      });
    const offset = options.resume?.offset ?? 0;
    const first = offset >= desc.size ? undefined : await open(offset, options.signal ?? new AbortController().signal);
    if (first && first.status !== 200 && first.status !== 206) throw this.answerError(what, repo, first, await first.text());
    return new VerifiedBlobStream(desc, open, { signal: options.signal, resume: options.resume, policy: this.policy, clock: this.clock, action: what, host: repo.registry, onResume: options.onResume, callerVerifies: options.callerVerifies === true }, first);
  }

  /**
   * A plan for GETting a blob on a download thread (direct-download.ts), holding one of the host's
   * request slots until `release`. Null when the transport must do it: the scheme is not learnt yet
   * (nothing was fetched from this registry), or a proxy or an injected lookup applies. The plan
   * carries the Authorization this client would send to that very origin now, and nothing else.
   */
  async directBlobGet(repo: RepositoryRef, desc: BlobDescriptor, signal?: AbortSignal): Promise<DirectBlobGet | null> {
    const host = apiHost(repo.registry);
    const scheme = this.schemes.get(host);
    if (!scheme) return null;
    const url = new URL(`${scheme}//${host}/v2/${repo.repository}/blobs/${desc.digest}`);
    // Auth first: a token fetch needs a request slot of its own.
    const auth = await this.auth.authorizationFor(repo.registry, url, [repositoryScope(repo.repository, 'pull')], signal);
    if (auth === null) return null;
    return this.directPlan(url, auth.value, signal);
  }

  /**
   * The next hop of a download thread's GET that was redirected to `location` (blob storage, a
   * CDN), or null to let the transport take it over: a scheme other than HTTP(S), HTTPS to plain
   * HTTP off loopback, or a host behind a proxy. As in the transport, the Authorization goes along
   * only while the hops stay on the origin it was issued for.
   */
  async directRedirect(from: DirectBlobGet, location: string, signal?: AbortSignal): Promise<DirectBlobGet | null> {
    let next: URL;
    try {
      next = new URL(location, from.url);
    } catch {
      return null;
    }
    if (next.protocol !== 'https:' && next.protocol !== 'http:') return null;
    if (from.url.protocol === 'https:' && next.protocol === 'http:' && !isLoopbackHost(next.hostname)) return null;
    const auth = next.origin === from.url.origin ? from.plan.headers.authorization : undefined;
    return this.directPlan(next, auth, signal);
  }

  private async directPlan(url: URL, authorization: string | undefined, signal?: AbortSignal): Promise<DirectBlobGet | null> {
    const slot = await this.transport.directSlot(url, signal);
    if (!slot) return null;
    const scheme = url.protocol === 'https:' ? 'https:' : 'http:';
    const tlsKey = slot.tls ? createHash('sha256').update(JSON.stringify(slot.tls)).digest('hex').slice(0, 16) : '';
    const plan: DirectGetPlan = {
      protocol: scheme,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(url.port || (scheme === 'https:' ? 443 : 80)),
      hostHeader: url.host,
      path: `${url.pathname}${url.search}`,
      headers: { 'user-agent': slot.userAgent, ...(authorization ? { authorization } : {}) },
      ...(slot.tls ? { tls: slot.tls } : {}),
      idleTimeoutMs: slot.idleTimeoutMs,
      connKey: `${scheme}//${url.host}|${tlsKey}`,
    };
    const display = displayUrl(url);
    return {
      url,
      plan,
      release: slot.release,
      report: (outcome) => this.transport.reportRequest({ method: 'GET', url: display, attempt: 0, ...outcome }),
      pause: (retryAfter, pauseSignal) => this.clock.sleep(retryDelay(0, this.policy, this.clock, retryAfter), pauseSignal),
    };
  }

  /** Streams a blob into `writable`; resolves only after the bytes are verified and the writable finished. */
  async fetchBlob(repo: RepositoryRef, desc: BlobDescriptor, writable: Writable, options: FetchBlobOptions = {}): Promise<BlobInfo> {
    const stream = await this.openBlob(repo, desc, options);
    const onProgress = options.onProgress;
    if (!onProgress) {
      await pipeline(stream, writable, { signal: options.signal });
    } else {
      let seen = stream.offset;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          seen += chunk.length;
          onProgress(seen);
          cb(null, chunk);
        },
      });
      await pipeline(stream, meter, writable, { signal: options.signal });
    }
    return { digest: desc.digest, size: desc.size };
  }

  /** A small blob (a cache config, an image config) read whole and verified. */
  async readBlob(repo: RepositoryRef, desc: BlobDescriptor, options: CallOptions & { maxBytes: number }): Promise<Buffer> {
    if (desc.size > options.maxBytes) {
      throw new CacheError('too-large', `blob ${desc.digest} is too large (${desc.size} > ${options.maxBytes})`, { size: desc.size, limit: options.maxBytes });
    }
    const stream = await this.openBlob(repo, desc, options);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Every tag of a repository, following `Link: <…>; rel="next"` pages. */
  async listTags(repo: RepositoryRef, options: CallOptions & { pageSize?: number } = {}): Promise<string[]> {
    const what = `GET tags of ${repo.registry}/${repo.repository}`;
    const tags: string[] = [];
    let path = `/v2/${repo.repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ''}`;
    for (let page = 0; page < MAX_TAG_PAGES; page++) {
      const res = await this.call(repo.registry, path, { method: 'GET', scopes: [repositoryScope(repo.repository, 'pull')], signal: options.signal, action: what });
      if (res.status !== 200) throw this.answerError(what, repo, res, await res.text());
      const body = (await res.bytes(TAGS_BODY_LIMIT)).toString('utf8');
      let parsed: { tags?: unknown };
      try {
        parsed = JSON.parse(body) as { tags?: unknown };
      } catch {
        throw new CacheError('invalid-json', `${what}: the answer is not JSON`, { field: 'tags' });
      }
      if (parsed.tags !== null && parsed.tags !== undefined && !Array.isArray(parsed.tags)) {
        throw new CacheError('invalid-json', `${what}: "tags" is not a list`, { field: 'tags' });
      }
      for (const t of (parsed.tags as unknown[] | null | undefined) ?? []) if (typeof t === 'string') tags.push(t);
      const next = nextLink(res.headers.link, res.url);
      if (!next) return tags;
      if (next.host !== res.url.host) throw new CacheError('io', `${what}: the next page is on another host (${next.host}); refusing to follow`, { host: repo.registry });
      path = `${next.pathname}${next.search}`;
    }
    throw new CacheError('io', `${what}: more than ${MAX_TAG_PAGES} pages`, { host: repo.registry });
  }

  /** `DELETE /v2/<name>/manifests/<digest>`; the registry's refusal (405 UNSUPPORTED…) verbatim. */
  async deleteManifest(repo: RepositoryRef, digest: string, options: CallOptions = {}): Promise<void> {
    const what = `DELETE manifest ${repo.registry}/${repo.repository}@${digest}`;
    const res = await this.call(repo.registry, `/v2/${repo.repository}/manifests/${digest}`, {
      method: 'DELETE',
      scopes: [repositoryScope(repo.repository, 'delete')],
      signal: options.signal,
      action: what,
    });
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      res.discard();
      return;
    }
    throw this.answerError(what, repo, res, await res.text());
  }

  /**
   * One authenticated request for uploads (uploads.ts): `target` is a path on the registry or an
   * upload `Location` already made absolute (it may carry distribution's signed `_state`). A Location
   * on another origin (blob storage) is followed without any Authorization (auth.ts `send`).
   */
  async uploadRequest(registry: string, target: string, init: UploadRequest): Promise<TransportResponse> {
    if (target.startsWith('/')) return this.call(registry, target, init);
    return this.auth.send({ ...init, registry, url: new URL(target) });
  }

  /** Uploads a local file as a blob unless the repository has it: HEAD, mount, monolithic or chunked PATCH (uploads.ts). */
  pushBlob(repo: RepositoryRef, desc: BlobDescriptor, file: string, options: PushBlobOptions = {}): Promise<BlobPushResult> {
    return pushBlob(this, repo, desc, file, options);
  }

  /** Cross-repository mount (`POST ?mount=&from=`): 201 mounted, else the upload session the registry opened (or none). */
  mountBlob(repo: RepositoryRef, digest: string, from: string, options: CallOptions = {}): Promise<MountResult> {
    return mountBlob(this, repo, digest, from, options);
  }

  /** `PUT /v2/<name>/manifests/<tag>` with its Content-Type; a refusal carries the registry's words and an explanation. */
  putManifest(ref: Reference | string, bytes: Buffer, mediaType: string, options: CallOptions = {}): Promise<ManifestPutResult> {
    return putManifest(this, asReference(ref), bytes, mediaType, options);
  }

  private answerError(what: string, repo: RepositoryRef, res: TransportResponse, body: string): CacheError {
    const err = responseError({ action: what, status: res.status, statusText: res.statusText, body, host: repo.registry });
    const challenge = headerValue(res.headers['www-authenticate']);
    if (res.status === 401 && challenge && /error="?insufficient_scope/.test(challenge)) {
      return new CacheError(err.code, `${err.message} (insufficient_scope)`, err.details);
    }
    return err;
  }
}

