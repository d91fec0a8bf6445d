// The order budget's rules (src/certificates/budget.ts) on the in-memory ledger;
// the same rules on both databases, shared by instances: test/integration/db/order-ledger.test.ts.
import { describe, expect, it } from 'vitest';
import { BUDGET_WINDOW_MS, OrderBudget } from '../../../src/certificates/budget.js';
import { FakeClock } from '../../../src/clock.js';
import { MemoryOrderLedger } from '../../fakes/memory-ledger.js';

const START = '2027-01-01T00:00:00Z';

function setup(limit: number): { budget: OrderBudget; ledger: MemoryOrderLedger; clock: FakeClock } {
  const ledger = new MemoryOrderLedger();
  const clock = new FakeClock(START);
  return { budget: new OrderBudget(ledger, clock, 'acct', limit), ledger, clock };
}

describe('OrderBudget', () => {
  it('grants `limit` reservations in 3 hours, then refuses until the oldest leaves the window', async () => {
    const { budget, ledger, clock } = setup(2);
    expect((await budget.reserve('a.test', undefined)).ok).toBe(true);
    clock.advance(60_000);
    expect((await budget.reserve('b.test', undefined)).ok).toBe(true);
    const refused = await budget.reserve('c.test', undefined);
    expect(refused).toEqual({ ok: false, reason: 'order budget of 2 new orders per 3 hours is used up', retryAt: new Date(new Date(START).getTime() + BUDGET_WINDOW_MS) });
    // The refused reservation leaves no row behind.
    expect(ledger.rows.map((r) => r.domain)).toEqual(['a.test', 'b.test']);
    clock.set(new Date(new Date(START).getTime() + BUDGET_WINDOW_MS));
    expect((await budget.reserve('c.test', undefined)).ok).toBe(true);
    expect(await budget.used()).toBe(2);
  });

  it('serves concurrent reservers in the order of their reservations', async () => {
    const { budget } = setup(3);
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((d) => budget.reserve(`${d}.test`, undefined)));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false, false]);
  });

  it('stops counting an order the CA accepted as an ARI replacement', async () => {
    const { budget } = setup(1);
    const first = await budget.reserve('a.test', 'cert-1');
    if (!first.ok) throw new Error('expected a slot');
    await budget.confirm(first.reservationId, 'https://ca/order/1', true);
    expect(await budget.used()).toBe(0);
    expect((await budget.reserve('b.test', undefined)).ok).toBe(true);
  });

  it('gives a cancelled reservation back, but never an order the CA created', async () => {
    const { budget } = setup(1);
    const first = await budget.reserve('a.test', undefined);
    if (!first.ok) throw new Error('expected a slot');
    await budget.cancel(first.reservationId);
    expect(await budget.used()).toBe(0);
    const second = await budget.reserve('a.test', undefined);
    if (!second.ok) throw new Error('expected a slot');
    await budget.confirm(second.reservationId, 'https://ca/order/2', false);
    await budget.cancel(second.reservationId);
    expect(await budget.used()).toBe(1);
    expect(await budget.latestOrderUrl('a.test')).toBe('https://ca/order/2');
  });

  it('refuses every reservation while the account is paused, and resumes after the pause', async () => {
    const { budget, clock } = setup(300);
    const until = new Date(new Date(START).getTime() + 600_000);
    await budget.pause(until, 'rateLimited: too many new orders');
    expect(await budget.pausedUntil()).toEqual({ until, reason: 'rateLimited: too many new orders' });
    const refused = await budget.reserve('a.test', undefined);
    expect(refused).toEqual({ ok: false, reason: `ACME account paused until ${until.toISOString()}: rateLimited: too many new orders`, retryAt: until });
    clock.set(until);
    expect(await budget.pausedUntil()).toBeUndefined();
    expect((await budget.reserve('a.test', undefined)).ok).toBe(true);
  });
});
