/**
 * Cancelling a push against a real distribution 2.8 (through the engine, and the CLI on SIGINT): the
 * upload session that was going is DELETEd
 * (the registry's own access log shows it, 204), the registry keeps no upload folder, no saved upload
 * state is left to resume, and no tag was written. Blobs that finished before the cancel stay (whole
 * blobs are what a rerun skips).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { CacheError } from '../../../shared/contract/errors';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;
const BIN = join(REPO, 'bin', 'cachescope.mjs');

/** The nth PATCH is held back at the proxy: the cancel comes while it waits, so the registry still holds exactly what the PATCHes before it sent. */
function stallPatch(nth: number): FaultFn {
  let patches = 0;
  return (req) => (req.method === 'PATCH' && ++patches === nth ? { kind: 'stall', ms: 8000 } : undefined);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a cancelled push', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let src: string;
  let client: RegistryClient;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-cancel-'));
    registry = await startRegistry();
    proxy = await startProxy(registry);
    src = join(tmp, 'src');
    await generateCache(src, { seed: 'push-cancel', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 24 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    client = new RegistryClient({ env: {} });
  });
  after(async () => {
    client?.close();
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('DELETEs the upload session, leaves no upload folder, no saved state and no tag', async () => {
    proxy.setFaults(stallPatch(2));
    proxy.clear();
    registry.clearRequests();
    const opened = await openCacheSource(src);
    const stateDir = join(tmp, 'uploads');
    const controller = new AbortController();
    const running = runExport({
      opened,
      dest: 'unused',
      options: { tag: 'c' },
      signal: controller.signal,
      registry: { ...parseRegistryDestination(`${proxy.host}/cancel/cache:c`)!, client, stateDir, historyFile: null, concurrency: 1, chunkSize: 4 * MiB },
      verifyMemo: null,
    });
    await until(() => proxy.requests().filter((q) => q.method === 'PATCH').length >= 2, 'the second PATCH');
    controller.abort();
    await assert.rejects(running, (err: unknown) => err instanceof CacheError && err.code === 'cancelled');

    const log = await registry.settledRequests();
    const deletes = log.filter((q) => q.method === 'DELETE' && q.path.includes('/v2/cancel/cache/blobs/uploads/'));
    assert.equal(deletes.length, 1, log.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status}`).join('\n'));
    assert.equal(deletes[0].status, 204);
    // The DELETE went to the session of the held-back PATCH.
    const session = proxy.requests().filter((q) => q.method === 'PATCH')[1].path.replace(/\?.*/, '');
    assert.equal(deletes[0].path.replace(/\?.*/, ''), session);

    const uploads = join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'cancel', 'cache', '_uploads');
    // distribution 2.8 deletes the session's folder, then its request wrapper closes the writer once
    // more, which writes back an empty hash state (a distribution quirk): no upload data is left, and
    // the registry no longer knows the session.
    const left = existsSync(uploads) ? (await readdir(uploads, { recursive: true })).map(String) : [];
    assert.deepEqual(left.filter((f) => /(^|\/)(data|startedat)$/.test(f)), [], `upload files left: ${left.join(', ')}`);
    const status = await fetch(`${registry.url}${deletes[0].path}`);
    assert.equal(status.status, 404, 'the registry has forgotten the session');
    assert.match(await status.text(), /BLOB_UPLOAD_UNKNOWN/);
    const saved = existsSync(stateDir) ? (await readdir(stateDir, { recursive: true })).filter((f) => String(f).endsWith('.json')) : [];
    assert.deepEqual(saved, [], 'no upload state left to resume');
    assert.equal(await client.headManifest(`${proxy.host}/cancel/cache:c`).catch(() => null), null, 'no tag');
  });

  it('the CLI interrupted (SIGINT) mid-upload: exit 130, the session DELETEd, no state kept', async () => {
    // The CLI's 8 MiB chunks: the big layer's first PATCH is held back.
    proxy.setFaults(stallPatch(1));
    proxy.clear();
    registry.clearRequests();
    const cache = join(tmp, 'cli-cache');
    const env = { ...process.env, DOCKER_CONFIG: join(tmp, 'no-docker'), CACHESCOPE_CACHE_DIR: cache, XDG_CACHE_HOME: join(tmp, 'xdg'), CACHESCOPE_CLI: 'source' };
    const child = spawn(process.execPath, [BIN, 'export', src, `${proxy.host}/cancel/cli:c`, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until(() => proxy.requests().some((q) => q.method === 'PATCH'), 'the first PATCH');
    child.kill('SIGINT');
    assert.equal(await closed, 130, out);
    assert.match(out, /export cancelled/);
    const log = await registry.settledRequests();
    const deletes = log.filter((q) => q.method === 'DELETE' && q.path.includes('/v2/cancel/cli/blobs/uploads/'));
    const trail = log.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status}`).join('\n');
    // The held-back session is cancelled (204). A blob whose PUT body had all gone out when the signal
    // came may still land whole; its DELETE then finds no session (404): nothing half-done either way.
    const held = proxy.requests().find((q) => q.method === 'PATCH')!.path.replace(/\?.*/, '');
    assert.ok(deletes.some((q) => q.path.replace(/\?.*/, '') === held && q.status === 204), trail);
    assert.ok(deletes.every((q) => q.status === 204 || q.status === 404), trail);
    const regUploads = join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'cancel', 'cli', '_uploads');
    const left = existsSync(regUploads) ? (await readdir(regUploads, { recursive: true })).map(String) : [];
    const heldId = held.split('/').at(-1)!;
    assert.deepEqual(left.filter((f) => f.startsWith(`${heldId}/`) && /\/(data|startedat)$/.test(f)), [], `upload files left: ${left.join(', ')}\n${trail}`);
    // A monolithic PUT cut mid-body by the cancel leaves distribution 2.8 holding part of it under a
    // Location whose signed offset (0) no longer matches: it answers that DELETE 404 and keeps the part
    // until its own upload purge. No tag and no blob point at it.
    assert.equal(await client.headManifest(`${proxy.host}/cancel/cli:c`).catch(() => null), null, 'no tag');
    const uploads = join(cache, 'uploads');
    const saved = existsSync(uploads) ? (await readdir(uploads, { recursive: true })).filter((f) => String(f).endsWith('.json')) : [];
    assert.deepEqual(saved, [], 'no upload state left to resume');
  });
});
