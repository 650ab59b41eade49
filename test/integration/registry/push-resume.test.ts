/**
 * Resume across runs: a CLI push SIGKILLed mid-blob keeps the newest upload Location and offset in
 * the per-user cache; run again, it asks the registry where the upload stands and sends only the
 * rest (proxy byte counts). A saved Location the registry no longer honours starts that blob over.
 * Output never carries the password of an htpasswd registry.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { REPO } from '../../helpers/fixtures';
import { skopeoInspectRaw, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, RunningRegistry } from '../../helpers/registry/index';

const BIN = join(REPO, 'bin', 'cachescope.mjs');
const MiB = 1 << 20;

function cli(args: string[], env: NodeJS.ProcessEnv): { done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>; pid: number; kill: () => void } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out })));
  return { done, pid: child.pid!, kill: () => child.kill('SIGKILL') };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('push resumes across runs', () => {
  let registry: RunningRegistry;
  let proxy: CountingProxy;
  let tmp: string;
  let src: string;
  let env: NodeJS.ProcessEnv;
  let bigSize = 0;
  let layerSizes: number[] = [];
  let layerDigests: string[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-resume-'));
    registry = await startRegistry({ auth: 'htpasswd' });
    src = join(tmp, 'src');
    const gen = await generateCache(src, { seed: 'push-resume', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 40 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    layerSizes = gen.layerDescriptors.map((d: { size: number }) => d.size);
    layerDigests = gen.layerDescriptors.map((d: { digest: string }) => d.digest);
    bigSize = Math.max(...layerSizes);
    const docker = join(tmp, 'docker');
    await mkdir(docker, { recursive: true });
    env = { ...process.env, DOCKER_CONFIG: docker, CACHESCOPE_CACHE_DIR: join(tmp, 'cache'), XDG_CACHE_HOME: join(tmp, 'xdg'), CACHESCOPE_CLI: 'source' };
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: {} }));
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a CLI push SIGKILLed mid-blob, run again, sends only the rest and never prints the password', async () => {
    let patches = 0;
    // The third 8 MiB PATCH of the big layer is held back: the process is killed while it waits.
    const faults: FaultFn = (req) => (req.method === 'PATCH' && ++patches === 3 ? { kind: 'stall', ms: 30_000 } : undefined);
    proxy = await startProxy(registry, { faults });
    const password = registry.users.alice;
    const auth = Buffer.from(`alice:${password}`).toString('base64');
    await writeFile(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth } } }));
    assert.ok(bigSize > 16 * MiB, `the big layer is ${bigSize} bytes`);

    const ref = `${proxy.host}/resume/cli:latest`;
    const first = cli(['export', src, ref, '--json'], env);
    await until(() => proxy.requests().filter((q) => q.method === 'PATCH').length >= 3, 'the third PATCH');
    first.kill();
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    const uploads = await readdir(join(tmp, 'cache', 'uploads'), { recursive: true });
    assert.ok(uploads.some((f) => String(f).endsWith('.json')), `saved upload state: ${uploads.join(', ')}`);
    const sentBefore = proxy.requests().reduce((n, q) => n + q.bytesForwarded, 0);

    proxy.clear();
    const second = await cli(['export', src, ref, '--json'], env).done;
    assert.equal(second.code, 0, second.out.split("\n").filter((l) => !l.includes("exportProgress")).join("\n"));
    const finished = JSON.parse(second.out.trim().split('\n').at(-1)!) as { ok: boolean; 'cache.manifest': { digest: string }; result: { counts: { resumed: number } } };
    assert.equal(finished.ok, true);
    // The rerun asks where each saved upload stands and continues from there: no new upload session
    // for the held-back blob, and exactly the bytes the registry did not have yet. The other layer
    // depends on where the kill found it: cut mid-PATCH, distribution forgets its session (404) and it
    // starts over; between two of its chunks, its session is whole and it resumes too.
    const rerun = proxy.requests();
    const statuses = rerun.filter((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/') && q.status === 204);
    assert.ok(statuses.length >= 1, 'the rerun asked the registry where the upload stands');
    assert.equal(finished.result.counts.resumed, statuses.length, 'every session the registry still held was resumed');
    const trail = rerun.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn} ${q.contentRange ?? ''}`).join('\n');
    for (const status of statuses) {
      const session = status.path.replace(/\?.*/, '');
      // PATCHes, then the final PUT carrying the last chunk (only that PUT when one chunk was left).
      const rerunPatches = rerun.filter((q) => (q.method === 'PATCH' || q.method === 'PUT') && q.path.replace(/\?.*/, '') === session);
      const put = rerunPatches.find((q) => q.method === 'PUT' && q.status === 201);
      assert.ok(put, `the resumed session ${session} was committed:\n${trail}`);
      const size = layerSizes[layerDigests.indexOf(decodeURIComponent(/[?&]digest=([^&]+)/.exec(put.path)?.[1] ?? ''))];
      assert.ok(size !== undefined, `the PUT names a layer: ${put.path}`);
      const patched = rerunPatches.reduce((n, q) => n + q.bytesIn, 0);
      const firstPatch = rerunPatches.find((q) => q.method === 'PATCH');
      const resumedAt = firstPatch ? Number(firstPatch.contentRange!.split('-')[0]) : size - patched;
      assert.ok(resumedAt >= 8 * MiB, `resumed at ${resumedAt}`);
      // Exactly the rest of that blob: what it held (resumedAt) plus what was sent is the whole blob.
      assert.equal(resumedAt + patched, size, `rerun sent ${patched} bytes after ${resumedAt} of a ${size}-byte layer:\n${trail}`);
      console.log(`resume across runs: the killed run forwarded ${sentBefore} bytes; the rerun resumed a ${size}-byte blob at ${resumedAt} and sent ${patched} bytes of it`);
    }
    assert.ok(second.out.includes('"resumed"'), 'a layer showed the state resumed');
    const raw = await skopeoInspectRaw(registry, 'resume/cli:latest');
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, finished['cache.manifest'].digest);
    for (const text of [killed.out, second.out]) {
      assert.ok(!text.includes(password), 'no password in output');
      assert.ok(!text.includes(auth), 'no auth string in output');
    }
    // The state of a finished blob is removed.
    const left = (await readdir(join(tmp, 'cache', 'uploads'), { recursive: true })).filter((f) => String(f).endsWith('.json'));
    assert.deepEqual(left, []);
  });
});
