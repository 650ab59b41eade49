/**
 * Pushes through the fault proxy, 20 runs with the faults in a seeded random order: resets mid-blob,
 * 500 and 503, 429 with Retry-After, truncated uploads (the registry reads a body short of its
 * Content-Length), stalls, 413 on large requests, and a PATCH whose body is silently dropped. Some
 * runs end with a fault that never heals. Retry waits are injected (a clock that does not sleep) and
 * stalls end by a short idle timeout, so nothing waits long. Every export either completes or fails
 * with a clear error after bounded requests; a failed one completes when run again. After each run
 * the registry's own storage is read: every blob it holds hashes to its digest, and a reported
 * success has its manifest and every blob the manifest names linked into the repository.
 * CACHESCOPE_FAULT_SEED replays a series: the order of the faults is the seed's; which request meets
 * each one still depends on how the concurrent uploads interleave.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { runExport } from '../../../electron/engine/export/exporter';
import { parseRegistryDestination } from '../../../electron/engine/export/registry-target';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import type { OpenedSource } from '../../../electron/engine/sources/open-cache';
import { generateCache } from '../../../scripts/cache-generator/generate';
import { CacheError } from '../../../shared/contract/errors';
import { startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, Fault, FaultContext, RunningRegistry } from '../../helpers/registry/index';

const RUNS = 20;
const MAX_RETRIES = 3;
const CHUNK = 256 << 10;
const KiB = 1 << 10;

let registry: RunningRegistry;
let proxy: CountingProxy;
let work: string;
let source: OpenedSource;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cachescope-push-faults-'));
  registry = await startRegistry();
  proxy = await startProxy(registry);
  const dir = join(work, 'src');
  // A few layers larger than the chunk, so uploads are chunked (PATCH) and faults land mid-blob.
  await generateCache(dir, { seed: 'push-faults', stages: 2, layersPerStage: 2, baseLayers: 1, layerBytes: 900 * KiB, compression: 'gzip', form: 'image-manifest', withBlobs: true, tag: 'latest' });
  source = await openCacheSource(dir);
});

after(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 5 });
});

/** mulberry32: a seeded generator, so a failing order can be replayed with its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bodyOf = (req: FaultContext) => Number(req.headers['content-length'] ?? 0);
const isUpload = (req: FaultContext) => (req.method === 'PATCH' || req.method === 'PUT') && req.path.includes('/blobs/uploads/') && bodyOf(req) > 0;

/** Each kind: which requests it may hit, and the fault for one of them. */
const KINDS: { name: string; applies: (req: FaultContext) => boolean; fault: (req: FaultContext, random: () => number) => Fault }[] = [
  { name: 'reset mid-blob', applies: isUpload, fault: (req, random) => ({ kind: 'reset', afterBytes: 1 + Math.floor(random() * (bodyOf(req) - 1)), direction: 'request' }) },
  { name: '500', applies: () => true, fault: () => ({ kind: 'status', status: 500 }) },
  { name: '503', applies: () => true, fault: () => ({ kind: 'status', status: 503 }) },
  { name: '429 Retry-After', applies: () => true, fault: () => ({ kind: 'rate-limit', retryAfter: 7 }) },
  { name: 'truncated upload', applies: isUpload, fault: (req, random) => ({ kind: 'truncate', afterBytes: 1 + Math.floor(random() * (bodyOf(req) - 1)), direction: 'request' }) },
  { name: 'stall', applies: (req) => req.method !== 'GET', fault: () => ({ kind: 'stall', ms: 1_500 }) },
  { name: '413 on a large request', applies: (req) => isUpload(req) && bodyOf(req) > 64 * KiB, fault: (req) => ({ kind: 'too-large', maxBytes: Math.floor(bodyOf(req) / 2) }) },
  { name: 'PATCH silently dropped', applies: (req) => req.method === 'PATCH' && bodyOf(req) > 0, fault: () => ({ kind: 'drop-body' }) },
];

/** What never heals: the export must give up, saying why, after a bounded number of requests. */
const PERSISTENT: { name: string; applies: (req: FaultContext) => boolean; fault: Fault; words: RegExp }[] = [
  { name: '503 on every upload', applies: isUpload, fault: { kind: 'status', status: 503 }, words: /503|gave up|without progress/ },
  { name: '429 on every request', applies: () => true, fault: { kind: 'rate-limit', retryAfter: 7 }, words: /429|TOOMANYREQUESTS|toomanyrequests/i },
  { name: 'every PATCH dropped', applies: (req) => req.method === 'PATCH', fault: { kind: 'drop-body' }, words: /Range stopped advancing|without progress|gave up/ },
];

const sha256File = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (c) => h.update(c)).on('end', () => resolve(`sha256:${h.digest('hex')}`)).on('error', reject);
  });

const v2 = () => join(registry.storageDir, 'docker', 'registry', 'v2');

