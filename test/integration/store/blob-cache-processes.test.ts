/**
 * The blob cache across real processes (blob-cache-child.ts):
 *  - a download SIGKILLed mid-blob leaves a partial file and a lock of a dead pid; the next get takes
 *    the lock over and fetches only the rest, and the blob verifies;
 *  - two processes getting one digest at the same time fetch it once between them;
 *  - eviction skips a blob pinned by another live process, and a pin whose process died no longer counts.
 * Fetchers stall on gates (files the test creates), never on timers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openBlobCache } from '../../../electron/engine/store/blob-cache';
import type { BlobCacheProgress } from '../../../electron/engine/store/blob-cache';
import { REPO } from '../../helpers/fixtures';
import { fileFetcher, makeBlobFile, sha256 } from '../../unit/engine/blob-cache-helpers';

const CHILD = join(REPO, 'test', 'integration', 'store', 'blob-cache-child.ts');

interface Child {
  proc: ChildProcess;
  /** Resolves with the first line the predicate accepts. */
  line(pred: (v: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  const waits: Array<{ pred: (v: Record<string, unknown>) => boolean; resolve: (v: Record<string, unknown>) => void }> = [];
  let pending = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    pending += c;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const text of parts) {
      const v = JSON.parse(text) as Record<string, unknown>;
      lines.push(v);
      for (const w of waits) if (w.pred(v)) w.resolve(v);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  return {
    proc,
    exit,
    line: (pred) =>
      new Promise((resolve, reject) => {
        const hit = lines.find(pred);
        if (hit) return resolve(hit);
        waits.push({ pred, resolve });
        void exit.then((e) => reject(new Error(`child exited (${e.code ?? e.signal}) before the expected line; stderr: ${e.stderr}`)));
      }),
  };
}

async function killChild(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await child.exit;
}

const progressAt = (state: string, bytes = 0) => (v: Record<string, unknown>) => {
  const p = v.progress as BlobCacheProgress | undefined;
  return p !== undefined && p.state === state && p.bytes >= bytes;
};

let base: string;
let n = 0;
const children: Child[] = [];

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'cachescope-blob-cache-proc-'));
});

after(async () => {
  for (const c of children) await killChild(c);
  await rm(base, { recursive: true, force: true });
});

async function setup(size: number) {
  const dir = join(base, `case-${n++}`);
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'blob');
  const blob = await makeBlobFile(src, size);
  return { dir, root: join(dir, 'cache'), src, blob, countFile: join(dir, 'fetches') };
}

function spawnGet(root: string, src: string, blob: { digest: string; size: number }, countFile: string, stall?: { at: number; gate: string }): Child {
  const child = startChild(['get', root, src, blob.digest, String(blob.size), countFile, ...(stall ? [String(stall.at), stall.gate] : [])]);
  children.push(child);
  return child;
}

describe('blob cache across processes', () => {
  it('a download killed mid-blob resumes in the next process from the bytes it had, and verifies', async () => {
    const { dir, root, src, blob, countFile } = await setup(600_000);
    const child = spawnGet(root, src, blob, countFile, { at: 250_000, gate: join(dir, 'never') });
    await child.line(progressAt('downloading', 250_000));
    await killChild(child);
    const partial = join(root, 'ingest', `${blob.digest.replace(':', '-')}.partial`);
    assert.equal((await stat(partial)).size, 250_000, 'the killed download left its bytes');
    assert.equal(existsSync(join(root, 'ingest', `${blob.digest.replace(':', '-')}.lock`)), true, 'and its lock, naming a dead pid');

    const cache = await openBlobCache({ root });
    const fetch = fileFetcher(src);
    const got = await cache.get(blob.digest, blob.size, fetch);
    assert.deepEqual(fetch.calls, [250_000], 'fetched from the offset the killed process reached');
    assert.equal(got.resumedFrom, 250_000);
    assert.equal(sha256(await readFile(got.path)), blob.digest);
    assert.equal(existsSync(partial), false);
    await got.release();
  });

  it('two processes getting the same digest download it once between them', async () => {
    const { dir, root, src, blob, countFile } = await setup(400_000);
    const gate = join(dir, 'go');
    const first = spawnGet(root, src, blob, countFile, { at: 100_000, gate });
    await first.line(progressAt('downloading', 100_000));
    const second = spawnGet(root, src, blob, countFile);
    // The second sees the first's download in progress, through its partial file.
    await second.line(progressAt('waiting', 100_000));
    await writeFile(gate, '');
    const [r1, r2] = await Promise.all([first.line((v) => 'result' in v), second.line((v) => 'result' in v)]);
    const [e1, e2] = await Promise.all([first.exit, second.exit]);
    assert.equal(e1.code, 0, e1.stderr);
    assert.equal(e2.code, 0, e2.stderr);
    const fetches = (await readFile(countFile, 'utf8')).trim().split('\n');
    assert.equal(fetches.length, 1, `one fetch in total, got: ${fetches.join('; ')}`);
    const res1 = r1.result as { path: string; calls: number[] };
    const res2 = r2.result as { path: string; calls: number[]; outcome: string };
    assert.deepEqual(res1.calls, [0]);
    assert.deepEqual(res2.calls, [], 'the second process fetched nothing');
    assert.equal(res2.outcome, 'downloaded');
    assert.equal(res1.path, res2.path);
    assert.equal(sha256(await readFile(res1.path)), blob.digest);
  });

  it('eviction keeps a blob pinned by a live process, and ignores the pin of a process that died', async () => {
    const { dir, root } = await setup(1);
    let tick = 0;
    const cache = await openBlobCache({ root, maxBytes: 1_000_000_000, now: () => ++tick });
    const blobs = [];
    for (const name of ['a', 'b', 'c']) {
      const b = await makeBlobFile(join(dir, name), 1000);
      await (await cache.get(b.digest, b.size, fileFetcher(join(dir, name)))).release();
      blobs.push(b);
    }
    const [a, b, c] = blobs;
    // Uses: a at 1, b at 2, c at 3. A live process pins a, and one that then dies pins b (same last uses).
    const live = startChild(['pin', root, a.digest, '1']);
    const dead = startChild(['pin', root, b.digest, '2']);
    children.push(live, dead);
    await Promise.all([live.line((v) => 'pinned' in v), dead.line((v) => 'pinned' in v)]);
    await killChild(dead);

    const first = await cache.evict({ maxBytes: 2000 });
    assert.deepEqual(first.kept, [a.digest], 'a is in use by a live process');
    assert.deepEqual(first.removed, [{ digest: b.digest, size: 1000 }], 'the dead process no longer holds b');
    assert.equal(await cache.has(c.digest), true, 'nothing more than needed is evicted');

    await killChild(live);
    const second = await cache.evict({ maxBytes: 1000 });
    assert.deepEqual(second.removed, [{ digest: a.digest, size: 1000 }], 'once its holder is gone, a goes first (least recently used)');
    assert.deepEqual(await cache.usage(), { bytes: 1000, blobs: 1 });
  });
});
