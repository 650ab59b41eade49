/**
 * Registry authentication, following the distribution token spec and docker's client: a request goes
 * out with what we already know about its host; a 401 teaches us the host's challenge
 * (`WWW-Authenticate`), and we answer it once: Basic with the docker credentials, or a Bearer token
 * for exactly the request's scopes from the challenge's realm (anonymous, Basic-authenticated GET, or
 * the OAuth POST for identity tokens with docker's fallback to GET on 404/401/405).
 *
 * Why no ping before every host: a registry without auth then costs one request instead of two, and
 * one with auth costs the same three (401, token, retry) as docker's ping-first flow.
 *
 * Credentials belong to the registry's own origins (registry-origins.ts): a challenge is learnt only
 * from them, so Basic answers and token-realm exchanges happen only for a challenge the registry
 * itself sent (its realm may live elsewhere, like Docker Hub's auth.docker.io). A request to any
 * other origin (an upload Location on blob storage, a saved Location) goes without Authorization, and
 * a 401 from there, or from a redirect target, is an error: credentials are never offered to it.
 */
import { CacheError } from '../../../shared/contract/errors';
import { parseChallenges } from './challenge';
import type { Challenge } from './challenge';
import type { CredentialStore, RegistryCredentials } from './credentials';
import { registerSecret, responseError, scrub } from './registry-error';
import { abortError } from './retry';
import type { Clock } from './retry';
import { apiHost, isLoopbackHost, splitHostPort } from './reference';
import { registryOrigins } from './registry-origins';
import { TokenCache } from './token-cache';
import type { TokenAnswer } from './token-cache';
import { headerValue, originOf } from './transport';
import type { Transport, TransportRequest, TransportResponse } from './transport';

/** `repository:<name>:<actions>`; actions like `pull`, `pull,push`, `delete`. */
export function repositoryScope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

/** Push scopes first: "a few registries just look at the first scope" (go-containerregistry). */
export function orderScopes(scopes: readonly string[]): string[] {
  const unique = [...new Set(scopes)];
  const pushes = unique.filter((s) => /:(?:[^:]*,)?push(?:,|$)/.test(s));
  return [...pushes, ...unique.filter((s) => !pushes.includes(s))];
}

export interface AuthOptions {
  transport: Transport;
  credentials: CredentialStore;
  clock: Clock;
  /** OAuth `client_id` sent to token servers. */
  clientId?: string;
  /** Get tokens with the OAuth password grant (POST) instead of a Basic GET, as `docker login` can. */
  oauthPassword?: boolean;
  /** The origins `registry`'s credentials belong to (default: HTTPS, plus plain HTTP for loopback). */
  ownOrigins?: (registry: string) => string[];
}

/** A request to a registry host, before authentication is added. */
export interface RegistryRequest extends Omit<TransportRequest, 'authOrigin'> {
  /** The registry as named by the user (`docker.io`, `host:port`): the credential key. */
  registry: string;
  /** Token scopes this request needs (empty for `/v2/`). */
  scopes: string[];
}

interface HostState {
  /** Undefined until a 401 told us; null means the host answered without asking. */
  challenge?: Challenge | null;
  credentials?: Promise<RegistryCredentials | null>;
}

const TOKEN_BODY_LIMIT = 1 << 20;
/** Same-origin redirects a token realm's OAuth POST may take (the form carries the password). */
const TOKEN_POST_REDIRECTS = 3;

function withoutAuthorization(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}

/** `promise`, or an AbortError as soon as `signal` aborts (the work behind the promise goes on). */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Auth state for every registry one client talks to; see the module comment. */
export class RegistryAuth {
  private readonly hosts = new Map<string, HostState>();
  readonly tokens: TokenCache;
  private readonly transport: Transport;
  private readonly store: CredentialStore;
  private readonly clientId: string;
  private readonly oauthPassword: boolean;
  private readonly ownOrigins: (registry: string) => string[];

  constructor(options: AuthOptions) {
    this.transport = options.transport;
    this.store = options.credentials;
    this.tokens = new TokenCache(() => options.clock.now());
    this.clientId = options.clientId ?? 'cachescope';
    this.oauthPassword = options.oauthPassword ?? false;
    this.ownOrigins = options.ownOrigins ?? ((r) => registryOrigins(r, isLoopbackHost(splitHostPort(apiHost(r)).host)));
  }

  /** True when `origin` is one of `registry`'s own: the only places its credentials and tokens may go. */
  isOwnOrigin(registry: string, origin: string): boolean {
    return this.ownOrigins(registry).includes(origin);
  }

  private state(origin: string): HostState {
    let s = this.hosts.get(origin);
    if (!s) {
      s = {};
      this.hosts.set(origin, s);
    }
    return s;
  }

  /** The registry's credentials, looked up once per client (helpers can be slow or prompt). */
  credentials(registry: string, signal?: AbortSignal): Promise<RegistryCredentials | null> {
    const s = this.state(`creds:${registry}`);
    if (!s.credentials) {
      s.credentials = this.store.get(registry, signal);
      s.credentials.catch(() => (s.credentials = undefined));
    }
    return s.credentials;
  }

