/**
 * Export progress: per-layer state with BuildKit's progress texts, throttled at the source to about
 * ten events a second per job, the last state always delivered (the UI and `--json` must end on it).
 */
import type { ExportProgress, LayerProgress, LayerState } from '../../../shared/export/types';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** 100 ms: ten events a second is smooth for a progress bar and cheap over IPC and SSE. */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Leading-and-trailing throttle: the first value goes out at once, later ones at most every
 * `intervalMs`, and the newest pending value is never lost: a timer delivers it, or `flush()` does.
 */
export class Throttle<T> {
  private last = -Infinity;
  private pending: T | undefined;
  private hasPending = false;
  private timer: unknown = null;

  constructor(
    private readonly deliver: (value: T) => void,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
    private readonly clock: Clock = systemClock,
  ) {}

  push(value: T): void {
    this.pending = value;
    this.hasPending = true;
    const wait = this.last + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      this.emitPending();
      return;
    }
    if (this.timer === null) this.timer = this.clock.setTimeout(() => ((this.timer = null), this.emitPending()), wait);
  }

  /** Delivers the pending value now, if any; called at the end of a job so the last state always arrives. */
  flush(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.emitPending();
  }

  private emitPending(): void {
    if (!this.hasPending) return;
    const value = this.pending as T;
    this.pending = undefined;
    this.hasPending = false;
    this.last = this.clock.now();
    this.deliver(value);
  }
}

interface LayerSlot extends LayerProgress {
  startedAt: number | null;
  endedAt: number | null;
  /** Bytes that were already there when this run took the layer up (a resumed upload or download): not moved now, so not speed. */
  baseline: number;
}

const FINAL_STATES: ReadonlySet<LayerState> = new Set(['exists', 'linked', 'done', 'failed', 'mounted']);

/** Builds ExportProgress snapshots for one job; every change goes through the throttle. */
export class ProgressTracker {
  private readonly layers: LayerSlot[] = [];
  private readonly byBlob = new Map<string, LayerSlot>();
  private readonly throttle: Throttle<null>;
  private seq = 0;
  private text = '';
  private lines: string[] = [];
  private readonly startedAt: number;

  constructor(
    private readonly jobId: string,
    deliver: (progress: ExportProgress) => void,
    private readonly clock: Clock = systemClock,
    intervalMs = PROGRESS_INTERVAL_MS,
  ) {
    // The snapshot is taken at delivery, so states the throttle skips cost nothing.
    this.throttle = new Throttle<null>(() => deliver(this.snapshot()), intervalMs, clock);
    this.startedAt = clock.now();
  }

  addLayer(blob: string, bytesTotal: number): void {
    if (this.byBlob.has(blob)) return;
    const slot: LayerSlot = { blob, state: 'queued', bytesDone: 0, bytesTotal, bytesPerSecond: 0, text: `writing layer ${blob}`, target: null, error: null, startedAt: null, endedAt: null, baseline: 0 };
    this.layers.push(slot);
    this.byBlob.set(blob, slot);
  }

  /** Adds a BuildKit progress line (`writing config …`); it is kept until the next event carries it. */
  line(text: string): void {
    this.text = text;
    this.lines.push(text);
    this.changed();
  }

  layer(blob: string, patch: Partial<Pick<LayerProgress, 'state' | 'bytesDone' | 'bytesTotal' | 'target' | 'error' | 'text' | 'origin' | 'resumedFrom'>>): void {
    const slot = this.byBlob.get(blob);
    if (!slot) return;
    const now = this.clock.now();
    if (patch.state && patch.state !== 'queued' && slot.startedAt === null) slot.startedAt = now;
    // A resume that starts this run's work on the layer: what the other side already held moved earlier.
    if (patch.resumedFrom !== undefined) slot.baseline = patch.resumedFrom;
    else if (patch.state === 'resumed' && slot.bytesDone === 0 && patch.bytesDone !== undefined) slot.baseline = patch.bytesDone;
    // Skipped or mounted: the destination had it, no byte moved.
    else if ((patch.state === 'exists' || patch.state === 'mounted') && slot.bytesDone === 0) slot.baseline = patch.bytesTotal ?? slot.bytesTotal;
    Object.assign(slot, patch);
    if (patch.state && FINAL_STATES.has(patch.state)) {
      slot.endedAt = now;
      if (patch.state !== 'failed') slot.bytesDone = slot.bytesTotal;
    }
    const elapsed = ((slot.endedAt ?? now) - (slot.startedAt ?? now)) / 1000;
    slot.bytesPerSecond = elapsed > 0 ? Math.round(Math.max(0, slot.bytesDone - slot.baseline) / elapsed) : 0;
    this.changed();
  }

  snapshot(): ExportProgress {
    const bytesDone = this.layers.reduce((s, l) => s + l.bytesDone, 0);
    const bytesTotal = this.layers.reduce((s, l) => s + l.bytesTotal, 0);
    const moved = this.layers.reduce((s, l) => s + Math.max(0, l.bytesDone - l.baseline), 0);
    const elapsed = (this.clock.now() - this.startedAt) / 1000;
    const lines = this.lines;
    this.lines = [];
    return {
      jobId: this.jobId,
      seq: ++this.seq,
      text: this.text,
      lines,
      layers: this.layers.map(({ startedAt: _s, endedAt: _e, baseline: _b, ...rest }) => ({ ...rest })),
      bytesDone,
      bytesTotal,
      bytesPerSecond: elapsed > 0 ? Math.round(moved / elapsed) : 0,
    };
  }

  /** Delivers the newest state now; the last call of every job. */
  flush(): void {
    this.throttle.flush();
  }

  private changed(): void {
    this.throttle.push(null);
  }
}
