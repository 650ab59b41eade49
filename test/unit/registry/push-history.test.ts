/**
 * The push history (mount sources from earlier pushes): most recent repository first, bounded in
 * digests and in repositories per blob, a torn file read as empty, and several processes recording
 * into one file at once lose no entry and never leave a half-written file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoryPushHistory, openPushHistory, pushHistoryFileFor } from '../../../electron/engine/registry/push-history';
import { REPO } from '../../helpers/fixtures';

const dg = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('push history', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'cachescope-push-history-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('lives next to the upload state', () => {
    assert.equal(pushHistoryFileFor('/home/u/.cache/cachescope/uploads'), '/home/u/.cache/cachescope/push-history.json');
  });

  it('remembers repositories per registry, most recent first, across opens', async () => {
    const file = join(tmp, 'a', 'push-history.json');
    const h = await openPushHistory(file);
    await h.record('reg.example:5000', 'team/one', [dg(1), dg(2)]);
    await h.record('reg.example:5000', 'team/two', [dg(1)]);
    await h.record('other.example', 'x/y', [dg(1)]);
    assert.deepEqual(h.repositories('reg.example:5000', dg(1)), ['team/two', 'team/one']);
    const again = await openPushHistory(file);
    assert.deepEqual(again.repositories('REG.example:5000', dg(1)), ['team/two', 'team/one']);
    assert.deepEqual(again.repositories('reg.example:5000', dg(2)), ['team/one']);
    assert.deepEqual(again.repositories('other.example', dg(1)), ['x/y']);
    assert.deepEqual(again.repositories('reg.example:5001', dg(1)), []);
    // A re-push moves the repository to the front instead of listing it twice.
    await again.record('reg.example:5000', 'team/one', [dg(1)]);
    assert.deepEqual((await openPushHistory(file)).repositories('reg.example:5000', dg(1)), ['team/one', 'team/two']);
  });

  it('is bounded: the oldest digests and the least recent repositories go first', async () => {
    const file = join(tmp, 'bounded.json');
    const h = await openPushHistory(file, { maxBlobs: 3, maxRepos: 2 });
    for (let i = 1; i <= 5; i++) await h.record('r', 'repo', [dg(i)]);
    await h.record('r', 'a', [dg(5)]);
    await h.record('r', 'b', [dg(5)]);
    const back = await openPushHistory(file, { maxBlobs: 3, maxRepos: 2 });
    assert.deepEqual([1, 2, 3, 4, 5].map((i) => back.repositories('r', dg(i)).length > 0), [false, false, true, true, true]);
    assert.deepEqual(back.repositories('r', dg(5)), ['b', 'a']);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { blobs: Record<string, unknown> };
    assert.equal(Object.keys(saved.blobs).length, 3);
  });

  it('a torn or foreign file reads as empty and is replaced whole', async () => {
    const file = join(tmp, 'torn.json');
    await writeFile(file, '{"version":1,"blobs":{"sha256:');
    const h = await openPushHistory(file);
    assert.deepEqual(h.repositories('r', dg(1)), []);
    await h.record('r', 'repo', [dg(1)]);
    assert.deepEqual((await openPushHistory(file)).repositories('r', dg(1)), ['repo']);
  });

  it('in memory only (no file): this run still remembers', async () => {
    const h = memoryPushHistory();
    await h.record('r', 'repo', [dg(7)]);
    assert.deepEqual(h.repositories('r', dg(7)), ['repo']);
  });

  it('four processes recording at once into one file lose no entry and leave no temp file', async () => {
    const dir = join(tmp, 'concurrent');
    const file = join(dir, 'push-history.json');
    const script = `
      import { openPushHistory } from ${JSON.stringify(join(REPO, 'electron/engine/registry/push-history.ts'))};
      const [who] = process.argv.slice(-1);
      const h = await openPushHistory(${JSON.stringify(file)});
      const dg = (n) => 'sha256:' + n.toString(16).padStart(64, '0');
      for (let i = 0; i < 40; i++) void h.record('reg.example', 'repo-' + who, [dg(Number(who) * 1000 + i), dg(99999)]);
      await h.flush();
    `;
    const scriptFile = join(tmp, 'record.mts');
    await writeFile(scriptFile, script);
    const codes = await Promise.all(
      [1, 2, 3, 4].map(
        (who) =>
          new Promise<number | null>((resolve) => {
            const child = spawn(process.execPath, ['--import', 'tsx', scriptFile, String(who)], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
            child.on('close', (code) => resolve(code));
          }),
      ),
    );
    assert.deepEqual(codes, [0, 0, 0, 0]);
    const h = await openPushHistory(file);
    for (const who of [1, 2, 3, 4]) {
      for (let i = 0; i < 40; i++) assert.deepEqual(h.repositories('reg.example', dg(who * 1000 + i)), [`repo-${who}`], `process ${who} entry ${i}`);
    }
    assert.deepEqual(h.repositories('reg.example', dg(99999)).sort(), ['repo-1', 'repo-2', 'repo-3', 'repo-4']);
    assert.deepEqual((await readdir(dir)).sort(), ['push-history.json']);
  });
});
