/**
 * Audit of issue 9's pull path on download threads (registry/direct-download.ts), against a real
 * distribution 2.8 with Bearer tokens: when planning the thread's GET fails for a reason that is the
 * registry's (a token refused), the user sees that reason, as the stream path would show it, and not
 * a file error; nothing lands in the blob cache, and no credential appears in the error. And each
 * repository's layers go to the threads with that repository's own token.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { directDownloadCounts } from '../../../electron/engine/registry/direct-download';
import type { DirectDownloadCounts } from '../../../electron/engine/registry/direct-download';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { pushFixture, startRegistry, startTokenServer } from '../../helpers/registry/index';
import type { RunningRegistry, TokenServer } from '../../helpers/registry/index';

const MiB = 1 << 20;
const PASSWORD = 'audit9-first-secret';

function since(before: DirectDownloadCounts): DirectDownloadCounts {
  const now = directDownloadCounts();
  return { complete: now.complete - before.complete, fallback: now.fallback - before.fallback, partial: now.partial - before.partial };
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (e.isFile()) out.push(e.name);
  return out;
}

describe('a token refused while a layer download is planned (distribution 2.8, token auth)', () => {
  let registry: RunningRegistry;
  let tokens: TokenServer;
  let tmp: string;
  let layer: { digest: string; size: number };
  const users: Record<string, string> = { alice: PASSWORD };
  let access: RegistryAccess | undefined;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-audit9-errors-'));
    tokens = await startTokenServer({ users });
    registry = await startRegistry({ auth: 'token', tokenServer: tokens, users });
    const src = join(tmp, 'src');
    const gen = await generateCache(src, { seed: 'audit9-errors', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 1 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    const big = gen.layerDescriptors.filter((d: { size: number }) => d.size > 64 * 1024) as { digest: string; size: number }[];
    assert.ok(big.length >= 1);
    layer = { digest: big[0].digest, size: big[0].size };
    await pushFixture(registry, src, 'audit/errors:main');
    await pushFixture(registry, src, 'audit/other:main');
  });
  after(async () => {
    access?.close();
    await registry?.stop();
    await tokens?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('each repository’s layers go on the threads with that repository’s own token', async () => {
    const scoped = createRegistryAccess({
      blobCache: { root: join(tmp, 'scoped') },
      client: { credentials: new StaticCredentialStore({ [registry.host]: { username: 'alice', password: PASSWORD } }) },
    });
    try {
      tokens.clear();
      const before = directDownloadCounts();
      for (const repo of ['audit/errors', 'audit/other']) {
        const opened = await openCacheSource(`${registry.host}/${repo}:main`, { registry: scoped });
        // A fresh cache per repository, so the second download is not served from the first.
        const file = await opened.blobs.get(layer);
        await file.release();
        await (await scoped.blobCache()).evict({ maxBytes: 0 });
      }
      // Accepted at once by the registry: a token for the other repository would have been a 401 (a fallback).
      assert.deepEqual(since(before), { complete: 2, fallback: 0, partial: 0 });
      const scopes = tokens.requests().filter((r) => r.status === 200).flatMap((r) => r.scopes);
      assert.ok(scopes.includes('repository:audit/errors:pull') && scopes.includes('repository:audit/other:pull'), scopes.join(' '));
    } finally {
      scoped.close();
    }
  });

  it('shows the token server’s refusal, not “cannot write”, and keeps the blob cache empty', async () => {
    let now = Date.now();
    const cacheRoot = join(tmp, 'cache');
    access = createRegistryAccess({
      blobCache: { root: cacheRoot },
      client: { credentials: new StaticCredentialStore({ [registry.host]: { username: 'alice', password: PASSWORD } }), clock: { now: () => now } },
    });
    const opened = await openCacheSource(`${registry.host}/audit/errors:main`, { registry: access });
    // The cached token expires (fake time) and the password was changed meanwhile: the next token is refused.
    now += 3600_000;
    users.alice = 'audit9-changed-secret';
    const err = await opened.blobs.get(layer).then(
      () => assert.fail('the download should fail'),
      (e: unknown) => e as Error & { code?: string },
    );
    assert.doesNotMatch(err.message, /cannot write/, err.message);
    assert.notEqual(err.code, 'io', err.message);
    assert.match(err.message, /token|401|unauthori[sz]ed|credentials|password/i, err.message);
    assert.ok(!err.message.includes(PASSWORD), 'no credential in the error');
    assert.deepEqual((await filesUnder(cacheRoot)).filter((n) => n.length === 64), [], 'no blob committed');
  });
});
