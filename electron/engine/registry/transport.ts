/**
 * HTTP for the registry client: one place that knows TLS (certs.d, NODE_EXTRA_CA_CERTS, insecure
 * registries), proxies (CONNECT tunnels), bounded concurrency per host, retries with backoff and
 * Retry-After, redirects, idle timeouts and cancellation. Everything above it speaks URLs and statuses.
 *
 * Why node:http/https and not the global fetch: Node 20's fetch (undici) takes per-request TLS and
 * proxy settings only through a `dispatcher` built from the undici package, which Node does not
 * expose; node:https Agents take `ca`/`cert`/`key` per host and let us open CONNECT tunnels ourselves,
 * with no new dependency.
 *
 * Credentials: an `Authorization` header is sent only to the origin it was issued for (`authOrigin`);
 * a redirect to any other host or port (blob storage, a CDN) drops it, as docker and containerd do.
 */
import http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Readable } from 'node:stream';
import { CacheError } from '../../../shared/contract/errors';
import { HostLimiter } from './host-limiter';
import type { Release } from './host-limiter';
import { proxyAuthorization, proxyConfigFromEnv, proxyFor } from './proxy';
import type { ProxyConfig } from './proxy';
import { isLoopbackHost } from './reference';
import { displayUrl, networkError, scrub } from './registry-error';
import { DEFAULT_RETRY_POLICY, abortError, isRetryableError, isRetryableStatus, realClock, retryDelay } from './retry';
import type { Clock, RetryPolicy } from './retry';
import { defaultCertsDirs, loadHostTls } from './tls-config';
import type { HostTlsOptions } from './tls-config';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportOptions {
  /** Requests in flight per host (default 4, containerd's number). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  /** certs.d roots, in order (default /etc/docker/certs.d, ~/.docker/certs.d). */
  certsDirs?: string[];
  /** Where HTTP(S)_PROXY, NO_PROXY and NODE_EXTRA_CA_CERTS are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** `host[:port]`s whose certificates are not verified (BuildKit's `registry.insecure=true`). */
  insecureHosts?: ReadonlySet<string>;
  /** A connection with no bytes moving for this long is dropped and retried (default 30 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
  /** Told about every attempt (URL without query or user-info); for logs and tests. Never sees headers. */
  onRequest?: (event: RequestEvent) => void;
  /** Name resolution for direct connections (default: the system's); tests map names to loopback. */
  lookup?: LookupFunction;
}

export interface RequestEvent {
  method: HttpMethod;
  url: string;
  attempt: number;
  status?: number;
  error?: string;
  /** How long we wait before the next attempt, when we will retry. */
  retryInMs?: number;
}

/** A host slot and the settings for a GET made on a download thread (Transport.directSlot). */
export interface DirectSlot {
  tls?: { ca?: string | Buffer | (string | Buffer)[]; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  idleTimeoutMs: number;
  userAgent: string;
  release: Release;
}

export interface TransportRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
  /** Redirects to follow (blobs, tokens); 0 hands a 3xx back as it is. Default 0. */
  maxRedirects?: number;
  /** Retry network errors, 408, 429 and 5xx (default true). */
  retry?: boolean;
  /** `protocol//host:port` the Authorization header belongs to; any other origin gets no Authorization. */
  authOrigin?: string;
  /** What we are doing, for error messages (`GET manifest host/repo:tag`). */
  action: string;
}

export interface TransportResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: Readable;
  /** Reads the whole body (refusing more than maxBytes with CacheError 'too-large') and frees the slot. */
  bytes(maxBytes: number): Promise<Buffer>;
  text(maxBytes?: number): Promise<string>;
  /** Drops the body and frees the slot. */
  discard(): void;
}

const DEFAULT_ERROR_BODY_LIMIT = 64 << 10;
/** Bodies up to this size are read to their end when dropped, keeping the connection. */
const DISCARD_DRAIN_LIMIT = 64 << 10;

/** `https://host:port` with the port always written: two URLs share an origin iff these are equal. */
export function originOf(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.protocol}//${url.hostname}:${port}`;
}

function hostPortOf(url: URL): string {
  return url.port ? `${url.hostname}:${url.port}` : url.hostname;
}

