import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressTracker, Throttle } from '../../../electron/engine/export/export-progress';
import type { Clock } from '../../../electron/engine/export/export-progress';
import type { ExportProgress } from '../../../shared/export/types';

/** A clock whose time only moves when the test says so; timers fire as time passes them. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  return {
    now: () => t,
    setTimeout(fn, ms) {
      const id = next++;
      timers.push({ at: t + ms, fn, id });
      return id;
    },
    clearTimeout(h) {
      timers = timers.filter((x) => x.id !== h);
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const due = timers[0];
        if (!due || due.at > end) break;
        timers.shift();
        t = due.at;
        due.fn();
      }
      t = end;
    },
  };
}

describe('progress throttle', () => {
  it('delivers at most one value per interval and always the newest one, by timer or flush', () => {
    const clock = fakeClock();
    const got: { v: number; at: number }[] = [];
    const th = new Throttle<number>((v) => got.push({ v, at: clock.now() }), 100, clock);
    // 10 seconds of updates every millisecond: 10,000 pushes.
    let v = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      th.push(++v);
      clock.advance(1);
    }
    th.flush();
    assert.ok(got.length <= 101, `expected at most ~10/s, got ${got.length} in 10 s`);
    assert.ok(got.length >= 95, `expected about 10/s, got ${got.length}`);
    for (let i = 1; i < got.length - 1; i++) assert.ok(got[i].at - got[i - 1].at >= 100, 'two events closer than the interval');
    assert.equal(got[got.length - 1].v, v, 'the last value must be delivered');
  });

  it('a lone trailing update arrives by timer without a flush', () => {
    const clock = fakeClock();
    const got: number[] = [];
    const th = new Throttle<number>((v) => got.push(v), 100, clock);
    th.push(1);
    th.push(2);
    th.push(3);
    assert.deepEqual(got, [1]);
    clock.advance(100);
    assert.deepEqual(got, [1, 3]);
    th.flush();
    assert.deepEqual(got, [1, 3], 'flush with nothing pending delivers nothing');
  });
});

describe('progress tracker', () => {
  it('carries state, bytes, rate and BuildKit text per layer, and loses no progress line to throttling', () => {
    const clock = fakeClock();
    const events: ExportProgress[] = [];
    const tr = new ProgressTracker('job-1', (p) => events.push(p), clock);
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    tr.addLayer(a, 1000);
    tr.addLayer(b, 500);
    tr.layer(a, { state: 'reading' });
    clock.advance(500);
    tr.layer(a, { state: 'writing', bytesDone: 500 });
    tr.layer(b, { state: 'exists' });
    tr.line(`writing config sha256:${'c'.repeat(64)}`);
    tr.line(`writing cache image manifest sha256:${'d'.repeat(64)}`);
    clock.advance(500);
    tr.layer(a, { state: 'done' });
    tr.flush();
    const last = events[events.length - 1];
    assert.equal(last.jobId, 'job-1');
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    const la = last.layers.find((l) => l.blob === a)!;
    assert.equal(la.state, 'done');
    assert.equal(la.bytesDone, 1000);
    assert.equal(la.bytesTotal, 1000);
    assert.equal(la.bytesPerSecond, 1000);
    assert.equal(la.text, `writing layer ${a}`);
    assert.equal(last.layers.find((l) => l.blob === b)!.state, 'exists');
    assert.equal(last.bytesDone, 1500);
    assert.equal(last.bytesTotal, 1500);
    const lines = events.flatMap((e) => e.lines ?? []);
    assert.deepEqual(lines, [`writing config sha256:${'c'.repeat(64)}`, `writing cache image manifest sha256:${'d'.repeat(64)}`]);
    assert.equal(last.text, `writing cache image manifest sha256:${'d'.repeat(64)}`);
  });

  it('speed counts only bytes moved in this run: a resumed layer\'s earlier part and skipped layers are not speed', () => {
    const clock = fakeClock();
    const events: ExportProgress[] = [];
    const tr = new ProgressTracker('job-2', (p) => events.push(p), clock);
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    const c = `sha256:${'c'.repeat(64)}`;
    tr.addLayer(a, 10_000);
    tr.addLayer(b, 4_000);
    tr.addLayer(c, 6_000);
    // The registry already holds 8,000 bytes of a (an upload resumed across runs).
    tr.layer(a, { state: 'resumed', bytesDone: 8_000 });
    tr.layer(b, { state: 'exists' });
    // c was a download resumed from a 3,000-byte partial file.
    tr.layer(c, { state: 'downloading', resumedFrom: 3_000, bytesDone: 3_000 });
    clock.advance(1000);
    tr.layer(a, { state: 'done' });
    tr.layer(c, { state: 'done' });
    tr.flush();
    const last = events[events.length - 1];
    const speed = (blob: string) => last.layers.find((l) => l.blob === blob)!.bytesPerSecond;
    assert.equal(speed(a), 2_000);
    assert.equal(speed(b), 0);
    assert.equal(speed(c), 3_000);
    assert.equal(last.bytesDone, 20_000);
    assert.equal(last.bytesPerSecond, 5_000);
  });
});
