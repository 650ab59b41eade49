import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { RegistryClient } from '../../../electron/engine/registry/client';
import { StaticCredentialStore } from '../../../electron/engine/registry/credentials';
import { backoffDelay, DEFAULT_RETRY_POLICY, parseRetryAfter } from '../../../electron/engine/registry/retry';
import { Transport } from '../../../electron/engine/registry/transport';
import { fakeClock, serve } from './local-server';
import type { LocalServer } from './local-server';

const servers: LocalServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function server(handler: Parameters<typeof serve>[0]) {
  const s = await serve(handler);
  servers.push(s);
  return s;
}

describe('retry timing (pure)', () => {
  it('backs off exponentially with equal jitter, capped', () => {
    const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((r) => backoffDelay(r, p, () => 0)), [50, 100, 200, 400, 500, 500]);
    assert.deepEqual([0, 1, 2].map((r) => backoffDelay(r, p, () => 1)), [100, 200, 400]);
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:30 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter(undefined, now), null);
  });
});

describe('transport: retries, Retry-After, bounds, concurrency, redirects', () => {
  it('retries 503 and 429 until success, waiting our backoff or the server Retry-After', async () => {
    const s = await server((_req, res, i) => {
      if (i === 0) return res.writeHead(503).end('busy');
      if (i === 1) return res.writeHead(429, { 'retry-after': '7' }).end();
      if (i === 2) return res.writeHead(429, { 'retry-after': 'Thu, 01 Jan 2099 00:00:00 GMT' }).end();
      res.writeHead(200).end('ok');
    });
    const fc = fakeClock();
    const t = new Transport({ clock: fc.clock });
    const res = await t.request({ method: 'GET', url: new URL(`${s.url}/x`), action: 'test' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.equal(s.seen.length, 4);
    // 503: our backoff (250 ms base, random 0.5 → 188); 429: 7 s as asked; a far date is cut to 60 s.
    assert.deepEqual(fc.sleeps, [188, 7000, 60_000]);
    t.close();
  });

  it('gives up after a bounded number of retries and shows the registry error verbatim', async () => {
    const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'service unavailable', detail: { shard: 3 } }] });
    const s = await server((_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end(body));
    const fc = fakeClock();
    const client = new RegistryClient({ clock: fc.clock, retry: { maxRetries: 3 }, credentials: new StaticCredentialStore() });
    await assert.rejects(client.getManifest(`${s.host}/repo:tag`), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.equal(err.code, 'io');
      assert.match(err.message, /GET manifest 127\.0\.0\.1:\d+\/repo:tag: 503 Service Unavailable: UNAVAILABLE: service unavailable \(\{"shard":3\}\)/);
      return true;
    });
    // HTTPS first on loopback (refused as not TLS), then 1 + 3 plain-HTTP attempts.
    assert.equal(s.seen.length, 4);
    assert.equal(fc.sleeps.length, 3);
    client.close();
  });

  it('retries dropped connections, and does not retry a 404', async () => {
    const s = await server((req, res, i) => {
      if (i < 2) return req.socket.destroy();
      res.writeHead(404).end();
    });
    const fc = fakeClock();
    const t = new Transport({ clock: fc.clock });
    const res = await t.request({ method: 'GET', url: new URL(`${s.url}/x`), action: 'test' });
    assert.equal(res.status, 404);
    res.discard();
    assert.equal(s.seen.length, 3);
    assert.equal(fc.sleeps.length, 2);
    t.close();
  });

  it('stops waiting at once when the signal aborts', async () => {
    const s = await server((_req, res) => res.writeHead(503).end());
    const controller = new AbortController();
    const t = new Transport({
      clock: { now: Date.now, random: () => 0, sleep: async () => controller.abort() },
    });
    await assert.rejects(t.request({ method: 'GET', url: new URL(`${s.url}/x`), action: 'test', signal: controller.signal }), { name: 'AbortError' });
    assert.equal(s.seen.length, 1);
    t.close();
  });

  it('keeps at most N requests in flight per host', async () => {
    // The server answers only when two requests are waiting: a limit of 2 is reached every time, never passed.
    let waiting: Array<() => void> = [];
    let active = 0;
    let peak = 0;
    const s = await server((_req, res) => {
      active++;
      peak = Math.max(peak, active);
      res.once('finish', () => active--);
      waiting.push(() => res.writeHead(200).end('x'));
      if (waiting.length === 2) {
        const now = waiting;
        waiting = [];
        setTimeout(() => now.forEach((end) => end()), 5);
      }
    });
    const t = new Transport({ concurrency: 2 });
    await Promise.all(Array.from({ length: 10 }, async () => (await t.request({ method: 'GET', url: new URL(`${s.url}/x`), action: 't' })).text()));
    assert.equal(s.seen.length, 10);
    assert.equal(peak, 2);
    t.close();
  });

  it('never sends Authorization to another host after a redirect, but keeps it on the same origin', async () => {
    const storage = await server((_req, res) => res.writeHead(200).end('blob'));
    const registry = await server((req, res) => {
      if (req.url === '/same') return res.writeHead(307, { location: '/final' }).end();
      if (req.url === '/final') return res.writeHead(200).end('same');
      res.writeHead(307, { location: `http://localhost:${new URL(storage.url).port}/bucket/blob?X-Amz-Signature=abc` }).end();
    });
    const t = new Transport();
    const origin = `http://127.0.0.1:${new URL(registry.url).port}`;
    const headers = { authorization: 'Bearer secret-token' };
    const away = await t.request({ method: 'GET', url: new URL(`${registry.url}/away`), headers, authOrigin: origin, maxRedirects: 3, action: 't' });
    assert.equal(await away.text(), 'blob');
    assert.equal(registry.seen[0].headers.authorization, 'Bearer secret-token');
    assert.equal(storage.seen[0].headers.authorization, undefined);
    const same = await t.request({ method: 'GET', url: new URL(`${registry.url}/same`), headers, authOrigin: origin, maxRedirects: 3, action: 't' });
    assert.equal(await same.text(), 'same');
    assert.equal(registry.seen.at(-1)!.headers.authorization, 'Bearer secret-token');
    t.close();
  });

  it('bounds redirects and names the last hop without its query string', async () => {
    const s = await server((_req, res) => res.writeHead(302, { location: '/loop?sig=secret-sig' }).end());
    const t = new Transport();
    await assert.rejects(t.request({ method: 'GET', url: new URL(`${s.url}/start`), maxRedirects: 2, action: 'GET blob' }), (err: unknown) => {
      assert.ok(err instanceof CacheError);
      assert.match(err.message, /more than 2 redirects/);
      assert.ok(!err.message.includes('secret-sig'));
      return true;
    });
    t.close();
  });
});

