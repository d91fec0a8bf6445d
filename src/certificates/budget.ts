import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';

export const BUDGET_WINDOW_MS = 3 * 60 * 60 * 1000;

export type BudgetDecision =
  | { ok: true; reservationId: number }
  | { ok: false; reason: string; retryAt: Date };

/**
 * The order-rate budget of one ACME account, shared through the database by
 * every instance: at most `limit` new orders in any 3 hours, and none while the
 * CA has told us to wait (a 429's Retry-After).
 *
 * A slot is reserved by inserting the order row first and then counting the
 * rows before it, so concurrent instances are served in the order of their
 * reservations and never exceed the budget together.
 * Renewals the CA accepted as ARI replacements are marked exempt and stop
 * counting.
 */
export class OrderBudget {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly account: string,
    private readonly limit: number,
  ) {}

  async pausedUntil(): Promise<{ until: Date; reason: string } | undefined> {
    const row = await this.db.acmeAccountState.findUnique({ where: { account: this.account } });
    if (row?.pausedUntil && row.pausedUntil > this.clock.now()) {
      return { until: row.pausedUntil, reason: row.pauseReason ?? 'rate limited by the CA' };
    }
    return undefined;
  }

  async pause(until: Date, reason: string): Promise<void> {
    await this.db.acmeAccountState.upsert({
      where: { account: this.account },
      create: { account: this.account, pausedUntil: until, pauseReason: reason },
      update: { pausedUntil: until, pauseReason: reason },
    });
  }

  async reserve(domain: string, replaces: string | undefined): Promise<BudgetDecision> {
    const paused = await this.pausedUntil();
    if (paused) return { ok: false, reason: `ACME account paused until ${paused.until.toISOString()}: ${paused.reason}`, retryAt: paused.until };
    const now = this.clock.now();
    const row = await this.db.acmeOrder.create({ data: { account: this.account, domain, replaces: replaces ?? null, createdAt: now } });
    const since = new Date(now.getTime() - BUDGET_WINDOW_MS);
    // Only reservations made before this one count, so concurrent reservers near
    // the limit are served in order instead of all backing off.
    const used = await this.db.acmeOrder.count({ where: { account: this.account, exempt: false, createdAt: { gt: since }, id: { lte: row.id } } });
    if (used <= this.limit) return { ok: true, reservationId: row.id };
    await this.db.acmeOrder.delete({ where: { id: row.id } });
    const oldest = await this.db.acmeOrder.findFirst({
      where: { account: this.account, exempt: false, createdAt: { gt: since } },
      orderBy: { createdAt: 'asc' },
    });
    const retryAt = new Date((oldest?.createdAt ?? now).getTime() + BUDGET_WINDOW_MS);
    return { ok: false, reason: `order budget of ${this.limit} new orders per 3 hours is used up`, retryAt };
  }

  async confirm(reservationId: number, orderUrl: string, acceptedAsReplacement: boolean): Promise<void> {
    await this.db.acmeOrder.update({ where: { id: reservationId }, data: { orderUrl, exempt: acceptedAsReplacement } });
  }

  /** The order was never created at the CA (e.g. the request failed): give the slot back. */
  async cancel(reservationId: number): Promise<void> {
    await this.db.acmeOrder.deleteMany({ where: { id: reservationId, orderUrl: null } });
  }

  /** The most recent order created at the CA for a domain (to resume it after a crash). */
  async latestOrderUrl(domain: string): Promise<string | undefined> {
    const row = await this.db.acmeOrder.findFirst({
      where: { account: this.account, domain, orderUrl: { not: null } },
      orderBy: { id: 'desc' },
    });
    return row?.orderUrl ?? undefined;
  }

  async used(): Promise<number> {
    const since = new Date(this.clock.now().getTime() - BUDGET_WINDOW_MS);
    return this.db.acmeOrder.count({ where: { account: this.account, exempt: false, createdAt: { gt: since } } });
  }
}
