/**
 * TLS settings per registry, as docker, containerd and podman read them: `certs.d/<host[:port]>/`
 * under /etc/docker/certs.d and ~/.docker/certs.d, where every `*.crt` is a CA added to the system
 * roots and every `X.cert` is a client certificate whose key is `X.key`.
 *
 * Node builds its default CA list from its bundled roots plus NODE_EXTRA_CA_CERTS. Passing `ca`
 * replaces that list, so when certs.d adds CAs we pass the bundled roots, the NODE_EXTRA_CA_CERTS file
 * and the certs.d CAs together: a certs.d CA never takes the public roots away.
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { CacheError } from '../../../shared/contract/errors';

/** What a TLS connection to one host needs beyond Node's defaults; empty when certs.d has nothing. */
export interface HostTlsOptions {
  /** The full CA list (defaults + extras + certs.d) when certs.d adds CAs; undefined means Node's default. */
  ca?: string[];
  cert?: string;
  key?: string;
  /** The files the options came from, for messages (never their contents). */
  sources: string[];
}

/** docker's two certs.d roots, system first. */
export function defaultCertsDirs(home = homedir()): string[] {
  return ['/etc/docker/certs.d', join(home, '.docker', 'certs.d')];
}

let extraCaCache: { file: string; pems: string[] } | null = null;

/** The certificates of NODE_EXTRA_CA_CERTS, which Node already trusts by default; read once per file name. */
export function extraCaCertificates(env: NodeJS.ProcessEnv = process.env): string[] {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  if (extraCaCache?.file === file) return extraCaCache.pems;
  let pems: string[] = [];
  try {
    pems = splitPem(readFileSync(file, 'utf8'));
  } catch {
    pems = []; // Node itself only warns about an unreadable file; so do we, by ignoring it.
  }
  extraCaCache = { file, pems };
  return pems;
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function listDir(dir: string): Promise<string[] | null> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new CacheError('io', `cannot read ${dir}: ${code ?? (err as Error).message}`, { file: dir });
  }
}

async function readPem(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CacheError('io', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file });
  }
}

/**
 * Reads `<dir>/<hostPort>/` in each certs dir (docker names the folder exactly as the registry is
 * written, port included). A `.cert` without its `.key` (or the reverse) is an error naming the file.
 */
export async function loadHostTls(hostPort: string, certsDirs: string[], env: NodeJS.ProcessEnv = process.env): Promise<HostTlsOptions> {
  const cas: string[] = [];
  const sources: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const root of certsDirs) {
    const dir = join(root, hostPort);
    const names = await listDir(dir);
    if (!names) continue;
    for (const name of names) {
      const file = join(dir, name);
      if (name.endsWith('.crt')) {
        const pems = splitPem(await readPem(file));
        if (!pems.length) throw new CacheError('invalid-options', `${file}: holds no PEM certificate`, { file, field: 'ca' });
        cas.push(...pems);
        sources.push(file);
      } else if (name.endsWith('.cert')) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName)) {
          throw new CacheError('invalid-options', `${file}: client certificate without its key ${keyName} in ${dir}`, { file, field: 'client.key' });
        }
        if (cert === undefined) {
          cert = await readPem(file);
          key = await readPem(join(dir, keyName));
          sources.push(file, join(dir, keyName));
        }
      } else if (name.endsWith('.key')) {
        const certName = `${name.slice(0, -'.key'.length)}.cert`;
        if (!names.includes(certName)) {
          throw new CacheError('invalid-options', `${file}: key without its client certificate ${certName} in ${dir}`, { file, field: 'client.cert' });
        }
      }
    }
  }
  const out: HostTlsOptions = { sources };
  if (cas.length) out.ca = [...rootCertificates, ...extraCaCertificates(env), ...cas];
  if (cert !== undefined) {
    out.cert = cert;
    out.key = key;
  }
  return out;
}
