/**
 * Leases (leases.ts): a lease holds digests for a process; it expires when that process is gone
 * (dead pid, or a live pid that started at another time, i.e. a recycled pid), never by age.
 * Holders are real processes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../../shared/contract/errors';
import { kill, startHolder } from './lease-helpers';
import { openContentStore } from '../../../electron/engine/store/content-store';
import type { ContentStore } from '../../../electron/engine/store/content-store';
import { runExport } from '../../../electron/engine/export/exporter';
import { acquireLease, currentProcess, leasesDir, processStartTime, readLiveLeases } from '../../../electron/engine/store/leases';
import { openCacheSource } from '../../../electron/engine/sources/open-cache';
import { generate } from '../export/export-helpers';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe('leases', () => {
  let base: string;
  let n = 0;
  const layout = async () => {
    const dir = join(base, `layout-${n++}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'cachescope-lease-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('a lease holds what was added, for any reader, until it is released', async () => {
    const dir = await layout();
    const lease = await acquireLease(dir, { purpose: 'export latest' });
    assert.deepEqual([...(await readLiveLeases(dir)).digests], []);
    await lease.add([digest('a'), digest('b')]);
    const seen = await readLiveLeases(dir);
    assert.deepEqual([...seen.digests].sort(), [digest('a'), digest('b')]);
    assert.equal(seen.live.length, 1);
    assert.equal(seen.live[0].purpose, 'export latest');
    assert.equal(seen.live[0].process.pid, process.pid);
    await lease.release();
    assert.deepEqual(await readdir(leasesDir(dir)), []);
    assert.equal((await readLiveLeases(dir)).live.length, 0);
    await assert.rejects(lease.add([digest('c')]), (e: unknown) => e instanceof CacheError && e.code === 'internal');
  });

  it('concurrent adds all land in the file (each add resolves only once its digests are written)', async () => {
    const dir = await layout();
    const lease = await acquireLease(dir, { purpose: 'burst' });
    const digests = Array.from({ length: 40 }, (_, i) => `sha256:${i.toString(16).padStart(64, '0')}`);
    await Promise.all(
      digests.map(async (d) => {
        await lease.add([d]);
        // What a concurrent gc reads right after this add returned.
        const onDisk = JSON.parse(await readFile(lease.file, 'utf8')) as { digests: string[] };
        assert.ok(onDisk.digests.includes(d), `${d} persisted before add() resolved`);
      }),
    );
    assert.deepEqual([...(await readLiveLeases(dir)).digests].sort(), digests);
    await lease.release();
  });

  it('a lease whose process was killed has expired: reported, and removed only when asked', async () => {
    const dir = await layout();
    const { child, file } = await startHolder(dir, [digest('d')]);
    assert.deepEqual([...(await readLiveLeases(dir)).digests], [digest('d')], 'live while the holder runs');
    await kill(child);
    const readOnly = await readLiveLeases(dir);
    assert.equal(readOnly.live.length, 0);
    assert.equal(readOnly.expired.length, 1);
    assert.equal(readOnly.digests.size, 0);
    assert.ok(existsSync(file), 'a read-only look deletes nothing');
    await readLiveLeases(dir, { removeExpired: true });
    assert.equal(existsSync(file), false);
  });

  it('a live pid with another start time is a recycled pid: the lease has expired', async (t) => {
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => kill(sleeper));
    // Only a machine without /proc may skip: with /proc, a null start time is a parsing regression.
    if (!existsSync('/proc/self/stat')) return t.skip('no /proc here to read start times');
    const start = await processStartTime(sleeper.pid!);
    assert.match(start ?? 'null', /^\d+$/, 'the start time is read from /proc/PID/stat');
    const dir = await layout();
    const me = await currentProcess();
    const write = async (id: string, startTime: string | null, host = me.hostname) => {
      await mkdir(leasesDir(dir), { recursive: true });
      await writeFile(
        join(leasesDir(dir), `${id}.json`),
        JSON.stringify({ id, purpose: 'test', process: { pid: sleeper.pid, hostname: host, bootId: me.bootId, startTime }, createdAt: new Date().toISOString(), digests: [digest(id)] }),
      );
    };
    await write('1', start);
    await write('2', String(Number(start) + 1));
    await write('3', null);
    await write('4', String(Number(start) + 1), `not-${hostname()}`);
    const got = await readLiveLeases(dir);
    assert.deepEqual([...got.digests].sort(), [digest('1'), digest('3'), digest('4')]);
    assert.deepEqual(got.expired.map((l) => l.id), ['2']);
  });

  it('a lease file gc cannot read stops the reader, naming the file and the field', async () => {
    const dir = await layout();
    await mkdir(leasesDir(dir), { recursive: true });
    const file = join(leasesDir(dir), 'bad.json');
    await writeFile(file, JSON.stringify({ id: 'bad', purpose: 'x', process: { pid: 1, hostname: 'h', bootId: null, startTime: null }, createdAt: '', digests: ['sha256:../../etc/passwd'] }));
    await assert.rejects(readLiveLeases(dir), (e: unknown) => e instanceof CacheError && e.message.includes(file) && e.details?.field === 'digests[0]');
    await writeFile(file, '{');
    await assert.rejects(readLiveLeases(dir), (e: unknown) => e instanceof CacheError && e.code === 'invalid-json' && e.message.includes(file));
  });

  it('the store leases a blob before it appears in blobs/, for writes and links alike', async () => {
    const dir = await layout();
    const lease = await acquireLease(dir, { purpose: 'store hook' });
    const seen: { digest: string; presentAtCall: boolean; leasedAtCall: boolean }[] = [];
    const store = await openContentStore(dir, {
      beforePublish: async (d) => {
        const presentAtCall = existsSync(store.blobPath(d));
        await lease.add([d]);
        seen.push({ digest: d, presentAtCall, leasedAtCall: (await readLiveLeases(dir)).digests.has(d) });
      },
    });
    const written = await store.writeBytes(Buffer.from('written'));
    const src = join(base, 'to-link');
    await writeFile(src, 'linked');
    const linked = await store.link(src, `sha256:${createHash('sha256').update('linked').digest('hex')}`);
    assert.deepEqual(seen, [
      { digest: written.digest, presentAtCall: false, leasedAtCall: true },
      { digest: linked.digest, presentAtCall: false, leasedAtCall: true },
    ]);
    await lease.release();
  });

  it('an export releases its lease when it fails, and when it succeeds', async () => {
    const src = join(base, `src-${n++}`);
    await generate(src, { seed: 3, stages: 1, layersPerStage: 2, layerBytes: 5_000 });
    const opened = await openCacheSource(src);
    const dest = await layout();
    const failing = (store: ContentStore): ContentStore => {
      const broken = Object.create(store) as ContentStore;
      broken.writeBytes = async () => {
        // The export is mid-way: its lease holds the layers it wrote.
        assert.ok((await readLiveLeases(dest)).digests.size > 0, 'the lease is held while the export runs');
        throw new CacheError('io', 'injected failure');
      };
      return broken;
    };
    await assert.rejects(runExport({ opened, dest, options: {}, verifyMemo: null, wrapDestStore: failing }), /injected failure/);
    assert.deepEqual(await readdir(leasesDir(dest)), []);
    await runExport({ opened, dest, options: {}, verifyMemo: null });
    assert.deepEqual(await readdir(leasesDir(dest)), []);
  });
});
