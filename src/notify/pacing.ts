import { sleep } from '../util/retry.js';

/**
 * Paces posts to Slack: one at a time, at least `minIntervalMs` apart, and none
 * while a 429's Retry-After runs. Slack allows incoming webhooks about one
 * message per second ("Posting messages: 1 per second, short bursts >1
 * allowed", https://api.slack.com/docs/rate-limits), and answers more with
 * HTTP 429 and a Retry-After header in seconds. One pacer is shared by every
 * SlackNotifier of the process (`processSlackPacer`), so the service, its
 * alerts and its run summaries together stay within the limit.
 */
export interface PacerOptions {
  /**
   * Minimum gap from the end of one post to the start of the next; default
   * 1000 ms. Counting from the end means Slack sees the two at least this far
   * apart, whatever the network took.
   */
  minIntervalMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class SlackPacer {
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(options: PacerOptions = {}) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
  }

  /** Runs `post` when its turn comes: after the previous post has ended, the minimum gap and any pause. */
  run<T>(post: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const wait = Math.max(this.lastEnd + this.minIntervalMs, this.pausedUntil) - this.now();
        if (wait <= 0) break;
        await this.sleep(wait);
      }
      try {
        return await post();
      } finally {
        this.lastEnd = this.now();
      }
    });
    // The next post waits for this one to finish, whatever its outcome.
    this.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /** Slack said 429: no post before `ms` from now (the longest pause asked for wins). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }
}

/** The pacer every SlackNotifier uses unless given another: one per process. */
export const processSlackPacer = new SlackPacer();
