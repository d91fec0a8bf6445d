import type { Clock } from '../clock.js';

export const BUDGET_WINDOW_MS = 3 * 60 * 60 * 1000;

export type BudgetDecision =
  | { ok: true; reservationId: number }
  | { ok: false; reason: string; retryAt: Date };

/**
 * Where the order budget keeps its rows, shared by every instance (the Prisma
 * implementation is src/db/order-ledger.ts). Reservation ids grow in the order
 * reservations are made.
 */
export interface OrderLedger {
  /** The account's pause (a 429's Retry-After), if any was recorded. */
  pause(account: string): Promise<{ until: Date; reason: string | null } | undefined>;
  setPause(account: string, until: Date, reason: string): Promise<void>;
  /** Inserts a reservation row (with the directory URL of the CA it is for, when known); returns its id. */
  reserve(account: string, domain: string, replaces: string | null, createdAt: Date, ca?: string | null): Promise<number>;
  /** Counting reservations (not exempt, created after `since`), optionally only those up to id `upTo`. */
  count(account: string, since: Date, upTo?: number): Promise<number>;
  /** When the oldest counting reservation after `since` was made. */
  oldest(account: string, since: Date): Promise<Date | undefined>;
  remove(reservationId: number): Promise<void>;
  confirm(reservationId: number, orderUrl: string, exempt: boolean): Promise<void>;
  /** Removes the reservation only if no order URL was recorded for it. */
  removeUnconfirmed(reservationId: number): Promise<void>;
  latestOrderUrl(account: string, domain: string): Promise<string | undefined>;
}

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
    private readonly ledger: OrderLedger,
    private readonly clock: Clock,
    private readonly account: string,
    private readonly limit: number,
    /** The ACME directory URL of the account's CA, written on each order row (audit). */
    private readonly ca?: string,
  ) {}

  async pausedUntil(): Promise<{ until: Date; reason: string } | undefined> {
    const pause = await this.ledger.pause(this.account);
    if (pause && pause.until > this.clock.now()) return { until: pause.until, reason: pause.reason ?? 'rate limited by the CA' };
    return undefined;
  }

  async pause(until: Date, reason: string): Promise<void> {
    await this.ledger.setPause(this.account, until, reason);
  }

  /**
   * Reserves a new order. A renewal that names the certificate it replaces
   * (ARI `replaces`) is never held back by the count: Let's Encrypt exempts
   * such renewals from its limits ("Renewals ... using ARI ... are exempt",
   * https://letsencrypt.org/docs/rate-limits/), so new domains can never starve
   * renewals of the budget. Its row still counts until the CA accepts it as a
   * replacement (confirm), in case the CA refuses `replaces`.
   */
  async reserve(domain: string, replaces: string | undefined): Promise<BudgetDecision> {
    const paused = await this.pausedUntil();
    if (paused) return { ok: false, reason: `ACME account paused until ${paused.until.toISOString()}: ${paused.reason}`, retryAt: paused.until };
    const now = this.clock.now();
    const id = await this.ledger.reserve(this.account, domain, replaces ?? null, now, this.ca ?? null);
    if (replaces) return { ok: true, reservationId: id };
    const since = new Date(now.getTime() - BUDGET_WINDOW_MS);
    // Only reservations made before this one count, so concurrent reservers near
    // the limit are served in order instead of all backing off.
    const used = await this.ledger.count(this.account, since, id);
    if (used <= this.limit) return { ok: true, reservationId: id };
    await this.ledger.remove(id);
    const oldest = await this.ledger.oldest(this.account, since);
    const retryAt = new Date((oldest ?? now).getTime() + BUDGET_WINDOW_MS);
    return { ok: false, reason: `order budget of ${this.limit} new orders per 3 hours is used up`, retryAt };
  }

  async confirm(reservationId: number, orderUrl: string, acceptedAsReplacement: boolean): Promise<void> {
    await this.ledger.confirm(reservationId, orderUrl, acceptedAsReplacement);
  }

  /** The order was never created at the CA (e.g. the request failed): give the slot back. */
  async cancel(reservationId: number): Promise<void> {
    await this.ledger.removeUnconfirmed(reservationId);
  }

  /** The most recent order created at the CA for a domain (to resume it after a crash). */
  async latestOrderUrl(domain: string): Promise<string | undefined> {
    return this.ledger.latestOrderUrl(this.account, domain);
  }

  async used(): Promise<number> {
    return this.ledger.count(this.account, new Date(this.clock.now().getTime() - BUDGET_WINDOW_MS));
  }

  /** New orders the budget allows now (0 while the CA has paused the account). */
  async headroom(): Promise<number> {
    if (await this.pausedUntil()) return 0;
    return Math.max(0, this.limit - (await this.used()));
  }

  /** When the next slot frees up, if the budget is used up now; undefined when it has room. */
  async refillAt(): Promise<Date | undefined> {
    const since = new Date(this.clock.now().getTime() - BUDGET_WINDOW_MS);
    if ((await this.ledger.count(this.account, since)) < this.limit) return undefined;
    const oldest = await this.ledger.oldest(this.account, since);
    return oldest ? new Date(oldest.getTime() + BUDGET_WINDOW_MS) : undefined;
  }
}
