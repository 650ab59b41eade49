/**
 * Blob downloads that can be trusted: a Readable that hashes every byte and only ends ("done") after
 * the size and digest are proved; a mismatch ends it with an error instead, so a consumer writing
 * into a content store never commits unverified bytes. A connection that drops mid-blob is resumed
 * with `Range: bytes=N-` (checking 206 and Content-Range); a server that ignores Range (200) is read
 * again from the start and the bytes already delivered are discarded.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CacheError } from '../../../shared/contract/errors';
import type { Descriptor } from '../../../shared/oci/types';
import { digestProblem, parseDigest } from '../../../shared/oci/digest';
import { networkError, responseError } from './registry-error';
import { abortError, backoffDelay, isRetryableError } from './retry';
import type { Clock, RetryPolicy } from './retry';
import type { TransportResponse } from './transport';
import { headerValue } from './transport';

/** Where a caller resumes a blob it already has the first `offset` bytes of (`hash` has hashed exactly those). */
export interface BlobResume {
  offset: number;
  hash: Hash;
}

/** Opens the blob from `offset` (a Range request when > 0); errors are already retried by the transport. */
export type BlobOpener = (offset: number, signal: AbortSignal) => Promise<TransportResponse>;

export interface VerifiedBlobOptions {
  signal?: AbortSignal;
  resume?: BlobResume;
  policy: RetryPolicy;
  clock: Clock;
  /** What we are doing, for messages: `GET blob host/repo@sha256:…`. */
  action: string;
  host: string;
  /** Told when a dropped download resumes, with the offset it resumes from. */
  onResume?: (offset: number, reason: string) => void;
  /**
   * The caller hashes every byte itself and refuses the blob on a mismatch (the blob cache does,
   * before it commits): skip our own hash so a download is hashed once, not twice. Sizes are still checked.
   */
  callerVerifies?: boolean;
}

/** `bytes N-M/T` → N (or null). */
export function contentRangeStart(value: string | undefined): number | null {
  const m = /^bytes\s+(\d+)-(\d+)?\/(\d+|\*)$/i.exec((value ?? '').trim());
  return m ? Number(m[1]) : null;
}

function checkDescriptor(desc: Pick<Descriptor, 'digest' | 'size'>, action: string): void {
  const problem = digestProblem(desc.digest);
  if (problem) throw new CacheError('invalid-digest', `${action}: digest: ${problem}`, { field: 'digest' });
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw new CacheError('invalid-manifest', `${action}: size: expected a non-negative integer, got ${desc.size}`, { field: 'size' });
}

/** See the module comment. `first` is the already-open answer for offset `resume.offset` (or 0). */
export class VerifiedBlobStream extends Readable {
  private readonly hash: Hash;
  private delivered: number;
  private started = false;
  private wake: (() => void) | null = null;
  private readonly controller = new AbortController();
  private readonly cleanup: () => void;
  /** The answer being read now, dropped at once when the stream is destroyed. */
  private current?: TransportResponse;
  /** How many times a dropped connection was resumed (for progress and tests). */
  resumes = 0;

  constructor(
    private readonly desc: Pick<Descriptor, 'digest' | 'size'>,
    private readonly open: BlobOpener,
    private readonly options: VerifiedBlobOptions,
    private first?: TransportResponse,
  ) {
    super({ highWaterMark: 1 << 20 });
    checkDescriptor(desc, options.action);
    this.hash = options.resume?.hash ?? createHash(parseDigest(desc.digest).algorithm);
    this.delivered = options.resume?.offset ?? 0;
    const outer = options.signal;
    const onAbort = () => this.destroy(abortError(outer));
    outer?.addEventListener('abort', onAbort, { once: true });
    this.cleanup = () => outer?.removeEventListener('abort', onAbort);
  }

  /** Bytes handed out so far, counting a resumed prefix. */
  get offset(): number {
    return this.delivered;
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.pump().then(
        () => {
          this.cleanup();
          this.push(null);
        },
        (err: unknown) => this.destroy(err as Error),
      );
    } else if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.cleanup();
    this.controller.abort();
    this.first?.discard();
    this.current?.discard();
    this.wake?.();
    callback(err);
  }

  private async openAt(offset: number): Promise<{ res: TransportResponse; skip: number }> {
    const res = this.first ?? (await this.open(offset, this.controller.signal));
    this.first = undefined;
    if (offset > 0 && res.status === 206) {
      const start = contentRangeStart(headerValue(res.headers['content-range']));
      if (start !== offset) {
        res.discard();
        throw new CacheError('io', `${this.options.action}: asked for bytes from ${offset}, the server sent Content-Range ${JSON.stringify(headerValue(res.headers['content-range']) ?? '')}`, { host: this.options.host });
      }
      return { res, skip: 0 };
    }
    if (res.status === 200) return { res, skip: offset };
    throw responseError({ action: this.options.action, status: res.status, statusText: res.statusText, body: await res.text(), host: this.options.host });
  }

  private async pump(): Promise<void> {
    const { size } = this.desc;
    let failures = 0;
    let total = 0;
    for (;;) {
      if (this.delivered >= size) {
        this.first?.discard();
        this.first = undefined;
        break;
      }
      const { res, skip: initialSkip } = await this.openAt(this.delivered);
      this.current = res;
      if (this.destroyed) {
        res.discard();
        return;
      }
      let skip = initialSkip;
      const before = this.delivered;
      try {
        for await (const raw of res.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            const drop = Math.min(skip, chunk.length);
            skip -= drop;
            chunk = chunk.subarray(drop);
            if (!chunk.length) continue;
          }
          if (this.delivered + chunk.length > size) {
            throw new CacheError('size-mismatch', `${this.options.action}: the registry sent more than the ${size} bytes the descriptor says`, { expected: size, field: 'size' });
          }
          if (!this.options.callerVerifies) this.hash.update(chunk);
          this.delivered += chunk.length;
          if (!this.push(chunk)) await new Promise<void>((resolve) => (this.wake = resolve));
          if (this.destroyed) return;
        }
        if (this.delivered < size) {
          throw Object.assign(new Error(`the body ended after ${this.delivered} of ${size} bytes`), { code: 'ERR_REGISTRY_TRUNCATED' });
        }
      } catch (err) {
        res.discard();
        if (this.destroyed || this.controller.signal.aborted) throw abortError(this.options.signal);
        if (!isRetryableError(err)) throw err;
        failures = this.delivered > before ? 1 : failures + 1;
        total++;
        if (failures > this.options.policy.maxRetries || total > this.options.policy.maxRetries * 4) {
          throw networkError(`${this.options.action}: gave up after ${total} dropped connections`, this.options.host, err);
        }
        this.resumes++;
        this.options.onResume?.(this.delivered, String((err as Error).message));
        await this.options.clock.sleep(backoffDelay(failures - 1, this.options.policy, this.options.clock.random), this.controller.signal);
      }
    }
    if (this.options.callerVerifies) return;
    const actual = `${parseDigest(this.desc.digest).algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.desc.digest) {
      throw new CacheError('digest-mismatch', `${this.options.action}: the bytes are ${actual}, not ${this.desc.digest}`, { expected: this.desc.digest, actual, field: 'digest' });
    }
  }
}
