/** nginx as a strict front for a registry (client_max_body_size → its own 413), run in the foreground from a temp prefix. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports';
import { makeTempDir, removeTempDir, spawnTracked } from './processes';
import { probe } from './registry-server';

export const NGINX_BIN = process.env.CACHESCOPE_NGINX_BIN ?? '/usr/sbin/nginx';

export interface NginxOptions {
  /** The registry's URL (http). */
  upstream: string;
  /** nginx's client_max_body_size, e.g. '1k' or '10m' (default '1m', nginx's own default). */
  clientMaxBodySize?: string;
  /** Extra directives inside `location /`. */
  extraLocation?: string;
}

export interface RunningNginx {
  url: string;
  host: string;
  port: number;
  pid: number;
  logFile: string;
  accessLog: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startNginx(conf: NginxOptions): Promise<RunningNginx> {
  const prefix = makeTempDir('nginx');
  for (const d of ['logs', 'tmp', 'tmp/body', 'tmp/proxy']) mkdirSync(join(prefix, d), { recursive: true });
  const upstream = new URL(conf.upstream);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const confFile = join(prefix, 'nginx.conf');
    const logFile = join(prefix, 'logs', `stderr-${attempt}.log`);
    const accessLog = join(prefix, 'logs', 'access.log');
    writeFileSync(confFile, [
      'worker_processes 1;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${join(prefix, 'logs', 'error.log')} info;`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log ${accessLog};`,
      `  client_body_temp_path ${join(prefix, 'tmp', 'body')};`,
      `  proxy_temp_path ${join(prefix, 'tmp', 'proxy')};`,
      `  fastcgi_temp_path ${join(prefix, 'tmp')}; uwsgi_temp_path ${join(prefix, 'tmp')}; scgi_temp_path ${join(prefix, 'tmp')};`,
      '  server {',
      `    listen 127.0.0.1:${port};`,
      `    client_max_body_size ${conf.clientMaxBodySize ?? '1m'};`,
      '    location / {',
      `      proxy_pass ${upstream.origin};`,
      '      proxy_http_version 1.1;',
      '      proxy_request_buffering off;',
      '      proxy_buffering off;',
      '      proxy_set_header Host $http_host;',
      '      proxy_set_header X-Forwarded-Proto $scheme;',
      '      proxy_read_timeout 900;',
      conf.extraLocation ?? '',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'));
    const proc = spawnTracked(NGINX_BIN, ['-c', confFile, '-p', prefix, '-g', 'daemon off;'], logFile);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < deadline && !proc.hasExited()) {
      const status = await probe(url);
      if (status === 200 || status === 401) {
        ready = true;
        break;
      }
      await sleep(50);
    }
    if (!ready) {
      await proc.stop();
      const text = readFileSync(logFile, 'utf8');
      if (/Address already in use/.test(text) && attempt < 5) continue;
      removeTempDir(prefix, true);
      throw new Error(`nginx did not become ready on ${url} (conf ${confFile}):\n${text.slice(-2000)}`);
    }
    return {
      url,
      host: `127.0.0.1:${port}`,
      port,
      pid: proc.pid,
      logFile,
      accessLog,
      async stop() {
        await proc.stop();
        removeTempDir(prefix);
      },
    };
  }
}
