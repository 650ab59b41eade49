/**
 * Resume, shown in the proxy's byte counts, against a real distribution 2.8 (what Debian ships):
 *
 * - a 256 MiB blob whose connection drops at 60% between chunks (the cut PATCH's body never reached
 *   the registry) finishes by sending only the rest: about 40%;
 * - the same drop in the middle of a chunk: distribution 2.8 appends the bytes that did arrive to the
 *   session but never hands out a Location for that size, so every later request on the session
 *   answers 404 BLOB_UPLOAD_INVALID ("upload resumed at wrong offest: <held> != <signed>" in its log).
 *   Nothing can resume that session; the blob starts over in a new one (measured: 100% sent again);
 * - a CLI push SIGKILLed mid-blob: killed while a PATCH waits (nothing of it arrived), the rerun sends
 *   only the rest; killed mid-body, 2.8 refuses the session as above and the rerun sends that blob
 *   again in full (measured), every other blob resuming or skipped;
 * - a stale saved Location (older than the session's size) is refused by 2.8 with 404
 *   BLOB_UPLOAD_INVALID (not 416 RANGE_INVALID): that one blob starts over, the push succeeds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { open, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { REPO } from '../../helpers/fixtures';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, FaultFn, ProxyRequest, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;
const CHUNK = 8 * MiB;

const pct = (n: number, of: number) => `${((n / of) * 100).toFixed(1)}%`;
const show = (reqs: ProxyRequest[]) => reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn} ${q.contentRange ?? ''}`).join('\n');

describe('resume in byte counts', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let file: string;
  let digest: string;
  const size = 256 * MiB;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-resume-large-'));
    registry = await startRegistry();
    // 256 MiB of random bytes, written in slices so the test never holds it all at once.
    file = join(tmp, 'blob');
    const fh = await open(file, 'w');
    const hash = createHash('sha256');
    const slice = Buffer.alloc(16 * MiB);
    for (let at = 0; at < size; at += slice.length) {
      randomFillSync(slice);
      hash.update(slice);
      await fh.write(slice, 0, slice.length, at);
    }
    await fh.close();
    digest = `sha256:${hash.digest('hex')}`;
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  /** Pushes the 256 MiB blob with the 20th 8 MiB PATCH (bytes 152–160 MiB: 60% is 153.6 MiB) cut after `cutAfter` of its bytes. */
  async function pushCutAt60(repository: string, cutAfter: number): Promise<{ reqs: ProxyRequest[]; afterDrop: number; total: number; outcome: string }> {
    let patches = 0;
    const faults: FaultFn = (req) => (req.method === 'PATCH' && ++patches === 20 ? { kind: 'reset', afterBytes: cutAfter, direction: 'request' } : undefined);
    const proxy = await startProxy(registry, { faults });
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const repo = { registry: proxy.host, repository };
      const r = await client.pushBlob(repo, { digest, size }, file, { chunkSize: CHUNK });
      await new Promise((res) => setTimeout(res, 100));
      const reqs = proxy.requests();
      const cut = reqs.find((q) => q.fault === 'reset')!;
      assert.ok(cut, show(reqs));
      const afterDrop = reqs.filter((q) => q.index > cut.index).reduce((n, q) => n + q.bytesIn, 0);
      const total = reqs.reduce((n, q) => n + q.bytesForwarded, 0);
      // What the registry serves is the blob, byte for byte (hashed by the client as it reads).
      const info = await client.headBlob(repo, digest);
      assert.equal(info?.size, size);
      return { reqs, afterDrop, total, outcome: r.outcome };
    } finally {
      client.close();
      await proxy.stop();
    }
  }

  it('dropped at 60% between chunks (the cut PATCH never reached the registry): only about the remaining 40% is sent again', async () => {
    const { reqs, afterDrop, total } = await pushCutAt60('resume/between', 0);
    const status = reqs.find((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/'));
    assert.equal(status?.status, 204, 'asked the registry where the upload stands');
    // Resumed at 152 MiB (the last acknowledged chunk): 104 MiB = 40.6% of the blob.
    assert.equal(afterDrop, size - 19 * CHUNK, show(reqs));
    assert.ok(afterDrop / size < 0.42, pct(afterDrop, size));
    console.log(`256 MiB blob, drop at 60% between chunks: ${afterDrop} bytes (${pct(afterDrop, size)}) sent after the drop; ${total} bytes reached the registry in all (${pct(total, size)})`);
  });

  it('dropped at 60% mid-chunk: distribution 2.8 refuses the session (404 BLOB_UPLOAD_INVALID), so the blob starts over and lands intact', async () => {
    const cutAfter = Math.round(0.6 * size) - 19 * CHUNK;
    const { reqs, afterDrop, total } = await pushCutAt60('resume/midchunk', cutAfter);
    const status = reqs.find((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/'))!;
    // The registry's own words, from its log: it kept the partial chunk and now refuses every Location.
    assert.equal(status.status, 404, show(reqs));
    assert.match(registry.log(), /upload resumed at wrong offest: \d+ != \d+/);
    // One new session, the whole blob again: nothing of the first session could be used.
    const posts = reqs.filter((q) => q.method === 'POST');
    assert.equal(posts.length, 2, show(reqs));
    assert.equal(afterDrop, size, show(reqs));
    console.log(`256 MiB blob, drop at 60% mid-chunk: distribution 2.8 kept ${19 * CHUNK + cutAfter} bytes but refuses the session; ${afterDrop} bytes (${pct(afterDrop, size)}) sent after the drop; ${total} bytes reached the registry in all (${pct(total, size)})`);
  });
});

function cli(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'cachescope.mjs'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out })));
  return { done, kill: () => child.kill('SIGKILL') };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * True once the CLI has saved, for every upload session the registry acknowledged a chunk of, the
 * offset the registry holds. The proxy sees an exchange end a moment before the CLI writes its state:
 * a kill in between would leave a Location older than the session (which 2.8 refuses) by chance, not
 * by the test's design.
 */
