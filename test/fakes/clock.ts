/**
 * The fake clock tests and the lifecycle simulator move by hand. It is the
 * service's own `FakeClock` (src/clock.ts: `now()`, `set(to)`, `advance(ms)`),
 * plus readable steps. Every in-memory counterpart takes the same clock, so a
 * certificate's lifetime, a rate limit's refill and a lease's expiry all move together.
 */
import { FakeClock } from '../../src/clock.js';

export { FakeClock };

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export class TestClock extends FakeClock {
  advanceMinutes(n: number): void {
    this.advance(n * MINUTE);
  }
  advanceHours(n: number): void {
    this.advance(n * HOUR);
  }
  advanceDays(n: number): void {
    this.advance(n * DAY);
  }
}
