/**
 * The order budget's ledger in memory: the same rows and rules as
 * src/db/order-ledger.ts (autotls_acme_orders, autotls_acme_accounts), without
 * a database. Ids grow in the order reservations are made, as the database's
 * autoincrement does; an order whose URL is recorded is never given back.
 */
import type { OrderLedger } from '../../src/certificates/budget.js';

interface Row {
  id: number;
  account: string;
  domain: string;
  replaces: string | null;
  createdAt: Date;
  orderUrl: string | null;
  /** The CA's directory URL (autotls_acme_orders.ca). */
  ca: string | null;
  exempt: boolean;
}

export class MemoryOrderLedger implements OrderLedger {
  readonly rows: Row[] = [];
  private readonly pauses = new Map<string, { until: Date; reason: string | null }>();
  private nextId = 1;

  async pause(account: string): Promise<{ until: Date; reason: string | null } | undefined> {
    return this.pauses.get(account);
  }

  async setPause(account: string, until: Date, reason: string): Promise<void> {
    this.pauses.set(account, { until, reason });
  }

  async reserve(account: string, domain: string, replaces: string | null, createdAt: Date, ca?: string | null): Promise<number> {
    const id = this.nextId++;
    this.rows.push({ id, account, domain, replaces, createdAt, orderUrl: null, exempt: false, ca: ca ?? null });
    return id;
  }

  async count(account: string, since: Date, upTo?: number): Promise<number> {
    return this.counting(account, since).filter((r) => upTo === undefined || r.id <= upTo).length;
  }

  async oldest(account: string, since: Date): Promise<Date | undefined> {
    const times = this.counting(account, since).map((r) => r.createdAt.getTime());
    return times.length === 0 ? undefined : new Date(Math.min(...times));
  }

  async remove(reservationId: number): Promise<void> {
    const at = this.rows.findIndex((r) => r.id === reservationId);
    if (at === -1) throw new Error(`no reservation ${reservationId}`); // Prisma's delete fails on a missing row too
    this.rows.splice(at, 1);
  }

  async confirm(reservationId: number, orderUrl: string, exempt: boolean): Promise<void> {
    const row = this.rows.find((r) => r.id === reservationId);
    if (!row) throw new Error(`no reservation ${reservationId}`); // as Prisma's update
    row.orderUrl = orderUrl;
    row.exempt = exempt;
  }

  async removeUnconfirmed(reservationId: number): Promise<void> {
    const at = this.rows.findIndex((r) => r.id === reservationId && r.orderUrl === null);
    if (at !== -1) this.rows.splice(at, 1);
  }

  async latestOrderUrl(account: string, domain: string): Promise<string | undefined> {
    const rows = this.rows.filter((r) => r.account === account && r.domain === domain && r.orderUrl !== null);
    return rows.sort((a, b) => b.id - a.id)[0]?.orderUrl ?? undefined;
  }

  /** Not exempt, created after `since` (strictly, as the database query). */
  private counting(account: string, since: Date): Row[] {
    return this.rows.filter((r) => r.account === account && !r.exempt && r.createdAt.getTime() > since.getTime());
  }
}
