// The order budget (certificates/budget.ts) on its database ledger
// (db/order-ledger.ts), shared by instances, on both databases.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database, DbProvider } from '../../../src/db/client.js';
import { FakeClock } from '../../../src/clock.js';
import { OrderBudget } from '../../../src/certificates/budget.js';
import { PrismaOrderLedger } from '../../../src/db/order-ledger.js';
import { freshDatabases } from './fresh-database.js';

const databases = freshDatabases('ledger');
afterAll(() => databases.cleanup());

const NOW = new Date('2026-11-28T00:00:00Z');

describe.each<DbProvider>(['sqlite', 'postgresql'])('order budget on %s', (provider) => {
  let db: Database;
  let clock: FakeClock;

  beforeEach(async () => {
    db = await databases.fresh(provider);
    clock = new FakeClock(NOW);
  });

  it('keeps the order budget across instances and honours a pause', async () => {
    const budgetA = new OrderBudget(new PrismaOrderLedger(db.client), clock, 'acct', 3);
    const budgetB = new OrderBudget(new PrismaOrderLedger(db.client), clock, 'acct', 3);
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => (i % 2 ? budgetA : budgetB).reserve(`d${i}.test`, undefined)));
    const granted = results.filter((r) => r.ok);
    expect(granted.length).toBeLessThanOrEqual(3);
    expect(granted.length).toBeGreaterThan(0);
    // Accepted ARI replacements stop counting.
    for (const r of granted) if (r.ok) await budgetA.confirm(r.reservationId, `https://ca/order/${r.reservationId}`, true);
    expect(await budgetA.used()).toBe(0);
    expect((await budgetA.reserve('x.test', undefined)).ok).toBe(true);
    // The window slides: three hours later the budget is back.
    for (let i = 0; i < 3; i++) await budgetB.reserve(`y${i}.test`, undefined);
    const exhausted = await budgetA.reserve('z.test', undefined);
    expect(exhausted.ok).toBe(false);
    if (!exhausted.ok) expect(exhausted.reason).toMatch(/budget/);
    clock.advance(3 * 3600_000 + 1000);
    expect((await budgetA.reserve('z.test', undefined)).ok).toBe(true);
    // A 429 pauses every instance until Retry-After.
    await budgetA.pause(new Date(clock.now().getTime() + 600_000), 'rateLimited');
    const paused = await budgetB.reserve('p.test', undefined);
    expect(paused.ok).toBe(false);
    if (!paused.ok) expect(paused.retryAt.getTime()).toBe(clock.now().getTime() + 600_000);
  });
  
  it('gives a cancelled reservation back, keeps a confirmed one, and finds the order to resume', async () => {
    const budget = new OrderBudget(new PrismaOrderLedger(db.client), clock, 'acct', 1);
    const first = await budget.reserve('a.test', undefined);
    if (!first.ok) throw new Error('expected a slot');
    await budget.cancel(first.reservationId);
    expect(await budget.used()).toBe(0);
    const second = await budget.reserve('a.test', undefined);
    if (!second.ok) throw new Error('expected a slot');
    await budget.confirm(second.reservationId, 'https://ca/order/2', false);
    await budget.cancel(second.reservationId); // an order the CA created is never given back
    expect(await budget.used()).toBe(1);
    expect(await budget.latestOrderUrl('a.test')).toBe('https://ca/order/2');
    expect(await budget.latestOrderUrl('b.test')).toBeUndefined();
  });
});
