/** Debian's distribution 2.8 (`/usr/bin/docker-registry`) on 127.0.0.1 with temp storage: no auth, htpasswd, token or TLS. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { parseAccessLog } from './access-log';
import type { RegistryRequest } from './access-log';
import { writeHtpasswd } from './htpasswd';
import { freePort } from './ports';
import { makeTempDir, removeTempDir, spawnTracked } from './processes';
import type { TrackedProcess } from './processes';
import { makeTestCA } from './test-ca';
import type { TestCA } from './test-ca';
import { DEFAULT_USERS, startTokenServer } from './token-server';
import type { TokenServer, TokenServerOptions } from './token-server';

export const REGISTRY_BIN = process.env.CACHESCOPE_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  users?: Record<string, string>;
  tokenServer?: TokenServer;
  tokenOptions?: TokenServerOptions;
  /** true: HTTPS with a fresh test CA; or a CA to reuse. */
  tls?: boolean | TestCA;
  /** Require a client certificate signed by the CA (http.tls.clientcas). */
  tlsClientAuth?: boolean;
  deleteEnabled?: boolean;
  /** Keep the temp dirs after stop() (for debugging). */
  keepFiles?: boolean;
}

export interface RunningRegistry {
  url: string;
  host: string;
  port: number;
  pid: number;
  logFile: string;
  storageDir: string;
  configFile: string;
  dir: string;
  auth: 'none' | 'htpasswd' | 'token';
  users: Record<string, string>;
  ca?: TestCA;
  tokenServer?: TokenServer;
  /** Requests from distribution's access log since start (readiness probes excluded) or the last clearRequests(). */
  requests(): RegistryRequest[];
  clearRequests(): void;
  /** requests(), once the access log has stopped growing (distribution writes a line just after it answers). */
  settledRequests(): Promise<RegistryRequest[]>;
  log(): string;
  stop(): Promise<void>;
}

const q = (s: string) => JSON.stringify(s);

function configYaml(o: { storageDir: string; port: number; deleteEnabled: boolean; tls?: TestCA; tlsClientAuth: boolean; auth: string; htpasswdFile: string; token?: TokenServer }): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(o.storageDir)}`,
    '  delete:',
    `    enabled: ${o.deleteEnabled}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${o.port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
  ];
  if (o.tls) {
    lines.push('  tls:', `    certificate: ${q(o.tls.serverCert)}`, `    key: ${q(o.tls.serverKey)}`);
    if (o.tlsClientAuth) lines.push('    clientcas:', `      - ${q(o.tls.caCert)}`);
  }
  if (o.auth === 'htpasswd') {
    lines.push('auth:', '  htpasswd:', '    realm: "cachescope-registry"', `    path: ${q(o.htpasswdFile)}`);
  } else if (o.auth === 'token' && o.token) {
    lines.push('auth:', '  token:', `    realm: ${q(o.token.realm)}`, `    service: ${q(o.token.service)}`, `    issuer: ${q(o.token.issuer)}`, `    rootcertbundle: ${q(o.token.certFile)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** GET /v2/ once; resolves with the status, or 0 when nothing answered. */
export function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = get(`${url}/v2/`, { method: 'GET', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRegistry(opts: RegistryOptions = {}): Promise<RunningRegistry> {
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? opts.tokenServer?.users ?? DEFAULT_USERS;
  const dir = makeTempDir('registry');
  const storageDir = join(dir, 'storage');
  mkdirSync(storageDir);
  const ownCa = opts.tls === true ? await makeTestCA() : undefined;
  const ca = opts.tls === true ? ownCa : opts.tls || undefined;
  const ownToken = auth === 'token' && !opts.tokenServer ? await startTokenServer({ users, ...opts.tokenOptions }) : undefined;
  const tokenServer = auth === 'token' ? (opts.tokenServer ?? ownToken) : undefined;
  const htpasswdFile = join(dir, 'htpasswd');
  if (auth === 'htpasswd') writeHtpasswd(htpasswdFile, users);

  const cleanupExtras = async () => {
    await ownToken?.stop();
    ownCa?.dispose();
  };

  const configFile = join(dir, 'config.yml');
  let attempt = 0;
  for (;;) {
    attempt += 1;
    const port = await freePort();
    const logFile = join(dir, `registry-${attempt}.log`);
    writeFileSync(configFile, configYaml({ storageDir, port, deleteEnabled: opts.deleteEnabled ?? false, tls: ca, tlsClientAuth: opts.tlsClientAuth ?? false, auth, htpasswdFile, token: tokenServer }));
    const proc: TrackedProcess = spawnTracked(REGISTRY_BIN, ['serve', configFile], logFile, { cwd: dir });
    const url = `${ca ? 'https' : 'http'}://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    let ready = false;
    while (Date.now() < deadline && !proc.hasExited()) {
      // Our own listening line first: the port was free when picked, but a server of a test file running
      // alongside may have taken it since, and the probe alone would then take its answer for ours.
      // A client-cert registry refuses the probe's handshake: the listening line is then the only signal.
      const listening = readFileSync(logFile, 'utf8').includes(`listening on 127.0.0.1:${port}`);
      const status = !listening ? 0 : opts.tlsClientAuth ? 200 : await probe(url);
      if (status === 200 || status === 401) {
        ready = true;
        break;
      }
      await sleep(50);
    }
    const logText = readFileSync(logFile, 'utf8');
    if (!ready) {
      await proc.stop();
      if (/address already in use/.test(logText) && attempt < 5) continue;
      await cleanupExtras();
      removeTempDir(dir, true);
      throw new Error(`docker-registry did not become ready on ${url} (config ${configFile}, log ${logFile}):\n${logText.slice(-2000)}`);
    }
    let skip = parseAccessLog(logText).length;
    const requests = () => parseAccessLog(readFileSync(logFile, 'utf8')).slice(skip);
    return {
      url,
      host: `127.0.0.1:${port}`,
      port,
      pid: proc.pid,
      logFile,
      storageDir,
      configFile,
      dir,
      auth,
      users,
      ca,
      tokenServer,
      requests,
      clearRequests: () => {
        skip = parseAccessLog(readFileSync(logFile, 'utf8')).length;
      },
      async settledRequests() {
        let last = -1;
        for (let i = 0; i < 40; i++) {
          const now = requests();
          if (now.length === last) return now;
          last = now.length;
          await sleep(50);
        }
        return requests();
      },
      log: () => readFileSync(logFile, 'utf8'),
      async stop() {
        await proc.stop();
        await cleanupExtras();
        removeTempDir(dir, opts.keepFiles);
      },
    };
  }
}
