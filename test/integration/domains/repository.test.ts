// Eligibility and urgency order (contract section 4) on both databases.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database, DbProvider } from '../../../src/db/client.js';
import { FakeClock } from '../../../src/clock.js';
import { DomainRepository } from '../../../src/domains/repository.js';
import { DomainStateStore } from '../../../src/domains/state.js';
import { freshDatabases } from '../db/fresh-database.js';

const databases = freshDatabases('elig');
afterAll(() => databases.cleanup());

const NOW = new Date('2026-11-28T00:00:00Z');
const days = (n: number): Date => new Date(NOW.getTime() + n * 86_400_000);

describe.each<DbProvider>(['sqlite', 'postgresql'])('eligibility on %s', (provider) => {
  let db: Database;
  let clock: FakeClock;
  let repo: DomainRepository;
  let state: DomainStateStore;

  const add = async (name: string, data: Record<string, unknown> = {}): Promise<number> =>
    (await db.client.domain.create({ data: { name, tld: 'test', zoneId: 'zone', owned: true, ...data } })).id;

  /** Writes a date column as text, the way SQLAlchemy's DateTime stores it on SQLite. */
  const setLegacyDate = async (table: 'domains', column: 'tls_exp_date', id: number, text: string): Promise<void> => {
    const value = provider === 'sqlite' ? '?' : 'CAST($1 AS timestamp)';
    await db.client.$executeRawUnsafe(`UPDATE ${table} SET ${column} = ${value} WHERE id = ${provider === 'sqlite' ? '?' : '$2'}`, text, id);
  };

  beforeEach(async () => {
    db = await databases.fresh(provider);
    clock = new FakeClock(NOW);
    repo = new DomainRepository(db.client, provider, clock);
    state = new DomainStateStore(db.client, clock);
  });

  it('orders by urgency: no certificate first, then by deadline (renewal time, else tls_exp_date)', async () => {
    await add('never-had-one.test', { tlsIssuer: null });
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
    // Contract section 4 (issue 13) replaced the seed's "every other issuer first".
    expect(names).toEqual(['never-had-one.test', 'le-due.test', 'legacy-in-window.test', 'no-cert.test', 'other-ca.test', 'active.test']);
  });

  it('honours the per-run cap, filling it with the most urgent domains', async () => {
    for (let i = 0; i < 5; i++) await add(`n${i}.test`, { tlsExpDate: days(i) });
    const le = await add('le.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(1) });
    await state.patch(le, { nextRenewalAt: days(-1), certNotAfter: days(1) });
    expect((await repo.selectDue({ limit: 3, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['le.test', 'n0.test', 'n1.test']);
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

  it('compares dates as instants, in the Python AutoTLS\'s form and in ours', async () => {
    // Cutoff of a 15-day window: 2026-12-13T00:00:00Z. This one expires an hour
    // later on the same calendar day, stored as the Python AutoTLS stores it.
    const late = await add('le-after-cutoff.test', { tlsIssuer: 'Lets Encrypt' });
    await setLegacyDate('domains', 'tls_exp_date', late, '2026-12-13 01:00:00.000000');
    const early = await add('le-before-cutoff.test', { tlsIssuer: 'Lets Encrypt' });
    await setLegacyDate('domains', 'tls_exp_date', early, '2026-12-12 23:00:00.000000');
    // AutoTLS's renewal time (in 20 days) holds: tls_exp_date is the expiry it recorded, only in the other text form.
    const recorded = await add('le-recorded.test', { tlsIssuer: 'Lets Encrypt' });
    await setLegacyDate('domains', 'tls_exp_date', recorded, '2026-12-12 12:00:00.000000');
    await state.patch(recorded, { nextRenewalAt: days(20), certNotAfter: new Date('2026-12-12T12:00:00Z') });
    // Other issuers, ordered by instant whatever the text: 22:00 in our form before 23:00 in theirs.
    const theirs = await add('other-theirs.test', { tlsIssuer: 'DigiCert' });
    await setLegacyDate('domains', 'tls_exp_date', theirs, '2027-03-01 23:00:00.000000');
    await add('other-ours.test', { tlsIssuer: 'DigiCert', tlsExpDate: new Date('2027-03-01T22:00:00Z') });

    const due = await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 });
    expect(due.map((d) => d.name)).toEqual(['le-before-cutoff.test', 'other-ours.test', 'other-theirs.test']);
    // Read back as the instant stored, in UTC.
    expect(due[0]?.tlsExpDate?.toISOString()).toBe('2026-12-12T23:00:00.000Z');
    expect(due[2]?.tlsExpDate?.toISOString()).toBe('2027-03-01T23:00:00.000Z');
    expect(await repo.isStillDue(late, { excluded: [], windowDays: 15 })).toBe(false);
  });

  it('puts a Let\'s Encrypt renewal due now ahead of another CA\'s certificate that runs for months', async () => {
    await add('digicert-months.test', { tlsIssuer: 'DigiCert', tlsExpDate: days(120) });
    const due = await add('le-now.test', { tlsIssuer: 'Lets Encrypt', tlsExpDate: days(25) });
    await state.patch(due, { nextRenewalAt: days(-0.5), certNotAfter: days(25) });
    await add('never-had.test', { tlsIssuer: null });
    expect((await repo.selectDue({ limit: 1, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['never-had.test']);
    expect((await repo.selectDue({ limit: 2, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['never-had.test', 'le-now.test']);
    expect((await repo.selectDue({ limit: 10, excluded: [], windowDays: 15 })).map((d) => d.name)).toEqual(['never-had.test', 'le-now.test', 'digicert-months.test']);
  });
});