/** Every blob in the registry's storage hashes to its name; returns how many there are. */
async function assertStoredBlobsIntact(label: string): Promise<number> {
  const root = join(v2(), 'blobs', 'sha256');
  let n = 0;
  for (const prefix of existsSync(root) ? readdirSync(root) : []) {
    for (const hex of readdirSync(join(root, prefix))) {
      const data = join(root, prefix, hex, 'data');
      if (!existsSync(data)) continue;
      assert.equal(await sha256File(data), `sha256:${hex}`, `${label}: stored blob ${hex} is corrupt`);
      n++;
    }
  }
  return n;
}

/** The tag's manifest and every blob it names, as the registry's storage links them into the repository. */
function assertPushed(repo: string, tag: string, digest: string, label: string): void {
  const repoDir = join(v2(), 'repositories', ...repo.split('/'));
  const tagLink = join(repoDir, '_manifests', 'tags', tag, 'current', 'link');
  assert.ok(existsSync(tagLink), `${label}: success reported, but the tag is missing`);
  assert.equal(readFileSync(tagLink, 'utf8').trim(), digest, `${label}: the tag points elsewhere`);
  const hex = digest.slice(7);
  const manifest = JSON.parse(readFileSync(join(v2(), 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), 'utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
  const named = [manifest.config, ...(manifest.layers ?? []), ...(manifest.manifests ?? [])].filter((d): d is { digest: string } => !!d).map((d) => d.digest);
  assert.ok(named.length > 1);
  for (const d of named) {
    const h = d.slice(7);
    assert.ok(existsSync(join(repoDir, '_layers', 'sha256', h, 'link')), `${label}: success reported, but ${d} is not in ${repo}`);
    assert.ok(existsSync(join(v2(), 'blobs', 'sha256', h.slice(0, 2), h, 'data')), `${label}: success reported, but ${d} is not stored`);
  }
}

it(`${RUNS} pushes through random faults: complete with every blob intact, or a clear error after bounded requests`, async () => {
  const seed = Number(process.env.CACHESCOPE_FAULT_SEED ?? 20261130);
  const random = seeded(seed);
  const outcomes: string[] = [];
  const stateDir = join(work, 'uploads');
  for (let run = 0; run < RUNS; run++) {
    // Every fourth run meets a fault that never heals; the others get every kind once, in this run's order.
    const persistent = run % 4 === 3 ? PERSISTENT[Math.floor(random() * PERSISTENT.length)] : null;
    const order = persistent ? [] : [...KINDS].sort(() => random() - 0.5);
    const injected: string[] = [];
    let next = 0;
    proxy.clear();
    proxy.setFaults((req) => {
      const kind = order[next];
      if (kind && kind.applies(req) && random() < 0.4) {
        next++;
        injected.push(`${kind.name} on ${req.method}`);
        return kind.fault(req, random);
      }
      if (persistent?.applies(req)) {
        injected.push(`${persistent.name} on ${req.method}`);
        return persistent.fault;
      }
      return undefined;
    });
    // No push history (historyFile: null): every run uploads its blobs instead of mounting them from an earlier run's repository.
    const repo = `faults/run${run}`;
    const label = `seed ${seed} run ${run} [${persistent ? `${persistent.name}, forever` : order.map((k) => k.name).join(' → ')}]`;
    const client = new RegistryClient({
      credentials: new StaticCredentialStore(),
      // Injected waits: backoff and Retry-After cost nothing; a stalled request times out quickly.
      clock: { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 },
      retry: { maxRetries: MAX_RETRIES, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 },
      idleTimeoutMs: 500,
    });
    const bounded = AbortSignal.timeout(120_000);
    let error: unknown = null;
    let digest: string | null = null;
    try {
      const target = { ...parseRegistryDestination(`${proxy.host}/${repo}:t`)!, client, stateDir, chunkSize: CHUNK, historyFile: null };
      digest = (await runExport({ opened: source, dest: 'unused', options: { tag: 't' }, registry: target, verifyMemo: null, signal: bounded })).descriptor!.digest;
    } catch (err) {
      error = err;
    } finally {
      client.close();
    }
    assert.equal(bounded.aborted, false, `${label}: not finished within the bound`);
    // Let the proxy settle the exchanges it was still answering.
    await new Promise((r) => setTimeout(r, 100));
    const requests = proxy.requests().length;
    proxy.setFaults(undefined);
    assert.ok(requests < 400, `${label}: ${requests} requests is not bounded`);
    const stored = await assertStoredBlobsIntact(label);
    if (error === null) {
      assert.equal(persistent, null, `${label}: completed through a fault that never heals`);
      assertPushed(repo, 't', digest!, label);
      outcomes.push(`run ${run}: completed in ${requests} requests after ${injected.length} faults (${injected.join(', ')}); ${stored} blobs stored, all intact`);
    } else {
      assert.ok(persistent, `${label}: failed on faults that heal: ${(error as Error).stack}`);
      assert.ok(error instanceof CacheError, `${label}: not a CacheError: ${String(error)}`);
      assert.match(error.message, persistent.words, `${label}: unclear error: ${error.message}`);
      assert.match(error.message, new RegExp(proxy.host.replace(/[.]/g, '\\.')), `${label}: the error names no registry: ${error.message}`);
      assert.ok(!existsSync(join(v2(), 'repositories', ...repo.split('/'), '_manifests', 'tags', 't')), `${label}: a failed push left a tag`);
      // The same export, run again without faults, completes (resuming what it can).
      proxy.clear();
      const again = new RegistryClient({ credentials: new StaticCredentialStore() });
      try {
        const target = { ...parseRegistryDestination(`${proxy.host}/${repo}:t`)!, client: again, stateDir, chunkSize: CHUNK, historyFile: null };
        const r = await runExport({ opened: source, dest: 'unused', options: { tag: 't' }, registry: target, verifyMemo: null });
        assertPushed(repo, 't', r.descriptor!.digest, `${label} (run again)`);
      } finally {
        again.close();
      }
      await assertStoredBlobsIntact(`${label} (run again)`);
      outcomes.push(`run ${run}: ${persistent.name}: failed after ${requests} requests (${injected.length} faults): ${error.message.split('\n')[0].slice(0, 160)}; run again: completed`);
    }
  }
  assert.ok(outcomes.some((o) => o.includes(': completed in')) && outcomes.some((o) => o.includes(': failed')), outcomes.join('\n'));
  // The seeded series met every kind of fault, several times.
  for (const kind of KINDS) assert.ok(outcomes.filter((o) => o.includes(`${kind.name} on`)).length >= 3, `${kind.name} was injected in fewer than 3 runs:\n${outcomes.join('\n')}`);
  console.log(outcomes.join('\n'));
});

/** One blob pushed through `faults` with a fresh client; returns the blob's bytes sent per request kind. */
async function pushOne(faults: Parameters<CountingProxy['setFaults']>[0], repo: string, size: number): Promise<{ sent: number; lines: string }> {
  const file = join(work, `blob-${repo.replace(/\//g, '_')}`);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + repo.length) & 0xff;
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, bytes);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  proxy.clear();
  proxy.setFaults(faults);
  const client = new RegistryClient({ credentials: new StaticCredentialStore(), clock: { now: () => Date.now(), sleep: async () => undefined, random: () => 0.5 }, idleTimeoutMs: 2_000 });
  try {
    const r = await client.pushBlob({ registry: proxy.host, repository: repo }, { digest, size }, file, { chunkSize: 64 * KiB });
    assert.ok(r.outcome === 'uploaded' || r.outcome === 'resumed');
    await new Promise((res) => setTimeout(res, 100));
    const reqs = proxy.requests();
    const lines = reqs.map((q) => `${q.method} ${q.path.replace(/\?.*/, '')} ${q.status} ${q.bytesIn}${q.fault ? ` [${q.fault}]` : ''}`).join('\n');
    const back = await client.readBlob({ registry: proxy.host, repository: repo }, { digest, size }, { maxBytes: size });
    assert.ok(back.equals(bytes), 'the blob the registry serves is ours');
    return { sent: reqs.reduce((n, q) => n + q.bytesIn, 0), lines };
  } finally {
    proxy.setFaults(undefined);
    client.close();
  }
}

