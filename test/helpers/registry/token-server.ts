/** A small Bearer token server (docker's token spec): RS256 JWTs with an x5c header, real scopes and refresh tokens. */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { listenLoopback } from './ports';
import { makeTempDir, removeTempDir, run } from './processes';
import type { TestCA } from './test-ca';

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface Grant {
  /** A user name, '*' for any authenticated user, or 'anonymous'. */
  account: string;
  /** A repository name glob: '*' matches any run of characters, including '/'. */
  repository: string;
  actions: string[];
}

export interface TokenRequest {
  method: string;
  grantType: 'get' | 'password' | 'refresh_token';
  credentials: 'none' | 'basic' | 'password' | 'refresh_token';
  account?: string;
  clientId?: string;
  service?: string;
  scopes: string[];
  granted: Access[];
  status: number;
}

export interface TokenServerOptions {
  users?: Record<string, string>;
  grants?: Grant[];
  service?: string;
  issuer?: string;
  /** Seconds; null leaves `expires_in` out of the answer (the token's own exp is then 60 s, docker's default). */
  expiresIn?: number | null;
  tls?: TestCA;
  /** false: the OAuth POST answers 404 so a client must fall back to GET. */
  allowPost?: boolean;
}

export interface TokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  users: Record<string, string>;
  requests(): TokenRequest[];
  clear(): void;
  issueToken(account: string | null, access: Access[], lifetimeSeconds?: number): string;
  issueRefreshToken(account: string): string;
  stop(): Promise<void>;
}

export const DEFAULT_USERS: Record<string, string> = { alice: 'alice-secret' };

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** `repository:name:pull,push` → Access; the name may itself hold ':' (a registry host with a port). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const users = opts.users ?? DEFAULT_USERS;
  const grants = opts.grants ?? [{ account: '*', repository: '*', actions: ['pull', 'push', 'delete'] }];
  const service = opts.service ?? 'cachescope-registry';
  const issuer = opts.issuer ?? 'cachescope-token-server';
  const expiresIn = opts.expiresIn === undefined ? 300 : opts.expiresIn;
  const dir = makeTempDir('token');

  // The signing key and a self-signed cert for it: the cert goes in each token's x5c and is the registry's rootcertbundle.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  run('openssl', ['req', '-x509', '-key', keyFile, '-out', certFile, '-days', '3', '-sha256', '-subj', '/CN=cachescope-token-signer']);
  const x5c = [new X509Certificate(readFileSync(certFile)).raw.toString('base64')];
  const key: KeyObject = createPrivateKey(readFileSync(keyFile));

  const log: TokenRequest[] = [];
  const refreshTokens = new Map<string, string>();

  function allowed(account: string | null, access: Access): Access {
    const actions = new Set<string>();
    if (access.type === 'repository') {
      for (const g of grants) {
        const who = g.account === 'anonymous' ? account === null : g.account === '*' ? account !== null : g.account === account;
        if (!who || !globToRegExp(g.repository).test(access.name)) continue;
        for (const a of access.actions) if (g.actions.includes(a) || g.actions.includes('*')) actions.add(a);
      }
    }
    return { type: access.type, name: access.name, actions: access.actions.filter((a) => actions.has(a)) };
  }

  function issueToken(account: string | null, access: Access[], lifetimeSeconds = expiresIn ?? 60): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    // distribution 2.8 reads `aud` as a single string.
    const claims = { iss: issuer, sub: account ?? '', aud: service, exp: now + lifetimeSeconds, nbf: now - 1, iat: now, jti: randomBytes(12).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
  }

  function issueRefreshToken(account: string): string {
    const token = `refresh-${createHash('sha256').update(randomBytes(16)).digest('hex').slice(0, 32)}`;
    refreshTokens.set(token, account);
    return token;
  }

  function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') return answer(res, 404, { error: 'not_found' });
    const entry: TokenRequest = { method: req.method ?? '', grantType: 'get', credentials: 'none', scopes: [], granted: [], status: 0 };
    log.push(entry);
    const done = (status: number, body: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      answer(res, status, body, headers);
    };
    let params: URLSearchParams;
    let account: string | null = null;
    let offline = false;
    if (req.method === 'GET') {
      params = url.searchParams;
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        entry.credentials = 'basic';
        const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const user = decoded.slice(0, colon);
        entry.account = user;
        if (colon < 0 || users[user] === undefined || users[user] !== decoded.slice(colon + 1)) {
          return done(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }, { 'www-authenticate': 'Basic realm="cachescope-token"' });
        }
        account = user;
        offline = params.get('offline_token') === 'true';
      }
    } else if (req.method === 'POST') {
      if (opts.allowPost === false) return done(404, { error: 'not_found', error_description: 'POST is not supported here' });
      params = new URLSearchParams(await readBody(req));
      const grant = params.get('grant_type');
      if (grant === 'password') {
        entry.grantType = 'password';
        entry.credentials = 'password';
        const user = params.get('username') ?? '';
        entry.account = user;
        if (users[user] === undefined || users[user] !== params.get('password')) return done(401, { error: 'invalid_grant', error_description: 'invalid username or password' });
        account = user;
        offline = params.get('access_type') === 'offline';
      } else if (grant === 'refresh_token') {
        entry.grantType = 'refresh_token';
        entry.credentials = 'refresh_token';
        const user = refreshTokens.get(params.get('refresh_token') ?? '');
        if (user === undefined) return done(401, { error: 'invalid_grant', error_description: 'unknown refresh token' });
        entry.account = user;
        account = user;
      } else {
        return done(400, { error: 'unsupported_grant_type', error_description: `grant_type ${grant ?? '(none)'} is not supported` });
      }
    } else {
      return done(405, { error: 'method_not_allowed' });
    }
    entry.clientId = params.get('client_id') ?? undefined;
    entry.service = params.get('service') ?? undefined;
    // Several scopes arrive as repeated `scope` parameters, or space-separated in one (the OAuth form).
    entry.scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    if (entry.service !== undefined && entry.service !== service) return done(400, { error: 'invalid_request', error_description: `unknown service ${entry.service}` });
    const access = entry.scopes.map(parseScope).filter((a): a is Access => a !== undefined).map((a) => allowed(account, a)).filter((a) => a.actions.length > 0);
    entry.granted = access;
    const token = issueToken(account, access);
    const body: Record<string, unknown> = { token, access_token: token, issued_at: new Date().toISOString() };
    if (expiresIn !== null) body.expires_in = expiresIn;
    if (offline && account !== null) body.refresh_token = req.method === 'POST' && entry.grantType === 'refresh_token' ? params.get('refresh_token') : issueRefreshToken(account);
    done(200, body);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) answer(res, 500, { error: 'server_error', error_description: err.message });
      else res.destroy();
    });
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.serverCert), key: readFileSync(opts.tls.serverKey) }, listener)
    : createHttpServer(listener);
  const port = await listenLoopback(server);
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certFile,
    users,
    requests: () => log.slice(),
    clear: () => void log.splice(0),
    issueToken,
    issueRefreshToken,
    async stop() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeTempDir(dir);
    },
  };
}
