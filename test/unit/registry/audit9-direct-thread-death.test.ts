/**
 * Audit of issue 9's download threads (registry/direct-download.ts): a thread that dies mid-job is not
 * a file error. Its jobs end as `partial` (the blob cache then carries on through the full client from
 * whatever the file holds, re-hashing it), and the next download gets a fresh thread. The death is
 * provoked through the public API with a plan the thread cannot read; the server is a real node:http.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { closeIdleDirectConnections, directDownload } from '../../../electron/engine/registry/direct-download';
import type { DirectGetPlan } from '../../../electron/engine/registry/direct-download';

const dir = mkdtempSync(join(tmpdir(), 'audit9-thread-death-'));
const blob = randomBytes(256 * 1024);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': blob.length });
  res.end(blob);
});
const fds: number[] = [];
after(async () => {
  closeIdleDirectConnections();
  for (const fd of fds) closeSync(fd);
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string): { fd: number; path: string } {
  const path = join(dir, name);
  const fd = openSync(path, 'a+');
  fds.push(fd);
  return { fd, path };
}

it('a thread that dies ends its job as partial, not as a file error; the next download works', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const plan: DirectGetPlan = { protocol: 'http:', host: '127.0.0.1', port, hostHeader: `127.0.0.1:${port}`, path: '/blob', headers: {}, idleTimeoutMs: 10_000, connKey: `http://127.0.0.1:${port}|` };
  const options = { algorithm: 'sha256', offset: 0, size: blob.length, signal: new AbortController().signal };
  // Headers the thread cannot iterate: it throws outside any job's handler and exits.
  const poisoned = { ...plan, headers: null } as unknown as DirectGetPlan;
  const dead = await directDownload(poisoned, file('dead').fd, options);
  assert.equal(dead.kind, 'partial');
  const ok = file('ok');
  const outcome = await directDownload(plan, ok.fd, options);
  assert.deepEqual(outcome, { kind: 'complete', bytes: blob.length, digest });
  assert.ok(readFileSync(ok.path).equals(blob));
});
