import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { acquireLock, readLockOwner, withLock } from '../../../electron/engine/store/file-lock';
import type { LockClock } from '../../../electron/engine/store/file-lock';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const LOCK_MODULE = pathToFileURL(join(REPO, 'electron', 'engine', 'store', 'file-lock.ts')).href;

/** Runs a real `node` child (with tsx) that takes the lock `rounds` times and logs start/end lines inside it. */
function lockingChild(lockPath: string, logPath: string, id: string, rounds: number): Promise<number> {
  const code = `
    import { appendFile } from 'node:fs/promises';
    import { setTimeout as sleep } from 'node:timers/promises';
    const { withLock } = await import(${JSON.stringify(LOCK_MODULE)});
    for (let i = 0; i < ${rounds}; i++) {
      await withLock(${JSON.stringify(lockPath)}, async () => {
        await appendFile(${JSON.stringify(logPath)}, '${id} start ' + i + '\\n');
        await sleep(Math.floor(Math.random() * 4));
        await appendFile(${JSON.stringify(logPath)}, '${id} end ' + i + '\\n');
      }, { timeoutMs: 60000 });
    }
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (status) => resolve(status ?? -1));
  });
}

/**
 * A clock that only moves when the lock sleeps (by exactly what it asked for) or the test says so;
 * heartbeats fire only on `beat()`. So no assertion depends on the machine's speed.
 */
function fakeClock(start = Date.now(), onSleep?: (ms: number) => Promise<void>): LockClock & { slept: number[]; advance(ms: number): void; beat(): Promise<void> } {
  let now = start;
  const beats = new Set<() => Promise<void>>();
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      slept.push(ms);
      now += ms;
      await onSleep?.(ms);
      // Let file system callbacks run, as a real sleep would.
      await new Promise((r) => setImmediate(r));
    },
    every(_ms, fn) {
      beats.add(fn);
      return () => beats.delete(fn);
    },
    advance(ms) {
      now += ms;
    },
    async beat() {
      for (const fn of beats) await fn();
    },
  };
}

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

describe('file lock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cachescope-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('excludes real child processes from each other: critical sections never interleave', async () => {
    const lock = join(dir, 'index.json.lock');
    const log = join(dir, 'interleave.log');
    const rounds = 15;
    const statuses = await Promise.all(['a', 'b', 'c'].map((id) => lockingChild(lock, log, id, rounds)));
    assert.deepEqual(statuses, [0, 0, 0]);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 3 * rounds * 2);
    for (let i = 0; i < lines.length; i += 2) {
      const [who, what, n] = lines[i].split(' ');
      assert.equal(what, 'start', `line ${i}: ${lines[i]}`);
      assert.equal(lines[i + 1], `${who} end ${n}`, `interleaved at line ${i + 1}: ${lines.slice(i, i + 2).join(' | ')}`);
    }
    assert.equal(existsSync(lock), false, 'the lock file is removed after use');
  });

  it('takes over a lock whose owner pid is dead, without waiting for staleMs', async () => {
    const lock = join(dir, 'dead.lock');
    const pid = await deadPid();
    await writeFile(lock, JSON.stringify({ pid, hostname: hostname(), acquiredAt: new Date().toISOString(), token: 'dead' }));
    const clock = fakeClock();
    const result = await withLock(lock, async (held) => {
      assert.equal(held.owner.pid, process.pid);
      assert.equal((await readLockOwner(lock))?.token, held.owner.token);
      return 'ran';
    }, { staleMs: 600_000, timeoutMs: 5_000, clock });
    assert.equal(result, 'ran');
    assert.deepEqual(clock.slept, [], 'took over without waiting at all');
    assert.equal(existsSync(lock), false);
  });

  it('a holder SIGKILLed at any instant never leaves an ownerless lock: the next taker gets it at once', async () => {
    // A real child takes and releases the lock as fast as it can and is killed at a random moment,
    // 25 times. Before, a kill between creating the file and writing its record (a sizeable part of
    // each round) left an empty lock that everyone waited on until it went stale (60 s).
    const lock = join(dir, 'killed.lock');
    const code = `
      const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
      let said = false;
      for (;;) {
        const held = await acquireLock(${JSON.stringify(lock)}, { timeoutMs: 60000 });
        if (!said) { said = true; process.stdout.write('ready\\n'); }
        await held.release();
      }
    `;
    for (let round = 0; round < 25; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (status) => reject(new Error(`child exited with ${status} before taking the lock`)));
      });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 15)));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // A short timeout and a long staleMs: only a lock naming its dead holder can be taken in time.
      const held = await acquireLock(lock, { timeoutMs: 2_000, staleMs: 600_000 });
      await held.release();
    }
    // Drafts a kill left behind (a few bytes each) are swept once a dead holder's lock is broken.
    const clock = fakeClock(Date.now() + 60_000);
    await writeFile(lock, JSON.stringify({ pid: await deadPid(), hostname: hostname(), acquiredAt: new Date().toISOString(), token: 'dead' }));
    await (await acquireLock(lock, { clock, timeoutMs: 2_000 })).release();
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.killed.lock.')), []);
  });

  it('takes over a lock not touched for staleMs even when its pid looks alive (e.g. a reused pid or another host)', async () => {
    const lock = join(dir, 'old.lock');
    await writeFile(lock, JSON.stringify({ pid: process.pid, hostname: 'elsewhere', acquiredAt: '2020-01-01T00:00:00.000Z', token: 'old' }));
    const clock = fakeClock(Date.now() + 10 * 60_000);
    assert.equal(await withLock(lock, async () => 1, { staleMs: 60_000, timeoutMs: 2_000, clock }), 1);
    assert.deepEqual(clock.slept, []);
  });

  it('treats an ownerless file (BuildKit leaves empty flock files) as held until it is stale', async () => {
    const lock = join(dir, 'foreign.lock');
    await writeFile(lock, '');
    const clock = fakeClock();
    await assert.rejects(withLock(lock, async () => 1, { staleMs: 60_000, timeoutMs: 100, clock }), (e: unknown) => {
      assert.ok(e instanceof CacheError && e.code === 'locked');
      assert.match(e.message, /foreign\.lock exists without an owner record/);
      return true;
    });
    // Two minutes later (by the clock), the file is stale: taken over at once.
    clock.advance(120_000);
    clock.slept.length = 0;
    assert.equal(await withLock(lock, async () => 2, { staleMs: 60_000, timeoutMs: 2_000, clock }), 2);
    assert.deepEqual(clock.slept, []);
  });

  it('fails with a clear locked error on timeout, naming the file, pid and start time', async () => {
    const lock = join(dir, 'index.json.lock');
    const held = await acquireLock(lock);
    try {
      const clock = fakeClock();
      await assert.rejects(withLock(lock, async () => 1, { timeoutMs: 150, clock }), (e: unknown) => {
        assert.ok(e instanceof CacheError, String(e));
        assert.equal(e.code, 'locked');
        assert.match(e.message, new RegExp(`^index\\.json\\.lock is held by pid ${process.pid} since \\d{4}-\\d{2}-\\d{2}T[^ ]+Z \\(host .+\\)`));
        assert.ok(e.message.endsWith(`gave up after waiting 150 ms for ${lock}`), e.message);
        assert.equal(e.details?.pid, process.pid);
        return true;
      });
      assert.equal(clock.slept.reduce((a, b) => a + b, 0), 150, 'waited exactly the timeout, in backoff steps');
      assert.ok(clock.slept.length > 1, 'retried several times before giving up');
    } finally {
      await held.release();
    }
  });

  it('a live holder keeps its lock past staleMs by touching it', async () => {
    const lock = join(dir, 'heartbeat.lock');
    const clock = fakeClock(Date.now() + 1_000);
    const held = await acquireLock(lock, { staleMs: 300, clock });
    try {
      // 700 ms pass (more than staleMs) with heartbeats: the lock stays held.
      clock.advance(700);
      await clock.beat();
      await assert.rejects(withLock(lock, async () => 1, { staleMs: 300, timeoutMs: 200, clock }), { code: 'locked' });
      assert.equal(held.lost, false);
      // Without a heartbeat for another 700 ms, the same lock would be judged stale and taken over.
      clock.advance(700);
      assert.equal(await withLock(lock, async () => 'taken', { staleMs: 300, timeoutMs: 200, clock }), 'taken');
      await clock.beat();
      assert.equal(held.lost, true, 'the old holder learns it lost the lock');
    } finally {
      await held.release();
    }
    assert.equal(existsSync(lock), false);
  });

  it('waits for the holder and then runs; release never deletes a lock taken over by someone else', async () => {
    const lock = join(dir, 'wait.lock');
    const first = await acquireLock(lock);
    const order: string[] = [];
    // The first holder lets go while the second is waiting (at its first backoff sleep).
    const clock = fakeClock(Date.now(), async () => {
      if (order.length > 0) return;
      order.push('first done');
      await first.release();
    });
    const second = withLock(lock, async () => {
      order.push('second');
    }, { clock });
    await second;
    assert.deepEqual(order, ['first done', 'second']);

    const mine = await acquireLock(lock);
    await writeFile(lock, JSON.stringify({ pid: process.pid, hostname: hostname(), acquiredAt: new Date().toISOString(), token: 'someone-else' }));
    await mine.release();
    assert.equal(mine.lost, true);
    assert.equal((await readLockOwner(lock))?.token, 'someone-else');
    await rm(lock);
  });

  it('stops waiting when aborted', async () => {
    const lock = join(dir, 'abort.lock');
    const held = await acquireLock(lock);
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(withLock(lock, async () => 1, { signal: ac.signal, timeoutMs: 10_000 }), { name: 'AbortError' });
    } finally {
      await held.release();
    }
  });

  it('reports a lock in a missing directory as an io error naming the path', async () => {
    const lock = join(dir, 'no-such-dir', 'index.json.lock');
    await assert.rejects(withLock(lock, async () => 1), (e: unknown) => e instanceof CacheError && e.code === 'io' && e.message.includes(lock));
  });
});
