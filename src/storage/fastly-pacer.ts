import type { Logger } from '../logger.js';
import { FastlyError } from './fastly-api.js';
import type { SuperagentResponse } from './fastly-client.js';

/**
 * Fastly's write allowance as its answers report it, shared by every call of one
 * client. `acquire` takes one write from the allowance or holds until the reset.
 */
export class WritePacer {
  private remaining: number | undefined;
  private resetAt: number | undefined;
  /** While the allowance is unknown (at start, after a reset), one write goes first and the others wait for its answer. */
  private probe: Promise<void> | undefined;

  constructor(
    private readonly options: { maxHoldMs: number; now: () => number; sleep: (ms: number) => Promise<void>; logger: Logger },
  ) {}

  /** Reads `Fastly-RateLimit-Remaining` / `-Reset` from an answer to a write. */
  observe(response: SuperagentResponse): void {
    const remaining = Number(header(response, 'fastly-ratelimit-remaining'));
    const reset = Number(header(response, 'fastly-ratelimit-reset'));
    if (!Number.isFinite(remaining) || !Number.isFinite(reset) || header(response, 'fastly-ratelimit-remaining') === undefined) return;
    const resetAt = reset * 1000;
    // Within one window, answers to writes still in flight may arrive out of order: keep the lower count.
    this.remaining = resetAt === this.resetAt && this.remaining !== undefined ? Math.min(this.remaining, remaining) : remaining;
    this.resetAt = resetAt;
  }

  /** Whether the allowance is known to be used up (a 429 then waits for the reset). */
  exhausted(): boolean {
    this.rollOver();
    return this.remaining !== undefined && this.remaining <= 0 && this.resetAt !== undefined;
  }

  /** Takes one write from the allowance (holding if need be); call the returned function once the answer is in. */
  async acquire(operation: string): Promise<() => void> {
    for (;;) {
      this.rollOver();
      if (this.remaining === undefined) {
        if (this.probe) {
          await this.probe;
          continue;
        }
        let done!: () => void;
        this.probe = new Promise<void>((resolve) => (done = resolve));
        return () => {
          this.probe = undefined;
          done();
        };
      }
      if (this.remaining > 0 || this.resetAt === undefined) {
        this.remaining -= 1;
        return () => undefined;
      }
      const resetAt = this.resetAt;
      const waitMs = resetAt - this.options.now();
      const at = new Date(resetAt).toISOString();
      if (waitMs > this.options.maxHoldMs) {
        const error = new FastlyError(
          `Fastly ${operation} held back: the API write allowance is used up (Fastly-RateLimit-Remaining: 0) until ${at}, ` +
            `longer than AutoTLS waits (${Math.round(this.options.maxHoldMs / 1000)} s)`,
          { status: 429 },
        );
        error.rateLimitResetAt = new Date(resetAt);
        throw error;
      }
      this.options.logger.warn({ operation, resetAt: at, waitMs }, 'Fastly write allowance used up; holding until it resets');
      await this.options.sleep(waitMs);
    }
  }

  private rollOver(): void {
    if (this.resetAt !== undefined && this.options.now() >= this.resetAt) {
      this.remaining = undefined;
      this.resetAt = undefined;
    }
  }
}

/** The first value of a response header (superagent gives arrays for repeated headers). */
export function header(response: SuperagentResponse, name: string): string | undefined {
  const value = response.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}
