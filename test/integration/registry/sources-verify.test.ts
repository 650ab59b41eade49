/**
 * `verify` on registry caches against a real distribution 2.8: every referenced blob is streamed
 * through the per-user blob cache and checked (digest, size, diffID); a second run downloads nothing;
 * `--shallow` only sends HEADs; a blob the repository lost is missing; a blob whose bytes were
 * tampered with in the registry's storage is reported as corrupt, and never lands in the blob cache.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { createRegistryAccess } from '../../../electron/engine/sources/registry-source';
import type { RegistryAccess } from '../../../electron/engine/sources/registry-source';
import { verifyOpened } from '../../../electron/engine/store/verify-opened';
import { FIXTURES, REPO } from '../../helpers/fixtures';
import { layoutManifest, pushFixture, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, RunningRegistry } from '../../helpers/registry/index';

const exec = promisify(execFile);
const BIN = join(REPO, 'bin', 'cachescope.mjs');
const LAYOUT = join(FIXTURES, 'buildkit-v0.24-mixed-gzip-zstd');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('verify on a registry cache', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let access: RegistryAccess;
  let env: NodeJS.ProcessEnv;
  let cliEnv: NodeJS.ProcessEnv | null = null;
  const manifest = layoutManifest(LAYOUT);
  const json = manifest.json as { config: { digest: string }; layers: { digest: string; size: number; mediaType: string }[] };
  const referenced = [json.config.digest, ...new Set(json.layers.map((l) => l.digest))];

  const cli = async (...args: string[]): Promise<Run> => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd: REPO, env: cliEnv ?? env });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as Run;
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-sources-verify-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    await pushFixture(registry, LAYOUT, 'team/cache:main');
    await pushFixture(registry, LAYOUT, 'team/lossy:main');
    await pushFixture(registry, LAYOUT, 'team/tampered:main');
    access = createRegistryAccess({ blobCache: { root: join(tmp, 'blob-cache') } });
    env = { ...process.env, CACHESCOPE_CACHE_DIR: join(tmp, 'cli-blob-cache'), DOCKER_CONFIG: join(tmp, 'no-docker') };
  });
  after(async () => {
    access?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('streams every referenced blob through the blob cache and checks digest, size and diffID; a second run downloads nothing', async () => {
    const opened = await openCacheSource(`${proxy.host}/team/cache:main`, { registry: access });
    proxy.clear();
    const report = await verifyOpened(opened);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.missing, []);
    assert.equal(report.ok, true);
    assert.equal(report.checked, referenced.length);
    assert.equal(report.scope, 'source');
    const gets = proxy.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).map((r) => r.path.split('/blobs/')[1]);
    assert.deepEqual(gets.sort(), [...referenced].sort());
    for (const d of referenced) assert.ok(existsSync(join(tmp, 'blob-cache', 'blobs', 'sha256', d.slice(7))), d);

    proxy.clear();
    const again = await verifyOpened(opened);
    assert.equal(again.ok, true);
    assert.equal(again.checked, referenced.length);
    assert.deepEqual(proxy.requests().filter((r) => r.path.includes('/blobs/')), []);
  });

  it('--shallow sends only HEADs, through the CLI', async () => {
    proxy.clear();
    const run = await cli('verify', `${proxy.host}/team/cache:main`, '--shallow');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`found ${referenced.length} of ${referenced.length} referenced blobs in the registry \\(HEAD only`));
    const blobRequests = proxy.requests().filter((r) => r.path.includes('/blobs/'));
    // Opening reads the config (GET); verifying asks each blob with a HEAD.
    assert.deepEqual(blobRequests.filter((r) => r.method === 'GET').map((r) => r.path.split('/blobs/')[1]), [json.config.digest]);
    assert.deepEqual(blobRequests.filter((r) => r.method === 'HEAD').map((r) => r.path.split('/blobs/')[1]).sort(), [...referenced].sort());
    // Nothing was downloaded.
    assert.equal(existsSync(join(tmp, 'cli-blob-cache', 'blobs', 'blobs', 'sha256')), false);
  });

  it('a blob the repository lost is listed as missing, with --shallow and without', async () => {
    const lost = json.layers[json.layers.length - 1].digest;
    // Distribution links blobs into each repository: removing the link is a blob this repository lost.
    await rm(join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'team', 'lossy', '_layers', 'sha256', lost.slice(7)), { recursive: true });
    const shallow = await cli('verify', `${proxy.host}/team/lossy:main`, '--shallow', '--json');
    assert.equal(shallow.code, 1, shallow.stderr);
    const s = JSON.parse(shallow.stdout) as { missing: string[]; shallow: boolean; ok: boolean };
    assert.deepEqual([s.missing, s.shallow, s.ok], [[lost], true, false]);
    const deep = await cli('verify', `${proxy.host}/team/lossy:main`);
    assert.equal(deep.code, 1, deep.stderr);
    assert.match(deep.stdout, new RegExp(`missing 1 blobs:\\n  ${lost}`));
  });

  it('a blob tampered with in the registry is reported corrupt and never enters the blob cache', async () => {
    const victim = json.layers.find((l) => /gzip/.test(l.mediaType))!.digest;
    const data = join(registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', victim.slice(7, 9), victim.slice(7), 'data');
    const bytes = await readFile(data);
    bytes[bytes.length >> 1] ^= 0xff; // same size, one byte flipped
    await writeFile(data, bytes);
    // A fresh blob cache: the one the earlier runs filled holds the good bytes, verified when they landed.
    cliEnv = { ...env, CACHESCOPE_CACHE_DIR: join(tmp, 'fresh-blob-cache') };
    const run = await cli('verify', `${proxy.host}/team/tampered:main`);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, new RegExp(`digest-mismatch: ${victim}: .*hash to sha256:[0-9a-f]{64}, expected ${victim}.* \\(from ${proxy.host.replace(/\./g, '\\.')}/team/tampered\\)`));
    assert.match(run.stdout, /1 corrupt blob\(s\)/);
    // CACHESCOPE_CACHE_DIR/blobs is the blob cache's root, a content store.
    const cached = (d: string) => existsSync(join(tmp, 'fresh-blob-cache', 'blobs', 'blobs', 'sha256', d.slice(7)));
    assert.ok(!cached(victim), 'the corrupt blob is not in the blob cache');
    assert.deepEqual(referenced.filter((d) => d !== victim && !cached(d)), [], 'every good blob is');
    // The other blobs were checked and are fine.
    assert.match(run.stdout, new RegExp(`checked ${referenced.length - 1} blobs`));
  });
});
