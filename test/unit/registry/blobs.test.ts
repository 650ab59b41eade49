import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { fakeClock, serve } from './local-server';
import type { LocalServer } from './local-server';

const blob = Buffer.from('0123456789'.repeat(1000));
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const desc = { digest, size: blob.length };

const servers: LocalServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A registry-shaped server whose blob endpoint misbehaves as `answer` says. */
async function blobServer(answer: (range: string | undefined, index: number, res: ServerResponse) => void) {
  let n = 0;
  const s = await serve((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    answer(req.headers.range, n++, res);
  });
  servers.push(s);
  return s;
}

/** Collects what a consumer would write, and whether it ever heard "finished". */
function sink() {
  const chunks: Buffer[] = [];
  let finished = false;
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  w.on('finish', () => (finished = true));
  return { w, bytes: () => Buffer.concat(chunks), finished: () => finished };
}

const client = () => new RegistryClient({ credentials: new StaticCredentialStore(), clock: fakeClock().clock });

describe('blob downloads are verified before anyone hears "done"', () => {
  it('delivers a good blob and resolves', async () => {
    const s = await blobServer((_r, _i, res) => res.writeHead(200, { 'content-length': blob.length }).end(blob));
    const out = sink();
    const c = client();
    assert.deepEqual(await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w), desc);
    assert.ok(out.bytes().equals(blob));
    c.close();
  });

  it('errors with digest-mismatch on corrupt bytes, and the writable never finishes', async () => {
    const bad = Buffer.from(blob);
    bad[5000] ^= 1;
    const s = await blobServer((_r, _i, res) => res.writeHead(200).end(bad));
    const out = sink();
    const c = client();
    await assert.rejects(c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w), (err: unknown) => err instanceof CacheError && err.code === 'digest-mismatch' && err.message.includes(digest));
    assert.equal(out.finished(), false);
    c.close();
  });

  it('with callerVerifies leaves the hash to the caller (the blob cache), but still enforces the size', async () => {
    const bad = Buffer.from(blob);
    bad[5000] ^= 1;
    const s = await blobServer((_r, i, res) => res.writeHead(200).end(i === 0 ? bad : Buffer.concat([blob, Buffer.from('x')])));
    const c = client();
    const out = sink();
    await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w, { callerVerifies: true });
    assert.equal(out.finished(), true, 'the caller gets the bytes and judges them itself');
    const tooLong = sink();
    await assert.rejects(c.fetchBlob({ registry: s.host, repository: 'r' }, desc, tooLong.w, { callerVerifies: true }), (err: unknown) => err instanceof CacheError && err.code === 'size-mismatch');
    c.close();
  });

  it('refuses more bytes than the descriptor says', async () => {
    const s = await blobServer((_r, _i, res) => res.writeHead(200).end(Buffer.concat([blob, Buffer.from('x')])));
    const c = client();
    await assert.rejects(c.fetchBlob({ registry: s.host, repository: 'r' }, desc, sink().w), (err: unknown) => err instanceof CacheError && err.code === 'size-mismatch');
    c.close();
  });

  it('resumes a dropped download with Range and checks Content-Range', async () => {
    const s = await blobServer((range, i, res) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(blob.subarray(0, 3000));
        setImmediate(() => res.socket?.destroy());
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
      res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`, 'content-length': blob.length - start }).end(blob.subarray(start));
    });
    const out = sink();
    const resumes: number[] = [];
    const c = client();
    await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w, { onResume: (offset) => resumes.push(offset) });
    assert.ok(out.bytes().equals(blob));
    const ranges = s.seen.filter((r) => r.url.includes('/blobs/')).map((r) => r.headers.range);
    assert.deepEqual(ranges, [undefined, `bytes=${resumes[0]}-`]);
    assert.ok(resumes[0] > 0 && resumes[0] <= 3000);
    c.close();
  });

  it('restarts and discards when the server ignores Range (200)', async () => {
    const s = await blobServer((_range, i, res) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(blob.subarray(0, 4000));
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    const out = sink();
    const c = client();
    await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w);
    assert.ok(out.bytes().equals(blob), 'no byte delivered twice');
    c.close();
  });

  it('fails clearly when a 206 starts somewhere else', async () => {
    const s = await blobServer((_range, i, res) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(blob.subarray(0, 2000));
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.writeHead(206, { 'content-range': `bytes 0-${blob.length - 1}/${blob.length}` }).end(blob);
    });
    const c = client();
    await assert.rejects(c.fetchBlob({ registry: s.host, repository: 'r' }, desc, sink().w), (err: unknown) => err instanceof CacheError && /Content-Range "bytes 0-/.test(err.message));
    c.close();
  });

  it('resumes from a caller-held prefix and its hash', async () => {
    const s = await blobServer((range, _i, res) => {
      const start = Number(/bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
      res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(start));
    });
    const hash = createHash('sha256').update(blob.subarray(0, 6000));
    const out = sink();
    const c = client();
    const progress: number[] = [];
    await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w, { resume: { offset: 6000, hash }, onProgress: (b) => progress.push(b) });
    assert.ok(out.bytes().equals(blob.subarray(6000)));
    assert.equal(progress.at(-1), blob.length);
    assert.equal(s.seen.find((r) => r.url.includes('/blobs/'))!.headers.range, 'bytes=6000-');
    c.close();
  });
});

describe('a download that stalls mid-body', () => {
  it('is dropped after the idle timeout and resumed with Range', async () => {
    const s = await blobServer((range, i, res) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(blob.subarray(0, 2500)); // then nothing: a stalled connection
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
      res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` }).end(blob.subarray(start));
    });
    const out = sink();
    const c = new RegistryClient({ credentials: new StaticCredentialStore(), clock: fakeClock().clock, idleTimeoutMs: 200 });
    await c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w);
    c.close();
    assert.ok(out.bytes().equals(blob));
    assert.match(String(s.seen.at(-1)!.headers.range), /^bytes=\d+-$/);
  });

  it('stops at once when the caller aborts, and the writable never finishes', async () => {
    const s = await blobServer((_range, _i, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 1000));
    });
    const controller = new AbortController();
    const out = sink();
    const c = client();
    const pending = c.fetchBlob({ registry: s.host, repository: 'r' }, desc, out.w, { signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(out.finished(), false);
    c.close();
  });
});
