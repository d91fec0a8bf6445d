// Orchestrator runs, real, over SQLite and the in-memory counterparts: the user's
// path from a run to the rows, the secrets, the Fastly record and the notifier.
import { describe, expect, it } from 'vitest';
import { LETS_ENCRYPT_ISSUER } from '../../../src/domains/repository.js';
import { DomainBusyError, DomainNotFoundError } from '../../../src/orchestrator/orchestrator.js';
import type { DomainResult, RunDocument } from '../../../src/orchestrator/runs.js';
import { harnessPerTest, type Harness } from './harness.js';

const harness = harnessPerTest();

async function processRun(t: Harness, testmode = false): Promise<RunDocument> {
  const started = await t.orchestrator.startProcess(testmode);
  return started.done;
}

const byDomain = (run: RunDocument): Record<string, DomainResult> => Object.fromEntries(run.results.map((r) => [r.domain, r]));

describe('Orchestrator', () => {
  it('/process: issues every due domain, persists the run, notifies, and releases the leases', async () => {
    const t = await harness();
    for (const d of ['a.test', 'b.test']) await t.addDomain(d);
    const run = await processRun(t);
    expect(run.status).toBe('succeeded');
    expect(run.results.map((r) => r.outcome)).toEqual(['issued', 'issued']);

    const stored = await t.runs.get(run.runId);
    expect(stored).toMatchObject({ status: 'succeeded', testmode: false });
    expect(stored?.results.map((r) => [r.domain, r.outcome]).sort()).toEqual([
      ['a.test', 'issued'],
      ['b.test', 'issued'],
    ]);
    for (const d of ['a.test', 'b.test']) {
      expect(await t.stateOf(d)).toMatchObject({ phase: 'recorded', leaseOwner: null, lastOutcome: 'issued' });
      expect(t.world.fastly.servedCertificate(d)).toBeDefined();
    }
    expect(t.world.notifier.domains.map((r) => r.domain).sort()).toEqual(['a.test', 'b.test']);
    expect(t.world.notifier.runs.map((r) => r.runId)).toEqual([run.runId]);

    // Nothing is due the next time: the run has nothing to do and orders nothing.
    const again = await processRun(t);
    expect(again.status).toBe('nothing-to-do');
    expect(t.world.ca.stats.newOrders).toBe(2);
  });

  it('renews only the domains whose renewal time has come, as ARI replacements', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    await processRun(t);
    t.world.clock.advanceDays(10);
    await t.addDomain('b.test');
    await processRun(t);
    // a.test's renewal time (inside its ARI window, ~60 days after issuance) comes first.
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    const run = await processRun(t);
    expect(run.results.map((r) => [r.domain, r.outcome])).toEqual([['a.test', 'renewed']]);
    expect(t.world.ca.certificatesFor('a.test')[1]?.replaces).toBe(t.world.ca.certificatesFor('a.test')[0]?.certId);
    expect(t.world.ca.certificatesFor('b.test')).toHaveLength(1);
  });

  it('resumes each phase a failed run left: stored is picked up at once, ordered after its backoff', async () => {
    const t = await harness();
    await t.addDomain('stored.test');
    await t.addDomain('ordered.test');
    // stored.test's upload fails; ordered.test's order is left at the CA (its run "crashed").
    const fastlyDown = { start: t.world.clock.now(), end: new Date(t.world.clock.now().getTime() + 60_000) };
    t.world.fastly.faults.outages.push(fastlyDown);
    const first = await t.orchestrator.startSingle('stored.test', false).then((s) => s.done);
    expect(first.results[0]?.outcome).toBe('failed');
    t.world.ca.faults.failAfterOrderCreated = 1;
    t.world.clock.advanceMinutes(1); // Fastly is back
    const second = await t.orchestrator.startSingle('ordered.test', false).then((s) => s.done);
    expect(second.results[0]?.outcome).toBe('failed');
    expect((await t.stateOf('stored.test'))?.phase).toBe('stored');
    expect((await t.stateOf('ordered.test'))?.phase).toBe('ordered');
    expect(t.world.ca.stats.newOrders).toBe(2);

    // stored.test is resumed although in backoff; ordered.test waits for its backoff.
    const run = await processRun(t);
    expect(byDomain(run)['stored.test']?.outcome).toBe('issued');
    expect(byDomain(run)['ordered.test']?.outcome).toBe('deferred');
    t.world.clock.advanceMinutes(2);
    const later = await processRun(t);
    expect(byDomain(later)['ordered.test']?.outcome).toBe('issued');
    expect(t.world.ca.stats.newOrders).toBe(2);
    expect(t.world.ca.certificatesFor('stored.test')).toHaveLength(1);
    expect(t.world.ca.certificatesFor('ordered.test')).toHaveLength(1);
  });

  it('a domain in backoff is reported deferred without an order; /single processes it anyway', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    t.world.ca.faults.failNext = 1;
    const failed = await processRun(t);
    expect(failed.status).toBe('failed');
    const backedOff = await processRun(t);
    expect(backedOff.status).toBe('succeeded');
    expect(backedOff.results).toMatchObject([{ domain: 'a.test', outcome: 'deferred' }]);
    expect(backedOff.results[0]?.messages[0]).toMatch(/In backoff after repeated failures until /);
    expect(t.world.ca.stats.newOrders).toBe(0);

    const single = await (await t.orchestrator.startSingle('a.test', false)).done;
    expect(single.results).toMatchObject([{ domain: 'a.test', outcome: 'issued' }]);
    expect(t.world.ca.stats.newOrders).toBe(1);
  });

  it('a 429 from the CA defers the rest of the run instead of failing it', async () => {
    const t = await harness({ world: { ca: { limits: { newOrdersPerAccount: { count: 1 } } } } });
    for (const d of ['a.test', 'b.test', 'c.test']) await t.addDomain(d);
    const run = await processRun(t);
    expect(run.status).toBe('succeeded');
    const outcomes = run.results.map((r) => r.outcome).sort();
    expect(outcomes).toEqual(['deferred', 'deferred', 'issued']);
    const messages = run.results.flatMap((r) => r.messages);
    expect(messages.filter((m) => m.startsWith('Rate limited by the CA'))).toHaveLength(1);
    expect(messages.filter((m) => m.startsWith('ACME account paused until'))).toHaveLength(1);
    // Only one request reached the CA's limit: the account was paused before the third.
    expect(t.world.ca.rejections).toHaveLength(1);
    expect(t.world.ca.stats.newOrders).toBe(1);
    const paused = await t.db.acmeAccountState.findUniqueOrThrow({ where: { account: 'acct-test' } });
    expect(paused.pausedUntil?.toISOString()).toBe(t.world.ca.rejections[0]?.retryAfter.toISOString());
    // No backoff for the deferred ones: they go as soon as the pause ends.
    t.world.clock.set(paused.pausedUntil!);
    t.world.clock.advanceHours(3);
    const next = await processRun(t);
    expect(next.results.map((r) => r.outcome)).toContain('issued');
  });

  it('testmode: the run issues and records, and Fastly sees nothing', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    const run = await processRun(t, true);
    expect(run).toMatchObject({ status: 'succeeded', testmode: true });
    expect(t.world.fastly.calls).toEqual([]);
    expect(t.world.notifier.messages.find((m) => m.kind === 'domain')).toMatchObject({ testmode: true });
    expect((await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } })).tlsIssuer).toBe(LETS_ENCRYPT_ISSUER);
  });

  it('a failure on one domain does not stop the others', async () => {
    const t = await harness({ orchestrator: { concurrency: 2 } });
    for (const d of ['a.test', 'b.test', 'c.test']) await t.addDomain(d);
    // b.test's challenge name is a CNAME loop: its DNS step fails, the others are untouched.
    t.world.dns.setCname('_acme-challenge.b.test', 'loop.b.test');
    t.world.dns.setCname('loop.b.test', '_acme-challenge.b.test');
    const run = await processRun(t);
    expect(run.status).toBe('partial');
    const results = byDomain(run);
    expect(results['a.test']?.outcome).toBe('issued');
    expect(results['c.test']?.outcome).toBe('issued');
    expect(results['b.test']?.outcome).toBe('failed');
    expect(results['b.test']?.errors[0]).toMatch(/CNAME chain/);
    expect(await t.stateOf('b.test')).toMatchObject({ failureCount: 1, lastOutcome: 'failed' });
    expect(t.world.notifier.domains).toHaveLength(3);
  });

  it('a domain another run holds is left alone; /single answers busy or not found', async () => {
    const t = await harness();
    const a = await t.addDomain('a.test');
    await t.addDomain('b.test');
    expect(await t.state.claimLease(a.id, 'other-instance/run', 300_000)).toBe(true);
    const run = await processRun(t);
    expect(byDomain(run)['a.test']).toMatchObject({ outcome: 'in-progress', messages: ['Another run holds this domain'] });
    expect(byDomain(run)['b.test']?.outcome).toBe('issued');
    expect((await t.stateOf('a.test'))?.leaseOwner).toBe('other-instance/run');
    expect(t.world.ca.ordersFor('a.test')).toHaveLength(0);
    await expect(t.orchestrator.startSingle('a.test', false)).rejects.toThrow(DomainBusyError);
    await expect(t.orchestrator.startSingle('nope.test', false)).rejects.toThrow(DomainNotFoundError);
  });

  it('a lease lost mid-run stops that domain\'s writes and keeps the new holder\'s lease', async () => {
    const t = await harness({
      publisher: (inner, { db }) => ({
        ...inner,
        publish: async (d, z, values) => {
          await db.domainState.updateMany({ data: { leaseOwner: 'other-instance/run', leaseExpiresAt: new Date('2030-01-01T00:00:00Z') } });
          return inner.publish(d, z, values);
        },
      }),
    });
    await t.addDomain('a.test');
    const run = await processRun(t);
    expect(run.results[0]).toMatchObject({ outcome: 'failed' });
    expect(run.results[0]?.errors[0]).toMatch(/Lease on domain \d+ was lost to another run/);
    expect(t.world.fastly.calls).toEqual([]);
    expect(await t.db.tls.count()).toBe(0);
    expect((await t.stateOf('a.test'))?.leaseOwner).toBe('other-instance/run');
  });

  it('the ARI refresh before selection renews a certificate whose revocation the CA announced', async () => {
    const t = await harness();
    for (const d of ['a.test', 'b.test']) await t.addDomain(d);
    await processRun(t);
    t.world.clock.advanceDays(5);
    const a = t.world.ca.certificatesFor('a.test')[0]!;
    t.world.ca.announceRevocation(a.serial, 24);
    t.world.clock.advanceHours(13); // past the next ARI check
    const run = await processRun(t);
    expect(run.results.map((r) => [r.domain, r.outcome])).toEqual([['a.test', 'renewed']]);
    const renewed = t.world.ca.certificatesFor('a.test')[1]!;
    expect(renewed.replaces).toBe(a.certId);
    // Served before the revocation takes effect.
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(renewed.serial);
    expect(t.world.ca.isRevoked(a.serial, t.world.clock.now())).toBe(false);
  });
});
