/**
 * Every refusal issue 10 lists, through the strict proxy imitating the registry that says it (the
 * exact texts of registries.md §1–2) in front of a real distribution 2.8: the registry's own words
 * verbatim, then `meaning:` and `fix:`. Index form refused by ECR, GCR, Harbor (404), Quay, Gitea and
 * distribution 3; `insufficient_scope`; GHCR's `denied`; `toomanyrequests` after bounded retries; ECR's
 * immutable tags; a proxy's 413 that no chunk size gets under.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../../scripts/cache-generator/generate';
import type { ExportOptions } from '../../../shared/export/types';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { Clock } from '../../../electron/engine/registry/retry';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { FIXTURES } from '../../helpers/fixtures';
import { imitateRegistry, startProxy, startRegistry, startTokenServer } from '../../helpers/registry/index';
import type { CountingProxy, ImitatedRegistry, ImitationOptions, RunningRegistry, TokenServer } from '../../helpers/registry/index';

/** Waits take no time: retries are counted, never timed. */
const instantClock: Clock = { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 };

describe('push rejections, explained', () => {
  let registry: RunningRegistry;
  let tokens: TokenServer;
  let tmp: string;
  let client: RegistryClient;
  let bigLayerCache: string;
  const proxies: CountingProxy[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-rejections-'));
    registry = await startRegistry();
    tokens = await startTokenServer();
    client = new RegistryClient({ env: {}, clock: instantClock, retry: { maxRetries: 2 } });
    bigLayerCache = join(tmp, 'big');
    await generateCache(bigLayerCache, { seed: 'push-rejections', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 512 << 10, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  });
  after(async () => {
    client?.close();
    for (const p of proxies) await p.stop();
    await tokens?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  async function pushThrough(kind: ImitatedRegistry, opts: ImitationOptions, fixture: string, options: ExportOptions, repo: string): Promise<{ error: Error | null; proxy: CountingProxy }> {
    const proxy = await startProxy(registry, { faults: imitateRegistry(kind, opts) });
    proxies.push(proxy);
    const src = await openCacheSource(fixture.startsWith('/') ? fixture : join(FIXTURES, fixture));
    try {
      // One blob at a time: the first refused request ends the push, so requests can be counted exactly.
      await runExport({ opened: src, dest: 'unused', options, registry: { ...parseRegistryDestination(`${proxy.host}/${repo}`)!, client, stateDir: null, historyFile: null, concurrency: 1 }, verifyMemo: null });
      return { error: null, proxy };
    } catch (err) {
      return { error: err as Error, proxy };
    }
  }

  const INDEX_REFUSALS: [ImitatedRegistry, RegExp][] = [
    ['ecr', /400 Bad Request.*UNSUPPORTED: Unsupported manifest type: "application\/vnd\.oci\.image\.index\.v1\+json"/s],
    ['gcr', /MANIFEST_INVALID: Image index child manifest not supported: application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip\./],
    ['harbor', /404 Not Found/],
    ['quay', /MANIFEST_INVALID: manifest invalid.*'platform' is a required property/s],
    ['gitea', /MANIFEST_INVALID: manifest invalid.*index entries must be image manifests/s],
    ['distribution3', /MANIFEST_BLOB_UNKNOWN: blob unknown to registry/],
  ];
  for (const [kind, words] of INDEX_REFUSALS) {
    it(`${kind} refusing the index form: its words, "does not accept the index form", image-manifest=true`, async () => {
      const { error } = await pushThrough(kind, {}, 'buildkit-v0.24-index-gzip', { 'image-manifest': false, tag: 'idx' }, `strict/${kind}:idx`);
      assert.ok(error, 'the push failed');
      assert.match(error.message, words);
      assert.match(error.message, /\n {2}meaning: this registry does not accept the index form of a cache manifest/);
      assert.match(error.message, /\n {2}fix: export with image-manifest=true/);
    });
  }

  it('the Docker manifest list to ECR names the list type in ECR\'s words', async () => {
    const { error } = await pushThrough('ecr', {}, 'buildkit-v0.24-docker-list-gzip', { 'image-manifest': false, 'oci-mediatypes': false, tag: 'list' }, 'strict/ecr-list:list');
    assert.match(error!.message, /UNSUPPORTED: Unsupported manifest type: "application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json"/);
    assert.match(error!.message, /fix: export with image-manifest=true/);
  });

  it('insufficient_scope: the push is not allowed, log in with push rights', async () => {
    const { error, proxy } = await pushThrough('ghcr', { insufficientScope: { realm: tokens.realm, service: tokens.service } }, 'buildkit-v0.24-image-manifest-gzip', { tag: 's' }, 'strict/scope:s');
    assert.ok(error);
    assert.match(error.message, /401 Unauthorized/);
    assert.match(error.message, /UNAUTHORIZED: authentication required/);
    assert.match(error.message, /meaning: the credentials for .* are not allowed to push to strict\/scope \(insufficient_scope\)/);
    assert.match(error.message, /fix: log in with an account that has push rights on .*strict\/scope/);
    // The 401 was answered once with a fresh token, then reported (no loop).
    assert.equal(proxy.requests().filter((q) => q.status === 401).length, 2);
    assert.ok(tokens.requests().length >= 1);
  });

  it('GHCR denied: permission_denied: write_package', async () => {
    const { error } = await pushThrough('ghcr', { denied: true }, 'buildkit-v0.24-image-manifest-gzip', { tag: 'd' }, 'strict/denied:d');
    assert.ok(error);
    assert.match(error.message, /403 Forbidden/);
    assert.match(error.message, /DENIED: permission_denied: write_package/);
    assert.match(error.message, /meaning: .* denies this account write access to strict\/denied/);
    assert.match(error.message, /fix: ask for write \(push\) permission/);
  });

  it('toomanyrequests: retried a bounded number of times, then explained', async () => {
    const { error, proxy } = await pushThrough('hub', { rateLimited: { retryAfter: 30 } }, 'buildkit-v0.24-image-manifest-gzip', { tag: 'r' }, 'strict/ratelimit:r');
    assert.ok(error);
    assert.match(error.message, /429/);
    assert.match(error.message, /TOOMANYREQUESTS: You have reached your pull rate limit/);
    assert.match(error.message, /meaning: .* is rate-limiting this client \(429 toomanyrequests\)/);
    assert.match(error.message, /fix: wait a while and run the export again/);
    // The refused upload start was tried 1 + maxRetries times, no more, and the push stopped there.
    assert.equal(proxy.requests().filter((q) => q.status === 429).length, 3);
  });

  it('ECR immutable tags: tag invalid … cannot be overwritten because the repository is immutable', async () => {
    const proxy = await startProxy(registry, { faults: imitateRegistry('ecr', { immutableTags: true }) });
    proxies.push(proxy);
    const src = await openCacheSource(join(FIXTURES, 'buildkit-v0.24-image-manifest-gzip'));
    const push = () => runExport({ opened: src, dest: 'unused', options: { tag: 'frozen' }, registry: { ...parseRegistryDestination(`${proxy.host}/strict/immutable:frozen`)!, client, stateDir: null, historyFile: null }, verifyMemo: null });
    await push();
    await assert.rejects(push(), (err: Error) => {
      assert.match(err.message, /TAG_INVALID: The image tag 'frozen' already exists in the 'strict\/immutable' repository and cannot be overwritten because the repository is immutable\./);
      assert.match(err.message, /meaning: the tag frozen already exists in .*strict\/immutable .*immutable tags/);
      assert.match(err.message, /fix: export to a new tag/);
      return true;
    });
  });

  it('413 Request Entity Too Large that no chunk size gets under: explained, after halving down to 64 KiB', async () => {
    const { error, proxy } = await pushThrough('hub', { maxBodyBytes: 16 << 10 }, bigLayerCache, { tag: 'big' }, 'strict/toolarge:big');
    assert.ok(error);
    assert.match(error.message, /413 Request Entity Too Large/);
    assert.match(error.message, /meaning: the registry, or a proxy in front of it, refuses request bodies this large/);
    assert.match(error.message, /fix: raise the proxy's body limit/);
    const refused = proxy.requests().filter((q) => q.status === 413);
    assert.ok(refused.length >= 2, 'halved before giving up');
  });
});
