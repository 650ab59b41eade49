/** Pushes a local OCI layout to a test registry: skopeo for image manifests, a small node:http uploader for indexes. */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { CountingProxy } from './counting-proxy';
import { makeTempDir, removeTempDir, runAsync } from './processes';
import type { RunningRegistry } from './registry-server';

export type RegistryTarget = RunningRegistry | CountingProxy | string;

export interface PushOptions {
  sourceTag?: string;
  via?: 'auto' | 'skopeo' | 'http';
  username?: string;
  password?: string;
  /** CA file for an https registry. */
  ca?: string;
}

export interface PushResult {
  digest: string;
  mediaType: string;
  size: number;
  manifest: Buffer;
  via: 'skopeo' | 'http';
  blobs: string[];
}

export interface LayoutManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: Descriptorish & { manifests?: Descriptorish[]; layers?: Descriptorish[]; config?: Descriptorish };
}

interface Descriptorish {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
}

const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

function blobPath(layoutDir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(layoutDir, 'blobs', alg, hex);
}

function readBlob(layoutDir: string, digest: string): Buffer {
  const file = blobPath(layoutDir, digest);
  if (!existsSync(file)) throw new Error(`${file}: blob ${digest} is not in the layout`);
  return readFileSync(file);
}

/** The manifest `index.json` names with `org.opencontainers.image.ref.name` = tag (or its first one). */
export function layoutManifest(layoutDir: string, tag?: string): LayoutManifest {
  const indexFile = join(layoutDir, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { manifests?: Descriptorish[] };
  const entries = index.manifests ?? [];
  const desc = tag === undefined ? entries[0] : entries.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`${indexFile}: no manifest${tag === undefined ? '' : ` tagged ${tag}`} in manifests[]`);
  const bytes = readBlob(layoutDir, desc.digest);
  const json = JSON.parse(bytes.toString('utf8')) as LayoutManifest['json'];
  const mediaType = json.mediaType ?? desc.mediaType;
  if (!mediaType) throw new Error(`${indexFile}: ${desc.digest} has no mediaType`);
  return { digest: desc.digest, mediaType, bytes, json };
}

function targetOf(registry: RegistryTarget): { url: string; host: string; user?: string; password?: string; ca?: string } {
  if (typeof registry === 'string') {
    const u = new URL(registry);
    return { url: u.origin, host: u.host };
  }
  // A proxy in front of a registry: the registry's users, the proxy's own CA.
  const r = registry as Partial<RunningRegistry> & Partial<CountingProxy> & { url: string; host: string };
  const behind = r.registry ?? r;
  const first = behind.users && behind.auth !== 'none' ? Object.entries(behind.users)[0] : undefined;
  return { url: r.url, host: r.host, user: first?.[0], password: first?.[1], ca: r.ca?.caCert };
}

