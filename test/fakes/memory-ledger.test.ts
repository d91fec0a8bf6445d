import { describe, expect, it } from 'vitest';
import { MemoryOrderLedger } from './memory-ledger.js';

const T0 = new Date('2027-01-01T00:00:00Z');
const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

describe('MemoryOrderLedger: the rows of src/db/order-ledger.ts', () => {
  it('counts reservations per account after `since` (strictly), up to an id, leaving exempt ones out', async () => {
    const ledger = new MemoryOrderLedger();
    const a = await ledger.reserve('acct', 'a.test', null, at(0));
    const b = await ledger.reserve('acct', 'b.test', null, at(1));
    await ledger.reserve('other', 'c.test', null, at(1));
    const d = await ledger.reserve('acct', 'd.test', 'cert-id', at(2));
    expect([a, b, d]).toEqual([1, 2, 4]);
    expect(await ledger.count('acct', at(-1))).toBe(3);
    expect(await ledger.count('acct', at(0))).toBe(2);
    expect(await ledger.count('acct', at(-1), b)).toBe(2);
    await ledger.confirm(d, 'https://ca/order/4', true);
    expect(await ledger.count('acct', at(-1))).toBe(2);
    expect(await ledger.oldest('acct', at(0))).toEqual(at(1));
    expect(await ledger.oldest('acct', at(5))).toBeUndefined();
  });

  it('gives back only unconfirmed reservations and finds the latest order URL of a domain', async () => {
    const ledger = new MemoryOrderLedger();
    const first = await ledger.reserve('acct', 'a.test', null, at(0));
    await ledger.confirm(first, 'https://ca/order/1', false);
    const second = await ledger.reserve('acct', 'a.test', null, at(1));
    await ledger.removeUnconfirmed(first);
    await ledger.removeUnconfirmed(second);
    expect(ledger.rows.map((r) => r.id)).toEqual([first]);
    expect(await ledger.latestOrderUrl('acct', 'a.test')).toBe('https://ca/order/1');
    expect(await ledger.latestOrderUrl('acct', 'b.test')).toBeUndefined();
    await expect(ledger.remove(99)).rejects.toThrow(/no reservation/);
  });

  it('keeps one pause per account', async () => {
    const ledger = new MemoryOrderLedger();
    expect(await ledger.pause('acct')).toBeUndefined();
    await ledger.setPause('acct', at(10), 'rateLimited');
    await ledger.setPause('acct', at(20), 'again');
    expect(await ledger.pause('acct')).toEqual({ until: at(20), reason: 'again' });
    expect(await ledger.pause('other')).toBeUndefined();
  });
});
