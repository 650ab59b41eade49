import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { MANIFEST_ACCEPT } from '../../../electron/engine/registry/manifests';
import { fakeClock, serve } from './local-server';
import type { LocalServer } from './local-server';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const other = `sha256:${'b'.repeat(64)}`;

const servers: LocalServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function registry(answer: (path: string, res: ServerResponse) => void) {
  const s = await serve((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    answer(req.url ?? '', res);
  });
  servers.push(s);
  return s;
}

const client = () => new RegistryClient({ credentials: new StaticCredentialStore(), clock: fakeClock().clock });

function refused(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof CacheError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('manifests are checked before anyone uses them', () => {
  it('asks for every OCI and Docker manifest and index type, and returns bytes, type and digest', async () => {
    const s = await registry((_p, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest }).end(manifest));
    const c = client();
    const m = await c.getManifest(`${s.host}/repo:tag`);
    assert.deepEqual({ digest: m.digest, mediaType: m.mediaType, size: m.size }, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length });
    const accept = String(s.seen.at(-1)!.headers.accept);
    for (const t of ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json']) assert.ok(accept.includes(t), t);
    assert.equal(accept, MANIFEST_ACCEPT);
    c.close();
  });

  it('refuses bytes that do not match Docker-Content-Digest', async () => {
    const s = await registry((_p, res) => res.writeHead(200, { 'docker-content-digest': other }).end(manifest));
    const c = client();
    await assert.rejects(c.getManifest(`${s.host}/repo:tag`), refused('digest-mismatch', /Docker-Content-Digest says sha256:bbbb/));
    c.close();
  });

  it('refuses bytes that are not the digest asked for', async () => {
    const s = await registry((_p, res) => res.writeHead(200).end(manifest));
    const c = client();
    await assert.rejects(c.getManifest(`${s.host}/repo@${other}`), refused('digest-mismatch', new RegExp(`sent bytes of ${digest}, not the requested ${other}`)));
    assert.equal((await c.getManifest(`${s.host}/repo@${digest}`)).digest, digest);
    c.close();
  });

  it('refuses manifests above 4 MiB, by Content-Length or while reading', async () => {
    const big = Buffer.alloc((4 << 20) + 1, 0x20);
    const s = await registry((p, res) => {
      if (p.endsWith('/declared')) return res.writeHead(200, { 'content-length': big.length }).end(big);
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(big);
    });
    const c = client();
    await assert.rejects(c.getManifest(`${s.host}/repo:declared`), refused('too-large', /4194305 bytes, more than the 4194304 allowed/));
    await assert.rejects(c.getManifest(`${s.host}/repo:chunked`), refused('too-large', /more than 4194304 bytes/));
    c.close();
  });
});
