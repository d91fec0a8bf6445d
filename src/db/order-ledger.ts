import type { OrderLedger } from '../certificates/budget.js';
import type { Db } from './client.js';

/**
 * The order budget's rows in the database: `autotls_acme_orders` (one row per
 * reservation, then per order) and `autotls_acme_account_state` (the account's
 * pause). The budget's rules live in certificates/budget.ts; this is storage only.
 */
export class PrismaOrderLedger implements OrderLedger {
  constructor(private readonly db: Db) {}

  async pause(account: string): Promise<{ until: Date; reason: string | null } | undefined> {
    const row = await this.db.acmeAccountState.findUnique({ where: { account } });
    return row?.pausedUntil ? { until: row.pausedUntil, reason: row.pauseReason } : undefined;
  }

  async setPause(account: string, until: Date, reason: string): Promise<void> {
    await this.db.acmeAccountState.upsert({
      where: { account },
      create: { account, pausedUntil: until, pauseReason: reason },
      update: { pausedUntil: until, pauseReason: reason },
    });
  }

  async reserve(account: string, domain: string, replaces: string | null, createdAt: Date, ca?: string | null): Promise<number> {
    const row = await this.db.acmeOrder.create({ data: { account, domain, replaces, createdAt, ca: ca ?? null } });
    return row.id;
  }

  async count(account: string, since: Date, upTo?: number): Promise<number> {
    return this.db.acmeOrder.count({
      where: { account, exempt: false, createdAt: { gt: since }, ...(upTo === undefined ? {} : { id: { lte: upTo } }) },
    });
  }

  async oldest(account: string, since: Date): Promise<Date | undefined> {
    const row = await this.db.acmeOrder.findFirst({ where: { account, exempt: false, createdAt: { gt: since } }, orderBy: { createdAt: 'asc' } });
    return row?.createdAt;
  }

  async remove(reservationId: number): Promise<void> {
    await this.db.acmeOrder.delete({ where: { id: reservationId } });
  }

  async confirm(reservationId: number, orderUrl: string, exempt: boolean): Promise<void> {
    await this.db.acmeOrder.update({ where: { id: reservationId }, data: { orderUrl, exempt } });
  }

  async removeUnconfirmed(reservationId: number): Promise<void> {
    await this.db.acmeOrder.deleteMany({ where: { id: reservationId, orderUrl: null } });
  }

  async latestOrderUrl(account: string, domain: string): Promise<string | undefined> {
    const row = await this.db.acmeOrder.findFirst({ where: { account, domain, orderUrl: { not: null } }, orderBy: { id: 'desc' } });
    return row?.orderUrl ?? undefined;
  }
}
