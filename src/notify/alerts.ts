import type { Logger } from '../logger.js';

export interface RateLimitedAlertsOptions {
  /** Length of the aggregation window; default one minute. */
  windowMs?: number;
  /** Distinct alerts sent per window before the rest are only counted; default 20. */
  maxDistinctPerWindow?: number;
  logger?: Logger;
}

interface Pending {
  suppressed: number;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Keeps a storm of identical alerts (say, a client retrying with a bad API key)
 * from flooding people: the first alert with a given text goes out at once;
 * repeats within the window are counted and reported in one follow-up at the end
 * of the window ("... repeated 41 more times in the last 60 s"). A sustained
 * storm therefore produces at most one message per window. Distinct texts are
 * capped per window as well, with the overflow reported as a count.
 */
export class RateLimitedAlerts {
  private readonly windowMs: number;
  private readonly maxDistinct: number;
  private readonly pending = new Map<string, Pending>();
  private distinctInWindow = 0;
  private overflow = 0;
  private windowTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly send: (message: string) => Promise<void>,
    options: RateLimitedAlertsOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxDistinct = options.maxDistinctPerWindow ?? 20;
    this.logger = options.logger;
  }

  async alert(message: string): Promise<void> {
    if (this.closed) return;
    const entry = this.pending.get(message);
    if (entry) {
      entry.suppressed += 1;
      return;
    }
    this.startGlobalWindow();
    if (this.distinctInWindow >= this.maxDistinct) {
      this.overflow += 1;
      return;
    }
    this.distinctInWindow += 1;
    this.open(message);
    await this.deliver(message);
  }

  /** Sends every pending count now (e.g. at shutdown) and forgets the windows. */
  async flush(): Promise<void> {
    const summaries: string[] = [];
    for (const [message, entry] of this.pending) {
      clearTimeout(entry.timer);
      if (entry.suppressed > 0) summaries.push(this.repeatText(message, entry.suppressed));
    }
    this.pending.clear();
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    if (this.overflow > 0) summaries.push(this.overflowText(this.overflow));
    this.overflow = 0;
    this.distinctInWindow = 0;
    for (const s of summaries) await this.deliver(s);
  }

  /** Flushes, then refuses further alerts. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private open(message: string): void {
    const timer = setTimeout(() => void this.windowEnded(message), this.windowMs);
    timer.unref?.();
    this.pending.set(message, { suppressed: 0, timer });
  }

  private async windowEnded(message: string): Promise<void> {
    const entry = this.pending.get(message);
    if (!entry) return;
    this.pending.delete(message);
    if (entry.suppressed > 0 && !this.closed) {
      // Keep the storm in check: the summary opens a new window for the same text.
      this.open(message);
      await this.deliver(this.repeatText(message, entry.suppressed));
    }
  }

  private startGlobalWindow(): void {
    if (this.windowTimer) return;
    this.windowTimer = setTimeout(() => {
      this.windowTimer = undefined;
      this.distinctInWindow = 0;
      const overflow = this.overflow;
      this.overflow = 0;
      if (overflow > 0 && !this.closed) void this.deliver(this.overflowText(overflow));
    }, this.windowMs);
    this.windowTimer.unref?.();
  }

  private repeatText(message: string, count: number): string {
    return `${message} (repeated ${count} more time${count === 1 ? '' : 's'} in the last ${Math.round(this.windowMs / 1000)} s)`;
  }

  private overflowText(count: number): string {
    return `${count} further alert${count === 1 ? '' : 's'} suppressed in the last ${Math.round(this.windowMs / 1000)} s`;
  }

  private async deliver(message: string): Promise<void> {
    try {
      await this.send(message);
    } catch (err) {
      this.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'alert delivery failed');
    }
  }
}