describe('tags list pagination', () => {
  it('follows Link rel="next" pages until the last, on the same host only', async () => {
    const pages: Record<string, { tags: string[]; next?: string }> = {
      '/v2/team/cache/tags/list?n=2': { tags: ['a', 'b'], next: '</v2/team/cache/tags/list?last=b&n=2>; rel="next"' },
      '/v2/team/cache/tags/list?last=b&n=2': { tags: ['c', 'd'], next: '</v2/team/cache/tags/list?last=d&n=2>; rel="next"' },
      '/v2/team/cache/tags/list?last=d&n=2': { tags: ['e'] },
      '/v2/evil/tags/list': { tags: ['x'], next: '<http://elsewhere.example/v2/evil/tags/list?last=x>; rel="next"' },
    };
    const s = await server((req, res) => {
      const page = pages[req.url ?? ''];
      if (!page) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', ...(page.next ? { link: page.next } : {}) }).end(JSON.stringify({ name: 'team/cache', tags: page.tags }));
    });
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), clock: fakeClock().clock });
    assert.deepEqual(await client.listTags({ registry: s.host, repository: 'team/cache' }, { pageSize: 2 }), ['a', 'b', 'c', 'd', 'e']);
    await assert.rejects(client.listTags({ registry: s.host, repository: 'evil' }), (err: unknown) => err instanceof CacheError && /another host/.test(err.message));
    client.close();
  });
});

describe('cancellation', () => {
  it('reports an abort during a request as AbortError (cancelled), not as a network error', async () => {
    const controller = new AbortController();
    const s = await server(() => controller.abort()); // never answers; the caller gives up
    const client = new RegistryClient({ credentials: new StaticCredentialStore(), clock: fakeClock().clock });
    await assert.rejects(client.getManifest(`${s.host}/repo:tag`, { signal: controller.signal }), { name: 'AbortError' });
    client.close();
  });
});
