/**
 * Registry authentication, following the distribution token spec and docker's client: a request goes
 * out with what we already know about its host; a 401 teaches us the host's challenge
 * (`WWW-Authenticate`), and we answer it once: Basic with the docker credentials, or a Bearer token
 * for exactly the request's scopes from the challenge's realm (anonymous, Basic-authenticated GET, or
 * the OAuth POST for identity tokens with docker's fallback to GET on 404/401/405).
 *
 * Why no ping before every host: a registry without auth then costs one request instead of two, and
 * one with auth costs the same three (401, token, retry) as docker's ping-first flow.
 */
import { CacheError } from '../../../shared/contract/errors';
import { parseChallenges } from './challenge';
import type { Challenge } from './challenge';
import type { CredentialStore, RegistryCredentials } from './credentials';
import { registerSecret, responseError, scrub } from './registry-error';
import { abortError } from './retry';
import type { Clock } from './retry';
import { TokenCache } from './token-cache';
import type { TokenAnswer } from './token-cache';
import { originOf } from './transport';
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

  constructor(options: AuthOptions) {
    this.transport = options.transport;
    this.store = options.credentials;
    this.tokens = new TokenCache(() => options.clock.now());
    this.clientId = options.clientId ?? 'cachescope';
    this.oauthPassword = options.oauthPassword ?? false;
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
   * Sends a request with auth: proactively when the host's challenge is known, else anonymously
   * first; a 401 is answered once with fresh auth. The second 401 is the caller's to report.
   */
  async send(req: RegistryRequest): Promise<TransportResponse> {
    const origin = originOf(req.url);
    const { registry, scopes, ...rest } = req;
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
    return attempt(true);
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
      const res = await this.transport.request({
        method: 'POST',
        url: realm,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        signal,
        maxRedirects: 3,
        action: `POST ${what}`,
      });
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
