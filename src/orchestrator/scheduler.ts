import { Cron } from 'croner';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { errorMessage } from '../util/errors.js';

/** `SCHEDULE=continuous`: wake at each pending event instead of at cron times. */
export const CONTINUOUS = 'continuous';
/** The continuous schedule's longest sleep and largest jitter (defaults of ContinuousSchedulerOptions). */
export const CONTINUOUS_MAX_INTERVAL_MS = 3_600_000;
export const CONTINUOUS_MAX_JITTER_MS = 300_000;

export interface ContinuousSchedulerDeps {
  clock: Clock;
  random: () => number;
  logger: Logger;
  /**
   * The earliest pending event: a renewal time, an ARI check, the end of a
   * backoff or of an account pause, a budget refill. A time at or before now
   * means work is due; undefined means nothing is pending.
   */
  nextEventAt: () => Promise<Date | undefined>;
  /** One wake: check the ARI windows that are due, then process everything due. */
  wake: () => Promise<void>;
}

export interface ContinuousSchedulerOptions {
  /** Shortest sleep between wakes, so a domain that stays due cannot spin the loop. Default 30 s. */
  minIntervalMs?: number;
  /** Longest sleep: new domains and edits made outside AutoTLS are noticed within it. Default 1 h. */
  maxIntervalMs?: number;
  /** Upper bound of the random delay added to every wake. Default 5 minutes. */
  maxJitterMs?: number;
}

/**
 * Continuous mode: sleeps until the earliest pending event, then processes what
 * is due. Let's Encrypt asks clients not to renew on the hour, all at once
 * (https://letsencrypt.org/docs/integration-guide/#when-to-renew), so every wake
 * comes a random moment after the event: up to a tenth of the sleep, at most
 * `maxJitterMs`.
 *
 * `nextWake` and `wake` are separate from the timer loop so that the lifecycle
 * simulator can drive the same decisions on a fake clock.
 */
export class ContinuousScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly minIntervalMs: number;
  private readonly maxIntervalMs: number;
  private readonly maxJitterMs: number;

  constructor(
    private readonly deps: ContinuousSchedulerDeps,
    options: ContinuousSchedulerOptions = {},
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 30_000;
    this.maxIntervalMs = options.maxIntervalMs ?? CONTINUOUS_MAX_INTERVAL_MS;
    this.maxJitterMs = options.maxJitterMs ?? CONTINUOUS_MAX_JITTER_MS;
  }

  /** When to wake next, from now. */
  async nextWake(): Promise<Date> {
    const now = this.deps.clock.now().getTime();
    const event = await this.deps.nextEventAt();
    const until = event === undefined ? this.maxIntervalMs : event.getTime() - now;
    const sleep = Math.min(this.maxIntervalMs, Math.max(this.minIntervalMs, until));
    const jitter = this.deps.random() * Math.min(this.maxJitterMs, sleep / 10);
    return new Date(now + sleep + jitter);
  }

  /** Starts the timer loop: wake at once, then at each `nextWake`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The time of the next wake, while running. */
  get nextRun(): Date | undefined {
    return this.scheduledAt;
  }

  private scheduledAt: Date | undefined;

  private arm(delayMs: number): void {
    if (this.stopped) return;
    this.scheduledAt = new Date(this.deps.clock.now().getTime() + delayMs);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { logger, clock } = this.deps;
    try {
      await this.deps.wake();
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'continuous schedule: the wake failed');
    }
    let next: Date;
    try {
      next = await this.nextWake();
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'continuous schedule: could not read the next event; trying again later');
      next = new Date(clock.now().getTime() + this.minIntervalMs * 10);
    }
    logger.debug({ next: next.toISOString() }, 'continuous schedule: next wake');
    this.arm(Math.max(0, next.getTime() - clock.now().getTime()));
  }
}

/**
 * How many runs a cron expression triggers in [from, to)
 * (capacity planning: runs × MAX_DOMAINS_PER_RUN is what cron mode can renew).
 */
export function cronRunsBetween(expression: string, from: Date, to: Date): number {
  const cron = new Cron(expression, { paused: true });
  let count = 0;
  let cursor: Date | null = new Date(from.getTime() - 1);
  while ((cursor = cron.nextRun(cursor)) !== null && cursor < to) {
    count++;
    if (count > 1_000_000) break;
  }
  cron.stop();
  return count;
}

/**
 * The longest time between two consecutive runs of a cron expression among its
 * next `runs` run times after `from` (so "weekdays at 02:00" gives the weekend's
 * three days); undefined when it has fewer than two.
 */
export function longestCronGapMs(expression: string, from: Date, runs = 50): number | undefined {
  const cron = new Cron(expression, { paused: true });
  const times = cron.nextRuns(runs, from).map((d) => d.getTime());
  cron.stop();
  let longest: number | undefined;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest ?? 0, (times[i] as number) - (times[i - 1] as number));
  return longest;
}