/** Reads a stream to the end, at most `maxBytes`; more is CacheError('too-large') naming `what`. */
export async function readAll(body: Readable, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      body.destroy();
      throw new CacheError('too-large', `${what}: more than ${maxBytes} bytes`, { limit: maxBytes });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** A CONNECT-tunnelling agent: TLS to the registry runs inside a tunnel through an HTTP(S) proxy. */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const target = `${options.host ?? options.hostname}:${options.port}`;
    const headers: OutgoingHttpHeaders = { host: target };
    const auth = proxyAuthorization(this.proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const lib = this.proxy.protocol === 'https:' ? https : http;
    const req = lib.request({
      host: this.proxy.hostname.replace(/^\[|\]$/g, ''),
      port: this.proxy.port || (this.proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
    });
    const fail = (err: Error) => callback?.(err, undefined as unknown as Duplex);
    req.once('connect', (res: IncomingMessage, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        fail(new CacheError('io', `proxy ${displayUrl(this.proxy)} refused the tunnel to ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim(), { proxy: displayUrl(this.proxy) }));
        return;
      }
      const host = String(options.host ?? options.hostname ?? '');
      const servername = options.servername || (isIP(host) ? undefined : host);
      const tlsOptions: ConnectionOptions = { ...(options as ConnectionOptions), socket, servername };
      const secure = tlsConnect(tlsOptions);
      secure.once('secureConnect', () => callback?.(null, secure));
      secure.once('error', fail);
    });
    req.once('error', (err) => fail(err));
    req.end();
    return undefined;
  }
}

interface AgentEntry {
  agent: http.Agent;
  /** Set when requests go to the proxy with absolute URLs (plain-HTTP targets through a proxy). */
  viaProxy?: URL;
}

/** HTTP for registries: see the module comment. One per client; agents are pooled per host. */
export class Transport {
  private readonly limiter: HostLimiter;
  private readonly policy: RetryPolicy;
  private readonly clock: Clock;
  private readonly certsDirs: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly proxies: ProxyConfig;
  private readonly insecure: ReadonlySet<string>;
  private readonly idleTimeoutMs: number;
  private readonly lookup: LookupFunction | undefined;
  private readonly userAgent: string;
  private readonly onRequest?: (event: RequestEvent) => void;
  private readonly tlsByHost = new Map<string, Promise<HostTlsOptions>>();
  private readonly agents = new Map<string, Promise<AgentEntry>>();
  readonly concurrency: number;

  constructor(options: TransportOptions = {}) {
    this.concurrency = options.concurrency ?? 4;
    this.limiter = new HostLimiter(this.concurrency);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.clock = options.clock ?? realClock;
    this.env = options.env ?? process.env;
    this.certsDirs = options.certsDirs ?? defaultCertsDirs();
    this.proxies = proxyConfigFromEnv(this.env);
    this.insecure = options.insecureHosts ?? new Set();
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'cachescope';
    this.onRequest = options.onRequest;
    this.lookup = options.lookup;
  }

  /** Whether `hostPort` is marked insecure (certificate not verified, plain HTTP allowed). */
  isInsecure(hostPort: string): boolean {
    return this.insecure.has(hostPort);
  }

  /** Requests to `hostPort` in flight now. */
  inFlight(hostPort: string): number {
    return this.limiter.inFlight(hostPort);
  }

  /** Closes pooled connections; requests in flight finish first. */
  close(): void {
    for (const entry of this.agents.values()) void entry.then((e) => e.agent.destroy()).catch(() => undefined);
    this.agents.clear();
  }

  /**
   * What a download thread needs to GET `url` itself (registry/direct-download.ts): the TLS settings
   * this transport would use for its host, the idle timeout, and one of the host's request slots,
   * held until `release`. Null when the request must go through this transport: a proxy applies, or
   * names resolve through an injected lookup the thread cannot use.
   */
  async directSlot(url: URL, signal?: AbortSignal): Promise<DirectSlot | null> {
    if (this.lookup || proxyFor(this.proxies, url)) return null;
    const hostPort = hostPortOf(url);
    let tls: DirectSlot['tls'];
    if (url.protocol === 'https:') {
      const loaded = await this.hostTls(hostPort);
      tls = {};
      if (loaded.ca) tls.ca = loaded.ca;
      if (loaded.cert) {
        tls.cert = loaded.cert;
        tls.key = loaded.key;
      }
      if (this.insecure.has(hostPort)) tls.rejectUnauthorized = false;
    }
    const release = await this.limiter.acquire(hostPort, signal);
    let released = false;
    return {
      ...(tls ? { tls } : {}),
      idleTimeoutMs: this.idleTimeoutMs,
      userAgent: this.userAgent,
      release: () => {
        if (!released) {
          released = true;
          release();
        }
      },
    };
  }

  /** Reports a request made outside this transport (a download thread's GET) to `onRequest`. */
  reportRequest(event: RequestEvent): void {
    this.onRequest?.(event);
  }

  private hostTls(hostPort: string): Promise<HostTlsOptions> {
    let p = this.tlsByHost.get(hostPort);
    if (!p) {
      p = loadHostTls(hostPort, this.certsDirs, this.env);
      this.tlsByHost.set(hostPort, p);
      p.catch(() => this.tlsByHost.delete(hostPort));
    }
    return p;
  }

  private agentFor(url: URL): Promise<AgentEntry> {
    const hostPort = hostPortOf(url);
    const proxy = proxyFor(this.proxies, url);
    const key = `${url.protocol}//${hostPort}|${proxy ? originOf(proxy) : ''}`;
    let entry = this.agents.get(key);
    if (!entry) {
      entry = this.makeAgent(url, hostPort, proxy);
      this.agents.set(key, entry);
      entry.catch(() => this.agents.delete(key));
    }
    return entry;
  }

  private async makeAgent(url: URL, hostPort: string, proxy: URL | null): Promise<AgentEntry> {
    const common = { keepAlive: true, maxSockets: this.concurrency, scheduling: 'lifo' as const };
    if (url.protocol === 'http:') {
      if (!proxy) return { agent: new http.Agent(common) };
      const lib = proxy.protocol === 'https:' ? https : http;
      return { agent: new lib.Agent(common), viaProxy: proxy };
    }
    const tls = await this.hostTls(hostPort);
    const tlsOptions: https.AgentOptions = { ...common };
    if (tls.ca) tlsOptions.ca = tls.ca;
    if (tls.cert) {
      tlsOptions.cert = tls.cert;
      tlsOptions.key = tls.key;
    }
    if (this.insecure.has(hostPort)) tlsOptions.rejectUnauthorized = false;
    return { agent: proxy ? new TunnelAgent(proxy, tlsOptions) : new https.Agent(tlsOptions) };
  }

  /** One request with retries and redirects; see TransportRequest. The caller must consume or discard the body. */
  async request(req: TransportRequest): Promise<TransportResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    let method = req.method;
    let body = req.body;
    const maxRedirects = req.maxRedirects ?? 0;
    for (let redirects = 0; ; redirects++) {
      if (req.authOrigin && originOf(url) !== req.authOrigin) {
        delete headers.authorization;
        delete headers.Authorization;
      }
      const res = await this.withRetries({ ...req, url, headers, method, body });
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && res.status !== 304 && location && maxRedirects > 0) {
        res.discard();
        if (redirects >= maxRedirects) {
          throw new CacheError('io', scrub(`${req.action}: more than ${maxRedirects} redirects (last to ${displayUrl(new URL(location, url))})`), { host: url.host });
        }
        const next = new URL(location, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') {
          throw new CacheError('io', `${req.action}: redirect to unsupported scheme ${next.protocol}`, { host: url.host });
        }
        if (url.protocol === 'https:' && next.protocol === 'http:' && !isLoopbackHost(next.hostname) && !this.insecure.has(hostPortOf(url))) {
          throw new CacheError('io', scrub(`${req.action}: refused redirect from HTTPS to plain HTTP ${displayUrl(next)}`), { host: url.host });
        }
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = { ...headers };
          delete headers['content-type'];
          delete headers['content-length'];
        }
        url = next;
        continue;
      }
      return res;
    }
  }

  private async withRetries(req: TransportRequest): Promise<TransportResponse> {
    const retry = req.retry ?? true;
    for (let attempt = 0; ; attempt++) {
      if (req.signal?.aborted) throw abortError(req.signal);
      const display = displayUrl(req.url);
      let res: TransportResponse;
      try {
        res = await this.once(req);
      } catch (err) {
        if (req.signal?.aborted || (err as Error)?.name === 'AbortError') throw abortError(req.signal);
        const canRetry = retry && attempt < this.policy.maxRetries && isRetryableError(err);
        const wait = canRetry ? retryDelay(attempt, this.policy, this.clock) : undefined;
        this.onRequest?.({ method: req.method, url: display, attempt, error: scrub(String((err as Error)?.message ?? err)), retryInMs: wait });
        if (!canRetry) throw networkError(`${req.action} (${display})`, req.url.host, err);
        await this.clock.sleep(wait!, req.signal);
        continue;
      }
      const canRetry = retry && attempt < this.policy.maxRetries && isRetryableStatus(res.status);
      const wait = canRetry ? retryDelay(attempt, this.policy, this.clock, headerValue(res.headers['retry-after'])) : undefined;
      this.onRequest?.({ method: req.method, url: display, attempt, status: res.status, retryInMs: wait });
      if (!canRetry) return res;
      res.discard();
      await this.clock.sleep(wait!, req.signal);
    }
  }

  /** Exactly one HTTP exchange, holding a host slot until the body is consumed or dropped. */
  private async once(req: TransportRequest): Promise<TransportResponse> {
    const hostPort = hostPortOf(req.url);
    const release = await this.limiter.acquire(hostPort, req.signal);
    let released = false;
    const free: Release = () => {
      if (!released) {
        released = true;
        release();
      }
    };
    try {
      const { agent, viaProxy } = await this.agentFor(req.url);
      const message = await this.send(req, agent, viaProxy);
      message.once('close', free);
      message.once('end', free);
      message.once('error', free);
      const response: TransportResponse = {
        status: message.statusCode ?? 0,
        statusText: message.statusMessage ?? '',
        headers: message.headers,
        url: req.url,
        body: message,
        bytes: async (maxBytes: number) => {
          try {
            return await readAll(message, maxBytes, `${req.action} (${displayUrl(req.url)})`);
          } finally {
            free();
          }
        },
        text: async (maxBytes = DEFAULT_ERROR_BODY_LIMIT) => {
          try {
            return (await readAll(message, maxBytes, `${req.action} (${displayUrl(req.url)})`)).toString('utf8');
          } catch (err) {
            if (err instanceof CacheError && err.code === 'too-large') return '';
            throw err;
          } finally {
            free();
          }
        },
        discard: () => {
          // A body that is over, or small, is drained so the keep-alive socket is reused (a push makes
          // hundreds of requests); only a large unread body costs its connection.
          message.resume();
          const length = Number(message.headers['content-length']);
          const small = req.method === 'HEAD' || message.complete || (Number.isFinite(length) && length <= DISCARD_DRAIN_LIMIT);
          if (!small) message.destroy();
          free();
        },
      };
      if (req.method === 'HEAD') message.resume();
      return response;
    } catch (err) {
      free();
      throw err;
    }
  }

  private send(req: TransportRequest, agent: http.Agent, viaProxy: URL | undefined): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { 'user-agent': this.userAgent, ...req.headers };
      if (req.body) headers['content-length'] = String(req.body.length);
      const target = req.url;
      let options: http.RequestOptions;
      let lib: typeof http | typeof https = target.protocol === 'https:' ? https : http;
      if (viaProxy) {
        // Plain HTTP through a proxy: the request line carries the absolute URL.
        lib = viaProxy.protocol === 'https:' ? https : http;
        const auth = proxyAuthorization(viaProxy);
        if (auth) headers['proxy-authorization'] = auth;
        headers.host = target.host;
        options = {
          host: viaProxy.hostname.replace(/^\[|\]$/g, ''),
          port: viaProxy.port || (viaProxy.protocol === 'https:' ? 443 : 80),
          path: target.href,
          method: req.method,
          headers,
          agent,
          signal: req.signal,
        };
      } else {
        options = {
          host: target.hostname.replace(/^\[|\]$/g, ''),
          port: target.port || (target.protocol === 'https:' ? 443 : 80),
          path: `${target.pathname}${target.search}`,
          method: req.method,
          headers,
          agent,
          signal: req.signal,
          ...(this.lookup ? { lookup: this.lookup } : {}),
        };
      }
      const request = lib.request(options, (res) => {
        // A stall mid-body is a dropped connection: the socket timeout below destroys the response.
        resolve(res);
      });
      request.setTimeout(this.idleTimeoutMs, () => {
        const err = Object.assign(new Error(`no data for ${this.idleTimeoutMs} ms`), { code: 'ERR_REGISTRY_STALLED' });
        request.destroy(err);
      });
      request.once('error', reject);
      request.end(req.body);
    });
  }
}

/** The first value of a header that may repeat. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