  /** The challenge learnt for the origin: undefined (not asked yet), null (no auth), or the challenge. */
  challengeFor(origin: string): Challenge | null | undefined {
    return this.hosts.get(origin)?.challenge;
  }

  /** Records what a `/v2/` answer or a 401 said about the origin's auth. */
  learn(origin: string, res: Pick<TransportResponse, 'status' | 'headers'>): Challenge | null {
    if (res.status !== 401) {
      this.state(origin).challenge ??= null;
      return null;
    }
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic') ?? null;
    this.state(origin).challenge = chosen;
    return chosen;
  }

  /** The Authorization value for a request with `scopes` to `origin`, or undefined to go anonymous. */
  async authorization(registry: string, origin: string, scopes: string[], signal?: AbortSignal, fresh = false): Promise<string | undefined> {
    // Credentials are looked up only once the host has asked for auth: a helper may prompt or be slow.
    const challenge = this.challengeFor(origin);
    if (!challenge) return undefined;
    const creds = await this.credentials(registry, signal);
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    if (challenge.scheme === 'basic') {
      if (!creds || (creds.username === undefined && creds.password === undefined)) return undefined;
      return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (challenge.scheme !== 'bearer') {
      throw new CacheError('forbidden', `${registry} asks for ${challenge.scheme} authentication, which is not supported (only Bearer and Basic)`, { host: registry });
    }
    const ordered = orderScopes(scopes);
    if (fresh) this.tokens.delete(origin, ordered);
    // One fetch is shared by every request waiting for these scopes, so no single caller's signal may cancel it.
    const token = await untilAborted(
      this.tokens.getOrFetch(origin, ordered, () => this.fetchToken(registry, challenge, ordered, creds)),
      signal,
    );
    return `Bearer ${token}`;
  }

  /**
   * The Authorization a request to `url` would carry now (`{}` when the host has asked for none
   * yet), or null when `url` is not one of this registry's own origins: used by a download thread's
   * GET (direct-download.ts), which goes only to the registry's own origin.
   */
  async authorizationFor(registry: string, url: URL, scopes: string[], signal?: AbortSignal): Promise<{ value?: string } | null> {
    const origin = originOf(url);
    if (!this.isOwnOrigin(registry, origin)) return null;
    const value = await this.authorization(registry, origin, scopes, signal);
    return value ? { value } : {};
  }

  /**
   * Sends a request with auth: proactively when the host's challenge is known, else anonymously
   * first; a 401 is answered once with fresh auth. The second 401 is the caller's to report.
   */
  async send(req: RegistryRequest): Promise<TransportResponse> {
    const origin = originOf(req.url);
    const { registry, scopes, ...rest } = req;
    if (!this.isOwnOrigin(registry, origin)) return this.sendElsewhere(registry, rest);
    let sentAuth = false;
    const attempt = async (fresh: boolean) => {
      const auth = await this.authorization(registry, origin, scopes, req.signal, fresh);
      const headers = { ...rest.headers };
      if (auth) headers.authorization = auth;
      sentAuth = !!auth;
      return this.transport.request({ ...rest, headers, authOrigin: origin });
    };
    const known = this.challengeFor(origin) !== undefined;
    const first = await attempt(false);
    // A redirect target (blob storage) asking for auth: its challenge is not the registry's to answer.
    if (first.status === 401 && originOf(first.url) !== origin) throw await this.refusedElsewhere(registry, first, rest.action);
    if (first.status !== 401) {
      if (!known) this.learn(origin, first);
      return first;
    }
    const before = this.challengeFor(origin);
    const challenge = this.learn(origin, first);
    if (!challenge) return first;
    const creds = await this.credentials(registry, req.signal);
    // Nothing new to offer: Basic without credentials, or the same Basic credentials again.
    // (Judged by what this request carried: a parallel request may have learnt the challenge meanwhile.)
    if (challenge.scheme === 'basic' && (!creds || (before?.scheme === 'basic' && sentAuth))) return first;
    // A registry token was already sent if the host's challenge was known: nothing new to offer.
    if (creds?.registryToken && before && sentAuth) return first;
    first.discard();
    const second = await attempt(true);
    if (second.status === 401 && originOf(second.url) !== origin) throw await this.refusedElsewhere(registry, second, rest.action);
    return second;
  }

  /** A request to an origin that is not the registry's (an upload Location on storage): never any Authorization. */
  private async sendElsewhere(registry: string, req: Omit<RegistryRequest, 'registry' | 'scopes'>): Promise<TransportResponse> {
    const res = await this.transport.request({ ...req, headers: withoutAuthorization(req.headers) });
    if (res.status === 401) throw await this.refusedElsewhere(registry, res, req.action);
    return res;
  }

  /** The error for a 401 from another origin: it names the host and says why nothing was sent. */
  private async refusedElsewhere(registry: string, res: TransportResponse, action: string): Promise<CacheError> {
    res.discard();
    const host = res.url.host;
    return new CacheError(
      'forbidden',
      scrub(`${action}: ${host} asks for credentials (401), but it is not the registry ${registry}; credentials for ${registry} are not sent to ${host}`),
      { host, registry },
    );
  }

  private async fetchToken(registry: string, challenge: Challenge, scopes: string[], creds: RegistryCredentials | null, signal?: AbortSignal): Promise<TokenAnswer> {
    const realmText = challenge.params.realm;
    if (!realmText) throw new CacheError('forbidden', `${registry}: the Bearer challenge names no realm to get a token from`, { host: registry });
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new CacheError('forbidden', scrub(`${registry}: the Bearer challenge's realm ${JSON.stringify(realmText)} is not a URL`), { host: registry });
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new CacheError('forbidden', `${registry}: the token realm uses unsupported scheme ${realm.protocol}`, { host: registry });
    }
    const service = challenge.params.service;
    // Exactly the request's scopes (the cache key), never the challenge's: a token stays tied to what it was asked for.
    const wanted = scopes;
    const what = `token for ${wanted.length ? wanted.join(' ') : registry} from ${realm.origin}${realm.pathname}`;
    if (creds?.identityToken || (this.oauthPassword && creds?.username && creds.password)) {
      const form = new URLSearchParams();
      if (creds.identityToken) {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', creds.identityToken);
      } else {
        form.set('grant_type', 'password');
        form.set('username', creds.username!);
        form.set('password', creds.password!);
        form.set('access_type', 'offline');
      }
      if (service) form.set('service', service);
      form.set('client_id', this.clientId);
      if (wanted.length) form.set('scope', wanted.join(' '));
      const res = await this.postToRealm(realm, Buffer.from(form.toString()), `POST ${what}`, signal);
      if (res.status === 200) return this.readToken(res, what);
      // GCR answers 404, Artifactory 401, others 405: they only know the GET flow (as docker falls back).
      if (res.status !== 404 && res.status !== 401 && res.status !== 405) {
        throw responseError({ action: `POST ${what}`, status: res.status, statusText: res.statusText, body: await res.text(), host: realm.host });
      }
      res.discard();
    }
    const url = new URL(realm);
    if (service) url.searchParams.append('service', service);
    for (const s of wanted) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    // A password when there is one (docker keeps `auth` beside an identity token), else the identity token.
    const secret = creds?.password || creds?.identityToken;
    if (creds && (creds.username || secret)) {
      const user = creds.username ?? (creds.identityToken ? '<token>' : '');
      if (user) url.searchParams.set('account', user);
      headers.authorization = `Basic ${Buffer.from(`${user}:${secret ?? ''}`).toString('base64')}`;
    }
    const res = await this.transport.request({ method: 'GET', url, headers, signal, maxRedirects: 3, authOrigin: originOf(realm), action: `GET ${what}` });
    if (res.status !== 200) throw responseError({ action: `GET ${what}`, status: res.status, statusText: res.statusText, body: await res.text(), host: realm.host });
    return this.readToken(res, what);
  }

