import type { Clock } from '../clock.js';
import type { OrderBudget } from '../certificates/budget.js';
import type { DomainRepository } from './repository.js';
import type { DomainStateStore } from './state.js';

export interface PendingEventsOptions {
  excluded: readonly string[];
  windowDays: number;
}

/**
 * The earliest moment something needs AutoTLS (continuous schedule): work due
 * now, or the next renewal time, ARI check, end of a backoff, end of an
 * account pause. Each is one indexed query for the minimum; nothing reads the
 * fleet. Reads only, through the stores.
 */
export class PendingEvents {
  constructor(
    private readonly clock: Clock,
    private readonly repository: DomainRepository,
    private readonly state: DomainStateStore,
    private readonly budget: () => Promise<OrderBudget>,
    private readonly options: PendingEventsOptions,
  ) {}

  async nextEventAt(): Promise<Date | undefined> {
    const now = this.clock.now();
    const times: Date[] = [];
    const eligibility = { excluded: this.options.excluded, windowDays: this.options.windowDays };
    const budget = await this.budget().catch(() => undefined);
    // headroom() reads the pause first and is 0 while paused: the pause is read again only then.
    const headroom = budget ? await budget.headroom() : undefined;
    const paused = headroom === 0 ? await budget?.pausedUntil() : undefined;
    if (paused) {
      // While the CA has paused the account, due work waits for the pause to end.
      times.push(paused.until);
    } else {
      // Work due now that the budget lets through: renewals, and new orders up to its headroom.
      const due = await this.repository.selectDue({ limit: 1, ...eligibility, ...(headroom !== undefined ? { newOrdersLimit: headroom } : {}) });
      if (due.length > 0) return now;
      // New domains held back by a used-up budget: its next free slot.
      const refill = headroom === 0 ? await budget?.refillAt() : undefined;
      if (refill && (await this.repository.selectDue({ limit: 1, ...eligibility })).length > 0) times.push(refill);
    }
    const [{ renewalAt, backoffEndsAt }, ari] = await Promise.all([this.state.nextTimes(), this.state.nextAriCheckAt()]);
    for (const at of [renewalAt, ari, backoffEndsAt]) if (at) times.push(at);
    if (times.length === 0) return undefined;
    return new Date(Math.min(...times.map((t) => t.getTime())));
  }
}
