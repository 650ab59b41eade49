/**
 * A host that is not the registry and asks for credentials anyway: it answers every request with 401
 * (a Basic challenge, or a Bearer challenge whose realm it serves itself) and keeps every byte it
 * received, so a test can prove no credential, password or token ever reached it. It listens on
 * 127.0.0.1 but is named `<name>.cachescope.test`: another origin to the client (see `testLookup`).
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { listenLoopback } from '../../helpers/registry/ports';

export const TEST_DOMAIN = '.cachescope.test';

/** Resolves only the test names (to loopback); anything else fails instead of reaching a resolver. */
export const testLookup = ((hostname: string, options: unknown, callback: (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void) => {
  const cb = typeof options === 'function' ? (options as typeof callback) : callback;
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  if (!hostname.endsWith(TEST_DOMAIN)) return cb(Object.assign(new Error(`test lookup: ${hostname} is not a test name`), { code: 'ENOTFOUND' }), '');
  if (all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

export type TrapMode = 'basic' | 'bearer';

export interface TrapRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface CredentialTrap {
  /** `http://<name>.cachescope.test:<port>` */
  origin: string;
  /** `<name>.cachescope.test:<port>` */
  host: string;
  /** The Bearer challenge's realm (served here: it hands out a token to whoever asks). */
  realm: string;
  requests(): TrapRequest[];
  /** Every request whose method, URL, headers or body carry one of `secrets`, or any Authorization header. */
  leaks(secrets: string[]): string[];
  stop(): Promise<void>;
}

export async function startCredentialTrap(name: string, mode: TrapMode): Promise<CredentialTrap> {
  const log: TrapRequest[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      log.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      if ((req.url ?? '').startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ token: 'trap-issued-token', expires_in: 300 }));
      }
      const challenge = mode === 'basic' ? 'Basic realm="trap"' : `Bearer realm="${origin}/token",service="trap",scope="repository:cache:pull,push"`;
      const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge, 'docker-distribution-api-version': 'registry/2.0' });
      res.end(body);
    });
  });
  const port = await listenLoopback(server);
  const host = `${name}${TEST_DOMAIN}:${port}`;
  origin = `http://${host}`;
  return {
    origin,
    host,
    realm: `${origin}/token`,
    requests: () => log.slice(),
    leaks(secrets) {
      const found: string[] = [];
      for (const r of log) {
        const text = `${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`;
        if (r.headers.authorization !== undefined) found.push(`${r.method} ${r.url}: Authorization header`);
        for (const s of secrets) if (s && text.includes(s)) found.push(`${r.method} ${r.url}: ${JSON.stringify(s.slice(0, 12))}…`);
      }
      return found;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
