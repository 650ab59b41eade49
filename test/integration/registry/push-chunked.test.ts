/**
 * Chunked uploads against a real distribution 2.8: a connection dropped mid-PATCH at ~60% resumes
 * from what the registry holds (GET → Range), so only about the remaining 40% is sent again
 * (proxy byte counts); an nginx front with a small client_max_body_size answers 413 and smaller
 * chunks then succeed; ECR's 201 on PATCH is accepted.
 */
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { imitateRegistry, startNginx, startProxy, startRegistry } from '../../helpers/registry/index';
import type { FaultFn, RunningNginx, RunningRegistry } from '../../helpers/registry/index';

const MiB = 1 << 20;

describe('chunked blob uploads', () => {
  let registry: RunningRegistry;
  let tmp: string;
  let client: RegistryClient;
  let file: string;
  let digest: string;
  const size = 20 * MiB;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-chunked-'));
    registry = await startRegistry();
    client = new RegistryClient({ env: {}, retry: { baseDelayMs: 1, maxDelayMs: 5 } });
    const bytes = randomBytes(size);
    digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    file = join(tmp, 'blob');
    await writeFile(file, bytes);
  });
  after(async () => {
    client?.close();
    await registry?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('a connection dropped at ~60% (before the chunk reached the registry) sends only about the remaining 40% again', async () => {
    let patches = 0;
    // The 7th 2 MiB PATCH carries bytes 12-14 MiB (60%): cut it before its body reaches the registry.
    const faults: FaultFn = (req) => (req.method === 'PATCH' && ++patches === 7 ? { kind: 'reset', afterBytes: 0, direction: 'request' } : undefined);
    const proxy = await startProxy(registry, { faults });
    try {
      const repo = { registry: proxy.host, repository: 'chunked/drop' };
      const states: string[] = [];
      const r = await client.pushBlob(repo, { digest, size }, file, { chunkSize: 2 * MiB, onState: (s) => states.push(s) });
      assert.equal(r.outcome, 'uploaded');
      const sent = proxy.requests().reduce((n, q) => n + q.bytesIn, 0);
      const afterDrop = proxy.requests().filter((q) => q.index > proxy.requests().find((x) => x.status === 0)!.index).reduce((n, q) => n + q.bytesIn, 0);
      console.log(proxy.requests().map((q) => `${q.method} ${q.path.replace(/_state=[^&]*/, "")} ${q.status} ${q.bytesIn} ${q.contentRange ?? ""}`).join("\n"));
      assert.ok(states.includes('resumed'), `states: ${states.join(',')}`);
      // Everything once, plus at most the one chunk that was cut.
      assert.ok(sent <= size + 2 * MiB + (200 << 10), `sent ${sent} bytes for a ${size}-byte blob`);
      assert.ok(afterDrop <= size * 0.45, `after the drop ${afterDrop} bytes were sent (${((afterDrop / size) * 100).toFixed(1)}%)`);
      const back = await client.readBlob(repo, { digest, size }, { maxBytes: size });
      assert.equal(back.length, size);
    } finally {
      await proxy.stop();
    }
  });

  it('a connection dropped mid-chunk: distribution 2.8 forgets the upload (404 on GET), the blob starts over cleanly and lands intact', async () => {
    let patches = 0;
    const faults: FaultFn = (req) => (req.method === 'PATCH' && ++patches === 7 ? { kind: 'reset', afterBytes: 200 << 10, direction: 'request' } : undefined);
    const proxy = await startProxy(registry, { faults });
    try {
      const repo = { registry: proxy.host, repository: 'chunked/midchunk' };
      const r = await client.pushBlob(repo, { digest, size }, file, { chunkSize: 2 * MiB });
      assert.equal(r.outcome, 'uploaded');
      assert.ok(proxy.requests().some((q) => q.method === 'GET' && q.path.includes('/blobs/uploads/') && q.status === 404));
      assert.equal((await client.readBlob(repo, { digest, size }, { maxBytes: size })).length, size);
    } finally {
      await proxy.stop();
    }
  });

  it('413 from an nginx front: the chunk size halves and the upload succeeds', async () => {
    let nginx: RunningNginx | null = null;
    nginx = await startNginx({ upstream: registry.url, clientMaxBodySize: '3m' });
    try {
      const repo = { registry: nginx.host, repository: 'chunked/nginx' };
      const r = await client.pushBlob(repo, { digest, size }, file, { chunkSize: 8 * MiB });
      assert.equal(r.outcome, 'uploaded');
      const info = await client.headBlob(repo, digest);
      assert.equal(info?.size, size);
    } finally {
      await nginx.stop();
    }
  });

  it("ECR's 201 on PATCH is taken as 202", async () => {
    const proxy = await startProxy(registry, { faults: imitateRegistry('ecr', { patch201: true }) });
    try {
      const repo = { registry: proxy.host, repository: 'chunked/ecr' };
      const r = await client.pushBlob(repo, { digest, size }, file, { chunkSize: 4 * MiB });
      assert.equal(r.outcome, 'uploaded');
      assert.ok(proxy.requests().some((q) => q.method === 'PATCH' && q.status === 201));
      assert.equal((await client.headBlob(repo, digest))?.size, size);
    } finally {
      await proxy.stop();
    }
  });
});