function splitRef(ref: string): { repo: string; tag: string } {
  const at = ref.lastIndexOf(':');
  if (at <= 0 || ref.slice(at).includes('/')) throw new Error(`reference ${ref}: expected repo:tag`);
  return { repo: ref.slice(0, at), tag: ref.slice(at + 1) };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A minimal distribution-API client for test setup: Basic and Bearer challenges, one retry. */
export class TestUploader {
  private authHeader?: string;
  constructor(private readonly base: string, private readonly repo: string, private readonly creds: { user?: string; password?: string; ca?: string }) {}

  private raw(method: string, url: string, headers: OutgoingHttpHeaders, body?: Buffer): Promise<Reply> {
    const u = new URL(url, this.base);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(u, { method, headers: { ...headers, 'content-length': String(body?.length ?? 0) }, ca: this.creds.ca ? readFileSync(this.creds.ca) : undefined, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  private async authorize(challenge: string): Promise<void> {
    const basic = this.creds.user !== undefined ? `Basic ${Buffer.from(`${this.creds.user}:${this.creds.password ?? ''}`).toString('base64')}` : undefined;
    if (/^basic/i.test(challenge)) {
      if (!basic) throw new Error(`${this.base}: Basic auth asked for but no credentials given`);
      this.authHeader = basic;
      return;
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!params.realm) throw new Error(`${this.base}: cannot read the challenge ${challenge}`);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${this.repo}:pull,push`);
    const reply = await this.raw('GET', realm.toString(), basic ? { authorization: basic } : {});
    if (reply.status !== 200) throw new Error(`token request to ${realm.origin}${realm.pathname} answered ${reply.status}: ${reply.body.toString()}`);
    const json = JSON.parse(reply.body.toString()) as { token?: string; access_token?: string };
    this.authHeader = `Bearer ${json.token ?? json.access_token}`;
  }

  async call(method: string, url: string, headers: OutgoingHttpHeaders = {}, body?: Buffer): Promise<Reply> {
    const withAuth = () => (this.authHeader ? { ...headers, authorization: this.authHeader } : headers);
    let reply = await this.raw(method, url, withAuth(), body);
    const challenge = reply.headers['www-authenticate'];
    if (reply.status === 401 && typeof challenge === 'string') {
      await this.authorize(challenge);
      reply = await this.raw(method, url, withAuth(), body);
    }
    return reply;
  }

  async pushBlob(digest: string, bytes: Buffer): Promise<void> {
    const head = await this.call('HEAD', `/v2/${this.repo}/blobs/${digest}`);
    if (head.status === 200) return;
    const start = await this.call('POST', `/v2/${this.repo}/blobs/uploads/`);
    if (start.status !== 202 || typeof start.headers.location !== 'string') throw new Error(`POST /v2/${this.repo}/blobs/uploads/ answered ${start.status}: ${start.body.toString()}`);
    const location = new URL(start.headers.location, this.base);
    location.searchParams.set('digest', digest);
    const put = await this.call('PUT', location.toString(), { 'content-type': 'application/octet-stream' }, bytes);
    if (put.status !== 201) throw new Error(`PUT blob ${digest} answered ${put.status}: ${put.body.toString()}`);
  }

  async pushManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const put = await this.call('PUT', `/v2/${this.repo}/manifests/${reference}`, { 'content-type': mediaType }, bytes);
    if (put.status !== 201) throw new Error(`PUT manifest ${this.repo}:${reference} answered ${put.status}: ${put.body.toString()}`);
    return String(put.headers['docker-content-digest'] ?? '');
  }
}

/** Uploads a manifest's blobs (recursing into child manifests of an image index) and then the manifest itself. */
async function pushTree(up: TestUploader, layoutDir: string, m: { mediaType: string; bytes: Buffer; json: LayoutManifest['json'] }, reference: string, blobs: string[]): Promise<string> {
  const children = INDEX_TYPES.has(m.mediaType) ? (m.json.manifests ?? []) : [...(m.json.config ? [m.json.config] : []), ...(m.json.layers ?? [])];
  const seen = new Set<string>();
  for (const child of children) {
    if (seen.has(child.digest)) continue;
    seen.add(child.digest);
    blobs.push(child.digest);
    const bytes = readBlob(layoutDir, child.digest);
    if (INDEX_TYPES.has(m.mediaType) && child.mediaType && MANIFEST_TYPES.has(child.mediaType)) {
      await pushTree(up, layoutDir, { mediaType: child.mediaType, bytes, json: JSON.parse(bytes.toString('utf8')) as LayoutManifest['json'] }, child.digest, []);
    } else {
      await up.pushBlob(child.digest, bytes);
    }
  }
  return up.pushManifest(reference, m.mediaType, m.bytes);
}

function skopeoCreds(t: { user?: string; password?: string }): string[] {
  return t.user !== undefined ? [`${t.user}:${t.password ?? ''}`] : [];
}

/** `--*-tls-verify` and `--*-cert-dir` flags for skopeo: verify against the CA (in a fresh cert dir) when there is one. */
function skopeoTls(prefix: '--dest-' | '--', url: string, ca: string | undefined): { flags: string[]; certDir?: string } {
  if (!url.startsWith('https:') || !ca) return { flags: [`${prefix}tls-verify=false`] };
  const certDir = makeTempDir('skopeo-certs');
  copyFileSync(ca, join(certDir, 'ca.crt'));
  return { flags: [`${prefix}tls-verify=true`, `${prefix}cert-dir`, certDir], certDir };
}

export async function pushFixture(registry: RegistryTarget, layoutDir: string, ref: string, opts: PushOptions = {}): Promise<PushResult> {
  const t = targetOf(registry);
  const user = opts.username ?? t.user;
  const password = opts.password ?? t.password;
  const ca = opts.ca ?? t.ca;
  const { repo, tag } = splitRef(ref);
  const m = layoutManifest(layoutDir, opts.sourceTag);
  const sourceTag = opts.sourceTag ?? m.json.annotations?.['org.opencontainers.image.ref.name'] ?? readIndexTag(layoutDir);
  const via = opts.via === 'skopeo' || opts.via === 'http' ? opts.via : INDEX_TYPES.has(m.mediaType) ? 'http' : 'skopeo';
  const blobs: string[] = [];
  if (via === 'skopeo') {
    const tls = skopeoTls('--dest-', t.url, ca);
    const creds = skopeoCreds({ user, password });
    const args = ['--insecure-policy', 'copy', '--quiet', '--preserve-digests', ...tls.flags, ...(creds.length ? ['--dest-creds', creds[0]] : []), `oci:${layoutDir}${sourceTag ? `:${sourceTag}` : ''}`, `docker://${t.host}/${repo}:${tag}`];
    const r = await runAsync('skopeo', args).finally(() => tls.certDir && removeTempDir(tls.certDir));
    if (r.status !== 0) throw new Error(`skopeo ${args.join(' ').replace(password ?? '\0', '***')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
    if (m.json.config) blobs.push(m.json.config.digest);
    for (const l of m.json.layers ?? []) if (!blobs.includes(l.digest)) blobs.push(l.digest);
  } else {
    const up = new TestUploader(t.url, repo, { user, password, ca });
    await pushTree(up, layoutDir, m, tag, blobs);
  }
  return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length, manifest: m.bytes, via, blobs };
}

function readIndexTag(layoutDir: string): string | undefined {
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests?: Descriptorish[] };
  return index.manifests?.[0]?.annotations?.['org.opencontainers.image.ref.name'];
}

/** The manifest bytes skopeo reads from the registry (`skopeo inspect --raw`). */
export async function skopeoInspectRaw(registry: RegistryTarget, ref: string, opts: { username?: string; password?: string; ca?: string } = {}): Promise<Buffer> {
  const t = targetOf(registry);
  const user = opts.username ?? t.user;
  const password = opts.password ?? t.password;
  const ca = opts.ca ?? t.ca;
  const tls = skopeoTls('--', t.url, ca);
  const creds = skopeoCreds({ user, password });
  const args = ['--insecure-policy', 'inspect', '--raw', ...tls.flags, ...(creds.length ? ['--creds', creds[0]] : []), `docker://${t.host}/${ref}`];
  const r = await runAsync('skopeo', args).finally(() => tls.certDir && removeTempDir(tls.certDir));
  if (r.status !== 0) throw new Error(`skopeo inspect --raw docker://${t.host}/${ref} exited ${r.status}:\n${r.stderr}`);
  return Buffer.from(r.stdout, 'utf8');
}
