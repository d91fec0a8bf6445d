import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';
import type { OrderBudget } from '../certificates/budget.js';
import type { DomainRepository } from './repository.js';

export interface PendingEventsOptions {
  excluded: readonly string[];
  windowDays: number;
}

/**
 * The earliest moment something needs AutoTLS (continuous schedule): work due
 * now, or the next renewal time, ARI check, end of a backoff, end of an
 * account pause. Each is one indexed query for the minimum; nothing reads the
 * fleet.
 */
export class PendingEvents {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly repository: DomainRepository,
    private readonly budget: () => Promise<OrderBudget>,
    private readonly options: PendingEventsOptions,
  ) {}

  async nextEventAt(): Promise<Date | undefined> {
    const now = this.clock.now();
    const times: Date[] = [];
    const due = await this.repository.selectDue({ limit: 1, excluded: this.options.excluded, windowDays: this.options.windowDays });
    if (due.length > 0) {
      const paused = await this.budget().then(
        (b) => b.pausedUntil(),
        () => undefined,
      );
      // While the CA has paused the account, due work waits for the pause to end.
      if (!paused) return now;
      times.push(paused.until);
    }
    const future = { gt: now };
    const [renewal, ari, backoff] = await Promise.all([
      this.db.domainState.findFirst({ where: { nextRenewalAt: future }, orderBy: { nextRenewalAt: 'asc' }, select: { nextRenewalAt: true } }),
      this.db.domainState.findFirst({ where: { ariCheckAfter: future, phase: 'recorded' }, orderBy: { ariCheckAfter: 'asc' }, select: { ariCheckAfter: true } }),
      this.db.domainState.findFirst({ where: { backoffUntil: future }, orderBy: { backoffUntil: 'asc' }, select: { backoffUntil: true } }),
    ]);
    for (const at of [renewal?.nextRenewalAt, ari?.ariCheckAfter, backoff?.backoffUntil]) if (at) times.push(at);
    if (times.length === 0) return undefined;
    return new Date(Math.min(...times.map((t) => t.getTime())));
  }
}
