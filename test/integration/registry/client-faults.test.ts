/**
 * Faults between the client and a real registry, injected by the counting/fault proxy: dropped and
 * truncated blob downloads resume with Range (seen in the proxy's byte counts), a server that ignores
 * Range is restarted, 5xx and 429 are retried (Retry-After honoured through an injected sleep),
 * stalls are dropped and retried, and a random mix of faults only ever ends verified or in a clear error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import type { RegistryClientOptions } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { TestUploader, startProxy, startRegistry } from '../../helpers/registry/index';
import type { CountingProxy, Fault, RunningRegistry } from '../../helpers/registry/index';

const SIZE = 4 << 20;
/** Deterministic bytes that do not compress: a SHA-256 counter stream. */
function bigBlob(): Buffer {
  const out = Buffer.alloc(SIZE);
  for (let i = 0; i * 32 < SIZE; i++) createHash('sha256').update(String(i)).digest().copy(out, i * 32);
  return out;
}
const blob = bigBlob();
const desc = { mediaType: 'application/octet-stream', digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: SIZE };

function collector() {
  const chunks: Buffer[] = [];
  let finished = false;
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  w.on('finish', () => (finished = true));
  return { w, bytes: () => Buffer.concat(chunks), finished: () => finished };
}

describe('faults between client and registry', () => {
  let reg: RunningRegistry;
  let proxy: CountingProxy;
  const sleeps: number[] = [];
  const clock = { sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5 };
  const client = (o: RegistryClientOptions = {}) => new RegistryClient({ credentials: new StaticCredentialStore(), clock, ...o });
  const repo = () => ({ registry: proxy.host, repository: 'big' });
  const blobGets = () => proxy.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));

  before(async () => {
    reg = await startRegistry();
    await new TestUploader(reg.url, 'big', {}).pushBlob(desc.digest, blob);
    proxy = await startProxy(reg);
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
  });
  beforeEach(() => {
    proxy.clear();
    proxy.setFaults([]);
    sleeps.length = 0;
  });

  it('resumes a connection reset mid-blob with Range, fetching each byte about once', async () => {
    proxy.setFaults([{ method: 'GET', path: '/blobs/', fault: { kind: 'reset', afterBytes: 1_500_000, direction: 'response' } }]);
    const out = collector();
    const c = client();
    await c.fetchBlob(repo(), desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob));
    const gets = blobGets();
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    const resumedAt = Number(/bytes=(\d+)-/.exec(gets[1].range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 1_500_000, `resumed at ${resumedAt}`);
    assert.equal(gets[1].status, 206);
    const sent = gets.reduce((sum, g) => sum + g.bytesOut, 0);
    assert.ok(sent < SIZE + 1_500_000, `bytes sent ${sent} (a restart would be ≥ ${SIZE + resumedAt})`);
  });

  it('resumes a truncated body (true Content-Length, early end)', async () => {
    proxy.setFaults([{ method: 'GET', path: '/blobs/', fault: { kind: 'truncate', afterBytes: 1_000_000 } }]);
    const out = collector();
    const c = client();
    await c.fetchBlob(repo(), desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob));
    assert.match(blobGets()[1].range ?? '', /^bytes=\d+-$/);
  });

  it('restarts and discards when the server ignores Range', async () => {
    proxy.setFaults([
      { method: 'GET', path: '/blobs/', fault: { kind: 'reset', afterBytes: 2_000_000, direction: 'response' } },
      { method: 'GET', path: '/blobs/', fault: { kind: 'ignore-range' } },
    ]);
    const out = collector();
    const c = client();
    await c.fetchBlob(repo(), desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob), 'every byte exactly once, in order');
    assert.deepEqual(blobGets().map((g) => g.status), [200, 200]);
  });

  it('retries 503 and honours 429 Retry-After (injected sleep)', async () => {
    proxy.setFaults([
      { method: 'GET', path: '/blobs/', fault: { kind: 'status', status: 503 } },
      { method: 'GET', path: '/blobs/', fault: { kind: 'rate-limit', retryAfter: 3 } },
    ]);
    const out = collector();
    const c = client();
    await c.fetchBlob(repo(), desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob));
    assert.deepEqual(blobGets().map((g) => g.status), [503, 429, 200]);
    assert.deepEqual(sleeps, [188, 3000]);
  });

  it('drops a stalled request and tries again', async () => {
    proxy.setFaults([{ method: 'GET', path: '/blobs/', fault: { kind: 'stall', ms: 5_000 } }]);
    const out = collector();
    // Well below the stall, yet long enough that the healthy retry is never itself dropped as idle on a
    // loaded machine (that would be a second retry, and this test counts exactly one).
    const c = client({ idleTimeoutMs: 1_500 });
    await c.fetchBlob(repo(), desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob));
    assert.equal(sleeps.length, 1);
  });

  it('gives up after a bounded number of retries with the status and the registry words', async () => {
    proxy.setFaults([{ method: 'GET', path: '/blobs/', times: Infinity, fault: { kind: 'status', status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}' } }]);
    const out = collector();
    const c = client({ retry: { maxRetries: 3 } });
    await assert.rejects(c.fetchBlob(repo(), desc, out.w), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.match(err.message, /GET blob .*: 500 Internal Server Error: UNKNOWN: storage backend down/);
      return true;
    });
    c.close();
    assert.equal(blobGets().length, 4);
    assert.equal(out.finished(), false);
  });

  it('20 pulls under random faults: each ends verified or in a clear error, never "done" with bad bytes', async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const kinds: Array<() => Fault> = [
      () => ({ kind: 'reset', afterBytes: Math.floor(rand() * SIZE), direction: 'response' }),
      () => ({ kind: 'truncate', afterBytes: Math.floor(rand() * SIZE) }),
      () => ({ kind: 'status', status: rand() < 0.5 ? 500 : 503 }),
      () => ({ kind: 'rate-limit', retryAfter: 1 }),
      () => ({ kind: 'ignore-range' }),
    ];
    let completed = 0;
    for (let i = 0; i < 20; i++) {
      proxy.clear();
      const faults = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => ({ method: 'GET', path: '/blobs/', fault: kinds[Math.floor(rand() * kinds.length)]() }));
      proxy.setFaults(faults);
      const out = collector();
      const c = client({ retry: { maxRetries: 2 } });
      try {
        await c.fetchBlob(repo(), desc, out.w);
        assert.ok(out.finished());
        assert.ok(out.bytes().equals(blob), `run ${i}: finished with wrong bytes`);
        completed++;
      } catch (err) {
        assert.ok(err instanceof CacheError, `run ${i}: ${String(err)}`);
        assert.equal(out.finished(), false, `run ${i}: the writable finished although the pull failed`);
      } finally {
        c.close();
      }
    }
    assert.ok(completed >= 10, `only ${completed} of 20 completed`);
  });
});