  /**
   * The OAuth POST, whose form carries the password or refresh token: redirects are followed only
   * within the realm's origin, since the transport would re-send the body (307/308) to any host.
   */
  private async postToRealm(realm: URL, body: Buffer, action: string, signal?: AbortSignal): Promise<TransportResponse> {
    let url = realm;
    for (let redirects = 0; ; redirects++) {
      const res = await this.transport.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, signal, action });
      const location = headerValue(res.headers.location);
      if (res.status < 300 || res.status >= 400 || res.status === 304 || !location) return res;
      res.discard();
      const next = new URL(location, url);
      if (originOf(next) !== originOf(realm)) {
        throw new CacheError('forbidden', scrub(`${action}: the token server redirected to ${next.host}; credentials are not sent to another host`), { host: next.host });
      }
      if (redirects >= TOKEN_POST_REDIRECTS) throw new CacheError('io', `${action}: more than ${TOKEN_POST_REDIRECTS} redirects`, { host: realm.host });
      url = next;
    }
  }

  private async readToken(res: TransportResponse, what: string): Promise<TokenAnswer> {
    const text = (await res.bytes(TOKEN_BODY_LIMIT)).toString('utf8');
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CacheError('invalid-json', `${what}: the token server's answer is not JSON`, { field: 'token' });
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : '';
    if (!token) throw new CacheError('forbidden', `${what}: the token server's answer has no "token" or "access_token"`, { field: 'token' });
    registerSecret(token);
    const answer: TokenAnswer = { token };
    if (typeof parsed.expires_in === 'number') answer.expiresIn = parsed.expires_in;
    if (typeof parsed.refresh_token === 'string') {
      answer.refreshToken = parsed.refresh_token;
      registerSecret(parsed.refresh_token);
    }
    return answer;
  }
}
