/** Which source strings are registry references and which are paths: one rule, and a path that exists is never fetched. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import { parseSource } from '../../../electron/engine/sources/source-ref';
import { FIXTURES } from '../../helpers/fixtures';
import { writableCopy } from '../../helpers/layout-copy';

const LAYOUT = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const DIGEST = `sha256:${'c'.repeat(64)}`;

const isError = (code: string, ...words: string[]) => (err: unknown) => err instanceof CacheError && err.code === code && words.every((w) => err.message.includes(w));

describe('source strings: paths and registry references', () => {
  it('a reference whose first component is a registry host is a registry reference', () => {
    for (const [text, registry, repository, tag, digest] of [
      ['localhost:5000/team/cache:main', 'localhost:5000', 'team/cache', 'main', undefined],
      ['registry.example/cache', 'registry.example', 'cache', 'latest', undefined],
      [`127.0.0.1:5000/c@${DIGEST}`, '127.0.0.1:5000', 'c', undefined, DIGEST],
      ['localhost/c:v1', 'localhost', 'c', 'v1', undefined],
    ] as const) {
      const spec = parseSource(text);
      assert.equal(spec.kind, 'registry', text);
      if (spec.kind !== 'registry') continue;
      assert.deepEqual([spec.reference.registry, spec.reference.repository, spec.reference.tag, spec.reference.digest, spec.insecure, spec.image], [registry, repository, tag, digest, false, false], text);
    }
  });

  it("BuildKit's type=registry and type=local forms, and docker-image:// for inline cache", () => {
    const reg = parseSource('type=registry,ref=reg.example:5000/c:t,registry.insecure=true');
    assert.equal(reg.kind, 'registry');
    if (reg.kind === 'registry') assert.deepEqual([reg.reference.registry, reg.reference.tag, reg.insecure, reg.image], ['reg.example:5000', 't', true, false]);
    const img = parseSource('docker-image://reg.example/app:1');
    assert.equal(img.kind, 'registry');
    if (img.kind === 'registry') assert.deepEqual([img.reference.repository, img.image], ['app', true]);
    assert.deepEqual(parseSource(`type=local,src=${LAYOUT},tag=latest`), { kind: 'local', ref: { path: LAYOUT, tag: 'latest', digest: null } });
    assert.deepEqual(parseSource(`type=local,src=${LAYOUT},digest=${DIGEST}`), { kind: 'local', ref: { path: LAYOUT, tag: null, digest: DIGEST } });
    assert.throws(() => parseSource('type=local,tag=x'), isError('invalid-source', 'src'));
    assert.throws(() => parseSource('type=local,src=/no/such/cache'), isError('not-found', '/no/such/cache'));
    assert.throws(() => parseSource('type=registry,ref=reg.example/c,registry.insecure=maybe'), isError('invalid-source', 'registry.insecure'));
  });

  it('local forms stay local: DIR, DIR:tag, DIR@digest, files', () => {
    assert.deepEqual(parseSource(LAYOUT), { kind: 'local', ref: { path: LAYOUT, tag: null, digest: null } });
    assert.deepEqual(parseSource(`${LAYOUT}:latest`), { kind: 'local', ref: { path: LAYOUT, tag: 'latest', digest: null } });
    assert.deepEqual(parseSource(`${LAYOUT}@${DIGEST}`), { kind: 'local', ref: { path: LAYOUT, tag: null, digest: DIGEST } });
  });

  it('a string that is neither is an error that names both readings', () => {
    // No registry host: docker would send it to Docker Hub, which is never guessed here.
    assert.throws(() => parseSource('mycache:v1'), isError('not-found', 'no such file or directory', 'docker.io/library/mycache:v1'));
    assert.throws(() => parseSource('team/cache'), isError('not-found', 'no such file or directory', 'registry host'));
    assert.throws(() => parseSource('/no/such/dir:tag'), isError('not-found', 'no such file or directory', 'not a registry reference'));
    assert.throws(() => parseSource('./cache'), isError('not-found', 'no such file or directory'));
    // Credentials written into the reference are refused without being echoed.
    assert.throws(
      () => parseSource('alice:s3cret-pw@localhost:5000/c:t'),
      (err: unknown) => err instanceof CacheError && err.code === 'invalid-source' && !err.message.includes('s3cret-pw') && err.message.includes('no credentials'),
    );
    // A registry host but a bad repository: the reference's own error, with the path reading too.
    assert.throws(() => parseSource('localhost:5000/Bad:tag'), isError('not-found', 'no such file or directory', 'repository'));
  });
});

describe('a path that exists locally is never fetched', () => {
  let server: ReturnType<typeof createServer>;
  let port = 0;
  const seen: string[] = [];
  let cwd = '';
  let work = '';

  before(async () => {
    // A registry stand-in on loopback that counts every request it gets (any answer is a 404).
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
    cwd = process.cwd();
    work = await mkdtemp(join(tmpdir(), 'cachescope-source-strings-'));
    process.chdir(work);
    // Folders named exactly like registry references, relative to the working directory.
    await mkdir(`localhost:${port}`);
    await writableCopy(LAYOUT, `localhost:${port}/repo:tag`);
    await writableCopy(LAYOUT, `localhost:${port}/plain`);
  });

  after(async () => {
    process.chdir(cwd);
    await rm(work, { recursive: true, force: true });
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  it('opens the folder and sends nothing, for the name as written and for DIR:tag', async () => {
    const events: string[] = [];
    const access = createRegistryAccess({ client: { onRequest: (e) => events.push(JSON.stringify(e)) }, blobCache: { root: join(work, 'blob-cache') } });
    try {
      for (const source of [`localhost:${port}/repo:tag`, `localhost:${port}/plain:latest`, `type=local,src=localhost:${port}/plain`]) {
        const opened = await openCacheSource(source, { registry: access });
        assert.equal(opened.blobs.kind, 'local', source);
        assert.equal(opened.registry, null, source);
        assert.ok(opened.layout, source);
      }
      assert.deepEqual(events, []);
      assert.deepEqual(seen, []);
      // The control: the same shape of name with no folder behind it does go to the network.
      await assert.rejects(openCacheSource(`localhost:${port}/absent:tag`, { registry: access }), isError('not-found'));
      assert.ok(seen.length > 0, 'the control request reached the stand-in registry');
      assert.ok(events.length > 0);
    } finally {
      access.close();
    }
  });
});
