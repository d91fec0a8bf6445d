// DomainStateStore, the only writer of autotls_domain_state: leases, writes
// under the lease, and the lease-free ARI write, on both databases.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database, DbProvider } from '../../../src/db/client.js';
import { FakeClock } from '../../../src/clock.js';
import { DomainRepository } from '../../../src/domains/repository.js';
import { DomainStateStore, LeaseLostError } from '../../../src/domains/state.js';
import { freshDatabases } from '../db/fresh-database.js';

const databases = freshDatabases('state');
afterAll(() => databases.cleanup());

const NOW = new Date('2026-11-28T00:00:00Z');
const days = (n: number): Date => new Date(NOW.getTime() + n * 86_400_000);

describe.each<DbProvider>(['sqlite', 'postgresql'])('domain state on %s', (provider) => {
  let db: Database;
  let clock: FakeClock;
  let state: DomainStateStore;
  let repo: DomainRepository;

  const add = async (name: string): Promise<number> =>
    (await db.client.domain.create({ data: { name, tld: 'test', zoneId: 'zone', owned: true, tlsIssuer: 'Lets Encrypt', tlsExpDate: days(30) } })).id;

  beforeEach(async () => {
    db = await databases.fresh(provider);
    clock = new FakeClock(NOW);
    state = new DomainStateStore(db.client, clock);
    repo = new DomainRepository(db.client, provider, clock, state);
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

  it('writes an ARI check only while no other run holds a live lease', async () => {
    const id = await add('ari.test');
    await state.patch(id, { phase: 'recorded', nextRenewalAt: days(20), certNotAfter: days(30), certId: 'cert-1' });
    expect(await state.recordAriCheck(id, { certId: 'cert-1', nextRenewalAt: days(18), ariCheckAfter: days(0.25) })).toBe(true);
    expect(await state.get(id)).toMatchObject({ nextRenewalAt: days(18), ariCheckAfter: days(0.25) });

    // A renewal in flight holds the lease: the refresh leaves its state alone.
    expect(await state.claimLease(id, 'run-1', 60_000)).toBe(true);
    expect(await state.recordAriCheck(id, { certId: 'cert-1', nextRenewalAt: days(-1), ariCheckAfter: days(1) })).toBe(false);
    expect(await state.get(id)).toMatchObject({ nextRenewalAt: days(18), ariCheckAfter: days(0.25), leaseOwner: 'run-1' });
    expect(await state.patch(id, { lastOutcome: 'failed' })).toBe(false);

    // Without a new renewal time only the next check moves; an expired lease no longer blocks.
    clock.advance(61_000);
    expect(await state.recordAriCheck(id, { certId: 'cert-1', ariCheckAfter: days(2) })).toBe(true);
    expect(await state.get(id)).toMatchObject({ nextRenewalAt: days(18), ariCheckAfter: days(2), leaseOwner: 'run-1' });
    // A check of a certificate that is no longer the recorded one writes nothing.
    expect(await state.recordAriCheck(id, { certId: 'cert-0', ariCheckAfter: days(3) })).toBe(false);
  });

  it('writes a page of ARI checks at once, row by row under the same conditions as one check', async () => {
    const ids = await Promise.all(['p1.test', 'p2.test', 'p3.test', 'p4.test'].map(add));
    for (const [i, id] of ids.entries()) await state.patch(id, { phase: 'recorded', nextRenewalAt: days(20), certNotAfter: days(30), certId: `cert-${i}` });
    const [a, b, c, d] = ids as [number, number, number, number];
    expect(await state.claimLease(b, 'run-1', 60_000)).toBe(true);
    const written = await state.recordAriChecks([
      { domainId: a, certId: 'cert-0', ariCheckAfter: days(0.25) },
      // A run holds it; and a certificate that is no longer the recorded one.
      { domainId: b, certId: 'cert-1', ariCheckAfter: days(0.25) },
      { domainId: c, certId: 'cert-old', ariCheckAfter: days(0.25) },
      { domainId: d, certId: 'cert-3', ariCheckAfter: days(0.25), nextRenewalAt: days(19) },
    ]);
    expect([...written].sort()).toEqual([a, d].sort());
    expect(await state.get(a)).toMatchObject({ ariCheckAfter: days(0.25), nextRenewalAt: days(20) });
    expect(await state.get(b)).toMatchObject({ ariCheckAfter: null, leaseOwner: 'run-1' });
    expect(await state.get(c)).toMatchObject({ ariCheckAfter: null });
    expect(await state.get(d)).toMatchObject({ ariCheckAfter: days(0.25), nextRenewalAt: days(19) });
    // All unchanged: one statement, every row written.
    expect([...(await state.recordAriChecks([a, d].map((domainId, i) => ({ domainId, certId: `cert-${i * 3}`, ariCheckAfter: days(0.5) }))))].sort()).toEqual([a, d].sort());
    expect(await state.get(d)).toMatchObject({ ariCheckAfter: days(0.5), nextRenewalAt: days(19) });
  });

  it('lists the certificates whose ARI check is due, leaving out those a run holds', async () => {
    const a = await add('a.test');
    const b = await add('b.test');
    const c = await add('c.test');
    const certNotAfter = days(30);
    await state.patch(a, { phase: 'recorded', certId: 'a', certNotAfter, nextRenewalAt: days(10), ariCheckAfter: days(-1) });
    await state.patch(b, { phase: 'recorded', certId: 'b', certNotAfter, nextRenewalAt: days(5), ariCheckAfter: null });
    await state.patch(c, { phase: 'recorded', certId: 'c', certNotAfter, nextRenewalAt: days(1), ariCheckAfter: days(1) });
    const due = async (): Promise<string[]> => (await state.ariCandidates({ which: 'due', take: 10 })).map((r) => r.domain);
    // Never checked first, then by next check.
    expect(await due()).toEqual(['b.test', 'a.test']);
    await state.claimLease(b, 'run-1', 60_000);
    expect(await due()).toEqual(['a.test']);
  });

  it('records a certificate under the lease, and rolls the whole record back when the lease is lost', async () => {
    const id = await add('record.test');
    expect(await state.claimLease(id, 'run-1', 60_000)).toBe(true);
    clock.advance(61_000);
    expect(await state.claimLease(id, 'run-2', 60_000)).toBe(true);
    const record = { domainId: id, fastlyId: 'F1', notBefore: days(0), notAfter: days(90), nextRenewalAt: days(60), ariCheckAfter: null };
    await expect(repo.recordCertificate({ ...record, leaseOwner: 'run-1' })).rejects.toBeInstanceOf(LeaseLostError);
    expect(await db.client.tls.count()).toBe(0);
    expect((await db.client.domain.findUniqueOrThrow({ where: { id } })).tlsId).toBeNull();

    const tlsId = await repo.recordCertificate({ ...record, leaseOwner: 'run-2' });
    expect((await db.client.domain.findUniqueOrThrow({ where: { id } })).tlsId).toBe(tlsId);
    expect(await state.get(id)).toMatchObject({ phase: 'recorded', nextRenewalAt: days(60), failureCount: 0, leaseOwner: 'run-2' });
  });
});
