// Eligibility (contract section 4) and leases on both databases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { applyMigrations } from '../../../src/db/migrate.js';
import { openDatabase, type Database, type DbProvider } from '../../../src/db/client.js';
import { createLogger } from '../../../src/logger.js';
import { FakeClock } from '../../../src/clock.js';
import { DomainRepository } from '../../../src/domains/repository.js';
import { DomainStateStore } from '../../../src/domains/state.js';
import { OrderBudget } from '../../../src/certificates/budget.js';
import { createDatabase } from '../../testbed/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'autotls-eligibility-'));
const logger = createLogger({ level: 'silent' });
const opened: Database[] = [];
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  rmSync(dir, { recursive: true, force: true });
});

const NOW = new Date('2026-11-28T00:00:00Z');
const days = (n: number): Date => new Date(NOW.getTime() + n * 86_400_000);

async function freshDatabase(provider: DbProvider): Promise<Database> {
  const name = `elig_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const url = provider === 'sqlite' ? `file:${join(dir, `${name}.db`)}` : await createDatabase(inject('testbed').postgres.adminUrl, name);
  await applyMigrations(url, provider, logger);
  const db = await openDatabase(url, provider);
  opened.push(db);
  return db;
}

describe.each<DbProvider>(['sqlite', 'postgresql'])('eligibility on %s', (provider) => {
  let db: Database;
  let clock: FakeClock;
  let repo: DomainRepository;
  let state: DomainStateStore;

  const add = async (name: string, data: Record<string, unknown> = {}): Promise<number> =>
    (await db.client.domain.create({ data: { name, tld: 'test', zoneId: 'zone', owned: true, ...data } })).id;

  beforeEach(async () => {
    db = await freshDatabase(provider);
    clock = new FakeClock(NOW);
    repo = new DomainRepository(db.client, provider, clock);
    state = new DomainStateStore(db.client, clock);
  });

  it('follows the seed: non-Let\'s Encrypt first, then due Let\'s Encrypt domains, by expiry', async () => {
    await add('other-ca.test', { tlsIssuer: 'DigiCert', tlsExpDate: days(200) });
    await add('no-cert.test', { tlsIssuer: null, tlsExpDate: days(100) });
    const due = await add('le-due.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(20) });
    await state.patch(due, { nextRenewalAt: days(-1), certNotAfter: days(20) });
    const notDue = await add('le-later.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(60) });
    await state.patch(notDue, { nextRenewalAt: days(30), certNotAfter: days(60) });
    await add('legacy-in-window.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(10) }); // no AutoTLS state: the seed's window
    await add('legacy-outside.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(40) });
    await add('parked.test', { status: 'Parked' });
    await add('expired.test', { status: 'Expired' });
    await add('active.test', { status: 'Active', tlsExpDate: days(300) });
    await add('not-owned.test', { owned: false });
    await add('no-zone.test', { zoneId: '' });
    await add('null-zone.test', { zoneId: null });
    await add('excluded.test');

    const names = (await repo.selectDue({ limit: 10, excluded: ['excluded.test'], windowDays: 15 })).map((d) => d.name);
    expect(names).toEqual(['no-cert.test', 'other-ca.test', 'active.test', 'legacy-in-window.test', 'le-due.test']);
  });

  it('honours the per-run cap, filling it with non-Let\'s Encrypt domains first', async () => {
    for (let i = 0; i < 5; i++) await add(`n${i}.test`, { tlsExpDate: days(i) });
    const le = await add('le.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(1) });
    await state.patch(le, { nextRenewalAt: days(-1), certNotAfter: days(1) });
    expect((await repo.selectDue({ limit: 3, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['n0.test', 'n1.test', 'n2.test']);
    expect(await repo.selectDue({ limit: 6, excluded: [], windowDays: 15 })).toHaveLength(6);
  });

  it('treats a tls_exp_date moved before the recorded expiry with the seed window', async () => {
    const id = await add('moved.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(80) });
    await state.patch(id, { nextRenewalAt: days(50), certNotAfter: days(80) });
    expect(await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 })).toEqual([]);
    await db.client.domain.update({ where: { id }, data: { tlsExpDate: days(5) } });
    expect((await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['moved.test']);
  });

  it('leaves out domains in backoff unless a stored certificate waits to be finished', async () => {
    const backedOff = await add('backoff.test');
    await state.patch(backedOff, { failureCount: 2, backoffUntil: days(1) });
    const stored = await add('stored.test');
    await state.patch(stored, { phase: 'stored', failureCount: 1, backoffUntil: days(1) });
    expect((await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['stored.test']);
    expect((await repo.selectBackedOff(10, [])).map((d) => d.name)).toEqual(['backoff.test']);
    // Ineligible domains in backoff are filtered in the query, so they never crowd out the limit.
    const parked = await add('parked-backoff.test', { status: 'Parked' });
    await state.patch(parked, { failureCount: 1, backoffUntil: new Date(NOW.getTime() + 1000) });
    expect((await repo.selectBackedOff(1, [])).map((d) => d.name)).toEqual(['backoff.test']);
    clock.set(days(2));
    expect((await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 })).map((d) => d.name).sort()).toEqual(['backoff.test', 'stored.test']);
  });

  it('gives a lease to one holder at a time, and lets an expired one be taken over', async () => {
    const id = await add('lease.test');
    const claims = await Promise.all(['a', 'b', 'c', 'd'].map((owner) => state.claimLease(id, owner, 60_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    const holder = ['a', 'b', 'c', 'd'][claims.indexOf(true)] as string;
    const other = holder === 'a' ? 'b' : 'a';
    expect(await state.claimLease(id, other, 60_000)).toBe(false);
    expect(await state.extendLease(id, holder, 60_000)).toBe(true);
    clock.advance(61_000);
    expect(await state.claimLease(id, other, 60_000)).toBe(true);
    expect(await state.extendLease(id, holder, 60_000)).toBe(false);
    await expect(state.update(id, holder, { phase: 'ordered' })).rejects.toThrow(/lost/);
    await state.releaseLease(id, other);
    expect(await state.claimLease(id, holder, 60_000)).toBe(true);
  });

  it('keeps the order budget across instances and honours a pause', async () => {
    const budgetA = new OrderBudget(db.client, clock, 'acct', 3);
    const budgetB = new OrderBudget(db.client, clock, 'acct', 3);
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
});
