/**
 * Bounded concurrency per host: at most N requests in flight to one registry (containerd's default is
 * 4), so a pull of 64 layers does not open 64 connections and trip rate limits. Waiters are served in
 * arrival order and leave the queue when their signal aborts.
 */
import { abortError } from './retry';

/** Gives back a slot; calling it twice is harmless. */
export type Release = () => void;

export class Semaphore {
  private active = 0;
  private readonly waiters: Array<{ grant: () => void }> = [];
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a positive integer, got ${limit}`);
  }

  /** Requests in flight now (for tests and diagnostics). */
  get inFlight(): number {
    return this.active;
  }

  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<Release>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active--;
          this.next();
        });
      };
      const entry = { grant };
      const onAbort = () => {
        const i = this.waiters.indexOf(entry);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal));
      };
      if (this.active < this.limit) grant();
      else {
        this.waiters.push(entry);
        signal?.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  private next(): void {
    while (this.active < this.limit && this.waiters.length) this.waiters.shift()!.grant();
  }
}

/** One semaphore per `host:port`. */
export class HostLimiter {
  private readonly byHost = new Map<string, Semaphore>();
  constructor(readonly perHost: number) {
    new Semaphore(perHost); // validates the number early, at construction
  }

  acquire(hostPort: string, signal?: AbortSignal): Promise<Release> {
    let sem = this.byHost.get(hostPort);
    if (!sem) {
      sem = new Semaphore(this.perHost);
      this.byHost.set(hostPort, sem);
    }
    return sem.acquire(signal);
  }

  inFlight(hostPort: string): number {
    return this.byHost.get(hostPort)?.inFlight ?? 0;
  }
}
