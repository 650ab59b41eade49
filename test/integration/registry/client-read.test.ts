/** The registry client against Debian's real distribution 2.8: manifests, blobs, tags, deletes. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { FIXTURES } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const imageManifest = join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip');
const indexForm = join(FIXTURES, 'buildkit-v0.24-index-gzip');
const dockerList = join(FIXTURES, 'buildkit-v0.24-docker-list-gzip');

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

function blobFile(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(layout, 'blobs', alg, hex);
}

async function blobDigestsEqual(client: RegistryClient, repo: { registry: string; repository: string }, layout: string, descs: Desc[]) {
  for (const d of descs) {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    });
    await client.fetchBlob(repo, d, sink);
    assert.ok(Buffer.concat(chunks).equals(await readFile(blobFile(layout, d.digest))), d.digest);
  }
}

describe('registry client reads from a real registry (no auth)', () => {
  let reg: RunningRegistry;
  let proxy: CountingProxy;
  let client: RegistryClient;
  before(async () => {
    reg = await startRegistry({ deleteEnabled: false });
    proxy = await startProxy(reg.url);
    client = new RegistryClient({ credentials: new StaticCredentialStore() });
  });
  after(async () => {
    client?.close();
    await proxy?.stop();
    await reg?.stop();
  });

  it('gets an image-manifest cache by tag and by digest, bytes identical to the local layout', async () => {
    const pushed = await pushFixture(reg, imageManifest, 'cache:im');
    const local = layoutManifest(imageManifest);
    const byTag = await client.getManifest(`${reg.host}/cache:im`);
    assert.equal(byTag.digest, local.digest);
    assert.equal(byTag.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.ok(byTag.bytes.equals(local.bytes));
    const byDigest = await client.getManifest(`${reg.host}/cache@${pushed.digest}`);
    assert.equal(byDigest.digest, pushed.digest);
    assert.deepEqual(await client.headManifest(`${reg.host}/cache:im`), { digest: local.digest, mediaType: local.mediaType, size: local.bytes.length });
    assert.equal(await client.headManifest(`${reg.host}/cache:nope`), null);

    const json = JSON.parse(byTag.bytes.toString('utf8')) as { config: Desc; layers: Desc[] };
    const repo = { registry: reg.host, repository: 'cache' };
    const config = await client.readBlob(repo, json.config, { maxBytes: 1 << 20 });
    assert.ok(config.equals(await readFile(blobFile(imageManifest, json.config.digest))));
    await blobDigestsEqual(client, repo, imageManifest, json.layers);
    assert.deepEqual(await client.headBlob(repo, json.layers[0].digest), { digest: json.layers[0].digest, size: json.layers[0].size });
    assert.equal(await client.headBlob(repo, `sha256:${'0'.repeat(64)}`), null);
  });

  it('gets the index form and Docker media types as stored', async () => {
    for (const [layout, tag, type] of [
      [indexForm, 'idx', 'application/vnd.oci.image.index.v1+json'],
      [dockerList, 'dl', 'application/vnd.docker.distribution.manifest.list.v2+json'],
    ] as const) {
      const pushed = await pushFixture(reg, layout, `cache:${tag}`);
      const got = await client.getManifest(`${reg.host}/cache:${tag}`);
      assert.equal(got.mediaType, type);
      assert.equal(got.digest, pushed.digest);
      assert.ok(got.bytes.equals(layoutManifest(layout).bytes));
      const children = (JSON.parse(got.bytes.toString('utf8')) as { manifests: Desc[] }).manifests;
      await blobDigestsEqual(client, { registry: reg.host, repository: 'cache' }, layout, children);
    }
  });

  it("says which manifest is missing with the registry's own words", async () => {
    await assert.rejects(client.getManifest(`${reg.host}/cache:missing`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'not-found');
      assert.match(err.message, /^GET manifest 127\.0\.0\.1:\d+\/cache:missing: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown/);
      return true;
    });
    await assert.rejects(client.getManifest(`${reg.host}/nosuchrepo:x`), (err: unknown) => err instanceof CacheError && /NAME_UNKNOWN|MANIFEST_UNKNOWN/.test(err.message));
  });

  it('lists every tag of a repository', async () => {
    for (const t of ['a', 'b', 'c', 'd', 'e']) await pushFixture(reg, imageManifest, `paged:${t}`);
    proxy.clear();
    const viaProxy = new RegistryClient({ credentials: new StaticCredentialStore() });
    // distribution 2.8 ignores `n` (paging came in 3.x) and lists in storage order: every tag once is what matters.
    const tags = await viaProxy.listTags({ registry: proxy.host, repository: 'paged' }, { pageSize: 2 });
    viaProxy.close();
    assert.deepEqual([...tags].sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(proxy.requests().filter((r) => r.path.includes('/tags/list')).length, 1);
  });

  it('shows 405 UNSUPPORTED verbatim when deletes are disabled', async () => {
    const { digest } = layoutManifest(imageManifest);
    await assert.rejects(client.deleteManifest({ registry: reg.host, repository: 'cache' }, digest), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.match(err.message, /405 Method Not Allowed: UNSUPPORTED: The operation is unsupported\./);
      assert.deepEqual((err.details?.registryErrors as Array<{ code: string }>).map((e) => e.code), ['UNSUPPORTED']);
      return true;
    });
  });
});

describe('registry client deletes where the registry allows it', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ deleteEnabled: true });
  });
  after(async () => {
    await reg?.stop();
  });

  it('deletes a manifest by digest; the tag is gone afterwards', async () => {
    const pushed = await pushFixture(reg, imageManifest, 'cache:gone');
    const client = new RegistryClient({ credentials: new StaticCredentialStore() });
    await client.deleteManifest({ registry: reg.host, repository: 'cache' }, pushed.digest);
    assert.equal(await client.headManifest(`${reg.host}/cache:gone`), null);
    client.close();
  });
});