function statesSaved(uploadsDir: string, reqs: ProxyRequest[]): boolean {
  const acked = new Map<string, number>();
  for (const q of reqs) {
    if (q.method !== 'PATCH' || q.status !== 202) continue;
    const session = q.path.replace(/\?.*/, '');
    acked.set(session, (acked.get(session) ?? 0) + q.bytesForwarded);
  }
  if (acked.size === 0) return true;
  if (!existsSync(uploadsDir)) return false;
  const saved = new Map<string, number>();
  for (const f of readdirSync(uploadsDir, { recursive: true })) {
    if (!String(f).endsWith('.json')) continue;
    try {
      const state = JSON.parse(readFileSync(join(uploadsDir, String(f)), 'utf8')) as { location: string; offset: number };
      saved.set(new URL(state.location).pathname, state.offset);
    } catch {
      return false; // renamed away between the listing and the read: look again
    }
  }
  return [...acked].every(([session, bytes]) => saved.get(session) === bytes);
}

describe('a CLI push killed mid-blob, run again', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let src: string;
  let layerSizes: number[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-kill-'));
    registry = await startRegistry();
    src = join(tmp, 'src');
    const gen = await generateCache(src, { seed: 'push-kill', stages: 1, layersPerStage: 1, layers: 2, baseLayers: 1, layerBytes: 40 * MiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
    layerSizes = gen.layerDescriptors.map((d: { size: number }) => d.size);
    // Every layer takes more than two chunks, so each can be held after one or two acknowledged ones.
    assert.ok(Math.min(...layerSizes) > 2 * CHUNK, `layers ${layerSizes.join(', ')}`);
  });
  after(async () => {
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  /**
   * Runs the CLI push, letting each layer's upload session have `acked` PATCHes and holding every
   * later PATCH or PUT of that session (with `midBody`, the first held PATCH is let through for that
   * many bytes first). Holding per session, not by a global count, gives every blob the same state at
   * the kill whatever order the two uploads interleave in. Once every layer has a held request, every
   * other exchange is over and its acknowledgement is saved, kills the CLI, optionally `tamper`s with
   * the saved state, and runs it again.
   */
  async function killAndRerun(name: string, acked: number, midBody?: number, tamper?: (stateFiles: string[], killed: ProxyRequest[], proxy: CountingProxy) => Promise<void>) {
    const patchesOf = new Map<string, number>();
    let cutOne = false;
    const session = (q: { path: string }) => q.path.replace(/\?.*/, '');
    const faults: FaultFn = (req) => {
      if (!req.path.includes('/blobs/uploads/') || (req.method !== 'PATCH' && req.method !== 'PUT')) return undefined;
      const s = session(req);
      const seen = patchesOf.get(s) ?? 0;
      if (req.method === 'PATCH') patchesOf.set(s, seen + 1);
      // A PUT with no PATCH before it is a small blob's (the config's) monolithic upload: let it land.
      if (seen < acked && (req.method === 'PATCH' || seen === 0)) return undefined;
      if (req.method === 'PATCH' && midBody && !cutOne) {
        cutOne = true;
        return { kind: 'stall', ms: 120_000, afterBytes: midBody, direction: 'request' };
      }
      return { kind: 'stall', ms: 120_000 };
    };
    const proxy = await startProxy(registry, { faults });
    const env = { ...process.env, DOCKER_CONFIG: join(tmp, name, 'docker'), CACHESCOPE_CACHE_DIR: join(tmp, name, 'cache'), XDG_CACHE_HOME: join(tmp, name, 'xdg'), CACHESCOPE_CLI: 'source' };
    await mkdir(env.DOCKER_CONFIG, { recursive: true });
    try {
      const ref = `${proxy.host}/kill/${name}:latest`;
      const first = cli(['export', src, ref, '--json'], env);
      await until(() => {
        const reqs = proxy.requests();
        const held = reqs.filter((q) => q.fault === 'stall');
        const layers = new Set(reqs.filter((q) => q.method === 'PATCH').map(session));
        if (layers.size < layerSizes.length || !held.every((q) => layers.has(session(q)))) return false;
        if (![...layers].every((l) => held.some((q) => session(q) === l))) return false;
        if (midBody && !held.some((q) => q.bytesForwarded >= midBody)) return false;
        // Nothing else mid-body at the kill: every other exchange is over, and its acknowledgement saved.
        return reqs.filter((q) => q.fault !== 'stall').every((q) => q.done) && statesSaved(join(env.CACHESCOPE_CACHE_DIR, 'uploads'), reqs);
      }, `a held upload request for each of the ${layerSizes.length} layers`);
      // The run is killed with uploads held: none of their bytes reached the registry.
      first.kill();
      assert.equal((await first.done).signal, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      const killed = proxy.requests();
      const stateFiles = (await readdir(join(env.CACHESCOPE_CACHE_DIR, 'uploads'), { recursive: true })).filter((f) => String(f).endsWith('.json')).map((f) => join(env.CACHESCOPE_CACHE_DIR, 'uploads', String(f)));
      assert.ok(stateFiles.length >= 1, 'saved upload state');
      if (tamper) await tamper(stateFiles, killed, proxy);
      proxy.setFaults(undefined);
      proxy.clear();
      const second = await cli(['export', src, ref, '--json'], env).done;
      assert.equal(second.code, 0, second.out.split('\n').filter((l) => !l.includes('exportProgress')).join('\n'));
      const rerun = proxy.requests();
      // Layer bytes: every layer is larger than a chunk, so its session has a PATCH or a status GET (the config's has neither).
      const layerSessions = new Set(rerun.filter((q) => q.method === 'PATCH' || q.method === 'GET').map(session));
      const blobBytes = rerun.filter((q) => (q.method === 'PATCH' || q.method === 'PUT') && layerSessions.has(session(q))).reduce((n, q) => n + q.bytesIn, 0);
      const sentBefore = killed.reduce((n, q) => n + q.bytesForwarded, 0);
      return { killed, rerun, blobBytes, sentBefore, out: second.out };
    } finally {
      await proxy.stop();
    }
  }

  it('killed while its PATCHes wait (none of their bytes arrived): the rerun sends exactly the rest', async () => {
    const total = layerSizes.reduce((a, b) => a + b, 0);
    // Each blob has one acknowledged 8 MiB chunk when the process dies.
    const r = await killAndRerun('waiting', 1);
    const statuses = r.rerun.filter((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/'));
    assert.ok(statuses.length === 2 && statuses.every((q) => q.status === 204), show(r.rerun));
    assert.ok(r.out.includes('"resumed"'));
    const acked = r.killed.filter((q) => q.method === 'PATCH' && q.status === 202).reduce((n, q) => n + q.bytesForwarded, 0);
    assert.equal(r.blobBytes, total - acked, show(r.rerun));
    console.log(`CLI killed between chunks: the registry held ${acked} acknowledged bytes; the rerun sent ${r.blobBytes} blob bytes of ${total} (${pct(r.blobBytes, total)}): exactly the rest`);
  });

  it('killed mid-body: distribution 2.8 refuses that blob\'s session, the rerun sends that blob again in full, the other resumes', async () => {
    const total = layerSizes.reduce((a, b) => a + b, 0);
    const r = await killAndRerun('mid-body', 1, 3 * MiB);
    const statuses = r.rerun.filter((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/')).map((q) => q.status).sort();
    assert.deepEqual(statuses, [204, 404], show(r.rerun));
    const cutSession = r.killed.find((q) => q.method === 'PATCH' && q.fault === 'stall' && q.bytesForwarded > 0)!.path.replace(/\?.*/, '');
    const cutBlob = r.killed.filter((q) => q.method === 'PATCH' && q.path.startsWith(cutSession)).length;
    const otherAcked = r.killed.filter((q) => q.method === 'PATCH' && q.status === 202 && !q.path.startsWith(cutSession)).reduce((n, q) => n + q.bytesForwarded, 0);
    assert.equal(r.blobBytes, total - otherAcked, show(r.rerun));
    assert.match(registry.log(), /upload resumed at wrong offest/);
    console.log(`CLI killed mid-body (3 MiB into its ${cutBlob === 2 ? 'second' : 'next'} 8 MiB PATCH): distribution 2.8 refused that session (404 BLOB_UPLOAD_INVALID) and the rerun sent it in full; the other blob resumed after its ${otherAcked} acknowledged bytes: ${r.blobBytes} blob bytes of ${total} (${pct(r.blobBytes, total)})`);
  });

  it('a stale saved Location (older than the session): 2.8 answers 404 BLOB_UPLOAD_INVALID, that one blob starts over, the push succeeds', async () => {
    const r = await killAndRerun('stale', 2, undefined, async (stateFiles, killed, proxy) => {
      // A blob whose session took two chunks: its saved Location goes back to the one after the first
      // chunk (the Location its second PATCH was sent to), as if the kill had come before the save.
      for (const stateFile of stateFiles) {
        const state = JSON.parse(await readFile(stateFile, 'utf8')) as { location: string; offset: number; size: number };
        const session = new URL(state.location).pathname;
        const acked = killed.filter((q) => q.method === 'PATCH' && q.path.startsWith(session) && q.status === 202);
        if (acked.length < 2) continue;
        return void (await writeFile(stateFile, JSON.stringify({ ...state, location: `${proxy.url}${acked[1].path}`, offset: CHUNK })));
      }
      assert.fail(`no session with two acknowledged chunks:\n${show(killed)}`);
    });
    // The other blob's saved Location is the newest: it resumes (204). The stale one is refused (404).
    const statuses = r.rerun.filter((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/'));
    assert.deepEqual(statuses.map((q) => q.status).sort(), [204, 404], show(r.rerun));
    const refused = statuses.find((q) => q.status === 404);
    assert.match(registry.log(), /upload resumed at wrong offest: 16777216 != 8388608/);
    assert.ok(r.rerun.some((q) => q.method === 'POST' && q.status === 202), 'a new session for that blob');
    console.log(`stale Location: refused with ${refused?.status} BLOB_UPLOAD_INVALID; that blob started over: the rerun sent ${r.blobBytes} blob bytes`);
  });
});
