import { sleep } from '../util/retry.js';

/**
 * A token bucket with reservations: every caller takes one token and, when the
 * bucket is empty, waits for the time its token needs to refill. Concurrent
 * callers therefore queue in arrival order and the long-run rate never exceeds
 * `ratePerSecond`, while up to `burst` requests may go at once.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number = Math.max(1, Math.floor(ratePerSecond)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Resolves when the caller may send one request. */
  take(): Promise<void> {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond);
    this.refilledAt = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return Promise.resolve();
    return sleep((-this.tokens / this.ratePerSecond) * 1000);
  }
}