it('a monolithic PUT whose body is cut short starts the blob over in a new session (distribution cancels the old one)', async () => {
  const size = 40 * KiB;
  const { sent, lines } = await pushOne([{ method: 'PUT', path: '/blobs/uploads/', fault: { kind: 'truncate', afterBytes: size / 2, direction: 'request' } }], 'faults/put-cut', size);
  // Nothing of a monolithic upload can be resumed: the cut attempt, then the whole blob once more.
  assert.equal(sent, 2 * size, `sent ${sent}:\n${lines}`);
  assert.equal(lines.split('\n').filter((l) => l.startsWith('POST ')).length, 2, `a second session:\n${lines}`);
});

it('a PUT whose answer is lost after the registry took the blob is found by HEAD and not sent again', async () => {
  const size = 40 * KiB;
  // The whole body reaches the registry, which commits it; its 201 never reaches the client.
  const { sent, lines } = await pushOne([{ method: 'PUT', path: '/blobs/uploads/', fault: { kind: 'truncate', afterBytes: size, direction: 'request' } }], 'faults/put-answer-lost', size);
  assert.equal(sent, size, `the blob went up once:\n${lines}`);
  assert.ok(/HEAD \/v2\/faults\/put-answer-lost\/blobs\/sha256:\w+ 200/.test(lines), lines);
});

it('404 BLOB_UPLOAD_INVALID on a PATCH or PUT (distribution cancelled the session) does not fail the push: the client asks where the upload stands and goes on or starts over', async () => {
  const size = 200 * KiB;
  const invalid = { kind: 'status' as const, status: 404, body: JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid', detail: null }] }) };
  const { lines } = await pushOne([{ method: 'PATCH', fault: invalid }, { method: 'PUT', path: '/blobs/uploads/', fault: invalid }], 'faults/session-cancelled', size);
  // After each 404 the client asks where the upload stands (here the proxy lied: the session lives on, so it goes on).
  const list = lines.split('\n');
  for (const [i, l] of list.entries()) if (/ 404 \d+ \[status\]$/.test(l)) assert.match(list[i + 1] + list[i + 2], /GET \/v2\/faults\/session-cancelled\/blobs\/uploads\//, lines);
});
