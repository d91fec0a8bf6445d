/**
 * Fastly's write allowance (about 1,000 writes an hour per user) is shared by
 * every upload. Once Fastly has said it is used up until a reset
 * (`Fastly-RateLimit-Reset`, read by the client's WritePacer), every other upload until then would be refused as well. The hold
 * remembers that reset: runs leave stored certificates stored (`deferred`, not
 * `failed`: no backoff, no failure alert), selection leaves them out, and the
 * continuous schedule wakes for them at the reset instead of retrying each one
 * every 30 seconds. Found by the lifecycle simulator: a revocation of 2,000
 * certificates needs about 6,000 writes.
 *
 * In this process only: another instance sharing the API token learns it from
 * its own first refusal.
 */
import type { Clock } from '../clock.js';

export class UploadHold {
  private until: Date | undefined;

  constructor(private readonly clock: Clock) {}

  /**
   * The reset an upload error names when Fastly said the write allowance is used
   * up (FastlyError.rateLimitResetAt, set by the client's WritePacer from
   * Fastly-RateLimit-Remaining / -Reset), anywhere in its causes. A lone 429 with
   * a long Retry-After fails that one domain, as before.
   */
  resetOf(error: unknown): Date | undefined {
    for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
      const { rateLimitResetAt } = e as { rateLimitResetAt?: unknown };
      if (rateLimitResetAt instanceof Date) return rateLimitResetAt;
    }
    return undefined;
  }

  /** Holds uploads until `until` (a later reset wins). */
  hold(until: Date): void {
    if (!this.until || until > this.until) this.until = until;
  }

  /** When the hold ends, while it lasts. */
  heldUntil(): Date | undefined {
    if (this.until && this.until.getTime() <= this.clock.now().getTime()) this.until = undefined;
    return this.until;
  }
}
