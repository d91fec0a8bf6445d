// The fallback CA (issue 16 item 2), wired: DomainFlow, the orchestrator and the
// ARI refresh over SQLite with two in-memory CAs (harness `fallback: true`).
import { describe, expect, it } from 'vitest';
import { LETS_ENCRYPT_ISSUER } from '../../../src/domains/repository.js';
import type { DomainResult } from '../../../src/orchestrator/runs.js';
import { FALLBACK_CA_NOTE, runSummaryTexts, runText } from '../../../src/notify/format.js';
import { AriRefresher } from '../../../src/orchestrator/ari-refresh.js';
import { createLogger } from '../../../src/logger.js';
import { PendingEvents } from '../../../src/domains/pending-events.js';
import { ACCOUNT, FALLBACK_ACCOUNT, FALLBACK_URL, PRIMARY_URL, harnessPerTest, type Harness } from './harness.js';

const harness = harnessPerTest();
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** One domain in a run of its own (`runId`: the same run, which remembers an unreachable CA). */
async function runFlow(hh: Harness, name: string, ctx: { explicit?: boolean; runId?: string } = {}): Promise<DomainResult> {
  const candidate = await hh.candidate(name);
  const owner = `${hh.instanceId}/run-${Math.random()}`;
  expect(await hh.state.claimLease(candidate.id, owner, 300_000)).toBe(true);
  try {
    return await hh.flow.run(candidate, { runId: ctx.runId ?? `run-${Math.random()}`, leaseOwner: owner, testmode: false, explicit: ctx.explicit ?? false });
  } finally {
    await hh.state.releaseLease(candidate.id, owner);
  }
}

/** The primary answers nothing (connection refused) for `hours` from now. */
function primaryDown(t: Harness, hours: number): void {
  const start = t.world.clock.now();
  t.world.ca.faults.outages.push({ start, end: new Date(start.getTime() + hours * HOUR) });
}

async function fallbackIssued(t: Harness): Promise<Record<string, number>> {
  const metric = await t.metrics.fallbackIssuance.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.reason), v.value]));
}

describe('the fallback CA', () => {
  it('is not asked while the primary can issue; the record names the primary', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    expect(await runFlow(t, 'a.test')).toMatchObject({ outcome: 'issued', errors: [] });
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(t.fallback!.ca.stats.newOrders).toBe(0);
    expect(await t.stateOf('a.test')).toMatchObject({ certCa: PRIMARY_URL, orderCa: PRIMARY_URL });
  });

  it('primary unreachable: the same attempt orders from the fallback, and the next renewal goes back to the primary', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    const first = t.world.ca.certificatesFor('a.test')[0]!;
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    primaryDown(t, 24);

    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'renewed', errors: [] });
    const text = result.messages.join('\n');
    expect(text).toContain(`Ordering from the fallback CA ${FALLBACK_URL}: the primary CA cannot issue now (unreachable: ACME newOrder request failed: ECONNREFUSED); no order was created at the primary`);
    expect(text).toContain(`${FALLBACK_CA_NOTE} (${FALLBACK_URL})`);
    const fromFallback = t.fallback!.ca.certificatesFor('a.test')[0]!;
    // `replaces` names a certificate of the CA it is sent to: not the primary's.
    expect(fromFallback.replaces).toBeUndefined();
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(fromFallback.serial);
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'recorded', certCa: FALLBACK_URL, certSerial: fromFallback.serial, failureCount: 0 });
    // Still AutoTLS's own certificate to the selection (and to the Python AutoTLS).
    expect((await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } })).tlsIssuer).toBe(LETS_ENCRYPT_ISSUER);
    // Nothing was ordered at the primary: its reservation was given back.
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(await t.db.acmeOrder.count({ where: { account: ACCOUNT } })).toBe(1);
    expect(await t.db.acmeOrder.count({ where: { account: FALLBACK_ACCOUNT, orderUrl: { not: null } } })).toBe(1);
    // Each order row names the CA it went to.
    expect((await t.db.acmeOrder.findMany({ where: { domain: 'a.test' }, orderBy: { id: 'asc' } })).map((o) => o.ca)).toEqual([PRIMARY_URL, FALLBACK_URL]);
    expect(await fallbackIssued(t)).toEqual({ unreachable: 1 });

    // The renewal time came from the fallback's ARI, and the ARI refresh asks the fallback.
    const primaryAri = t.world.ca.stats.renewalInfoRequests;
    const fallbackAri = t.fallback!.ca.stats.renewalInfoRequests;
    expect(fallbackAri).toBe(1);
    await t.ari.refreshNow({ domain: 'a.test' });
    expect(t.world.ca.stats.renewalInfoRequests).toBe(primaryAri);
    expect(t.fallback!.ca.stats.renewalInfoRequests).toBe(fallbackAri + 1);

    // A later run that finds it not due leaves it alone: not treated as foreign.
    const notDue = await t.orchestrator.startProcess(false).then((r) => r.done);
    expect(notDue.results.filter((r) => r.outcome !== 'skipped')).toEqual([]);
    expect(t.fallback!.ca.stats.newOrders).toBe(1);

    // The primary is back: the next renewal goes to it, without `replaces` (another CA's certificate).
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    const back = await runFlow(t, 'a.test');
    expect(back).toMatchObject({ outcome: 'renewed', errors: [] });
    expect(back.messages.join('\n')).not.toContain(FALLBACK_CA_NOTE);
    const second = t.world.ca.certificatesFor('a.test')[1]!;
    expect(second.replaces).toBeUndefined();
    expect(await t.stateOf('a.test')).toMatchObject({ certCa: PRIMARY_URL, certSerial: second.serial });
    expect(t.fallback!.ca.stats.newOrders).toBe(1);

    // And the one after carries `replaces` again, at the same CA.
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    await runFlow(t, 'a.test');
    expect(t.world.ca.certificatesFor('a.test')[2]!.replaces).toBe(second.certId);
    expect(first.certId).not.toBe(second.certId);
  });

  it('skips the primary for the rest of a run once it proved unreachable; the next run asks it again', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    primaryDown(t, 1);
    const faultsBefore = t.world.ca.stats.faults;
    await runFlow(t, 'a.test', { runId: 'one-run' });
    expect(t.world.ca.stats.faults).toBe(faultsBefore + 1);
    const second = await runFlow(t, 'b.test', { runId: 'one-run' });
    expect(second.messages.join('\n')).toContain(`Ordering from the fallback CA ${FALLBACK_URL}: the primary CA is unreachable`);
    expect(t.world.ca.stats.faults).toBe(faultsBefore + 1);
    expect(t.fallback!.ca.stats.issued).toBe(2);
    // The next run asks the primary again.
    await t.addDomain('c.test');
    await runFlow(t, 'c.test', { runId: 'next-run' });
    expect(t.world.ca.stats.faults).toBe(faultsBefore + 2);
  });

  it('primary account paused for a rate limit: the fallback, and the primary is not asked', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    await t.budget.pause(new Date(t.world.clock.now().getTime() + 3 * HOUR), 'ACME rate limit on newOrder: too many new orders');
    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'issued', errors: [] });
    expect(result.messages.join('\n')).toContain('the primary CA account is paused until');
    expect(t.world.ca.stats.newOrders).toBe(0);
    expect(await t.stateOf('a.test')).toMatchObject({ certCa: FALLBACK_URL });
    expect(await fallbackIssued(t)).toEqual({ paused: 1 });
  });

  it('an account-wide 429 at the primary pauses it and moves the same attempt to the fallback', async () => {
    const t = await harness({ fallback: true, world: { ca: { limits: { newOrdersPerAccount: { count: 1 } } } } });
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    await runFlow(t, 'a.test');
    const result = await runFlow(t, 'b.test');
    expect(result).toMatchObject({ outcome: 'issued', errors: [] });
    expect(result.messages.join('\n')).toMatch(/the primary CA cannot issue now \(paused: ACME rate limit on newOrder/);
    expect(await t.budget.pausedUntil()).toBeDefined();
    expect(await t.stateOf('b.test')).toMatchObject({ certCa: FALLBACK_URL });
  });

  it('never abandons an order created at the primary in the same attempt; the next run resumes it there', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    t.world.ca.faults.failAfterOrderCreated = 1;
    const failed = await runFlow(t, 'a.test');
    expect(failed.outcome).toBe('failed');
    expect(t.fallback!.ca.stats.newOrders).toBe(0);
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'ordered', orderCa: PRIMARY_URL });

    const resumed = await runFlow(t, 'a.test', { explicit: true });
    expect(resumed).toMatchObject({ outcome: 'issued', errors: [] });
    expect(resumed.messages.join('\n')).toContain('Resumed the ACME order');
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(t.fallback!.ca.stats.newOrders).toBe(0);
    expect(await t.stateOf('a.test')).toMatchObject({ certCa: PRIMARY_URL });
  });

  it('an order at an unreachable primary is kept while the certificate has time, and given up for the fallback within a sixth of its lifetime', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    const first = t.world.ca.certificatesFor('a.test')[0]!;
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    t.world.ca.faults.failAfterOrderCreated = 1;
    await runFlow(t, 'a.test');
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'ordered', orderCa: PRIMARY_URL });

    primaryDown(t, 40 * 24);
    const kept = await runFlow(t, 'a.test');
    expect(kept.outcome).toBe('failed');
    expect(kept.errors.join('\n')).toMatch(/resuming the unfinished ACME order: ACME order request failed: ECONNREFUSED/);
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'ordered', orderCa: PRIMARY_URL });
    expect(t.fallback!.ca.stats.newOrders).toBe(0);

    // 14 days before the end of a 90-day certificate: inside the last sixth (15 days).
    t.world.clock.set(new Date(first.notAfter.getTime() - 14 * DAY));
    const rescued = await runFlow(t, 'a.test');
    expect(rescued).toMatchObject({ outcome: 'renewed', errors: [] });
    expect(rescued.messages.join('\n')).toMatch(/The primary CA holding the unfinished order .* is unreachable .*: ordering from the fallback CA instead/);
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'recorded', certCa: FALLBACK_URL });
    expect(t.fallback!.ca.certificatesFor('a.test')).toHaveLength(1);
  });

  it('close to expiry after failures at a reachable primary: the next attempt goes to the fallback, then they take turns', async () => {
    const t = await harness({ fallback: true });
    const candidate = await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    const first = t.world.ca.certificatesFor('a.test')[0]!;
    t.world.clock.set(new Date(first.notAfter.getTime() - 14 * DAY));
    // Two failed attempts at the primary (e.g. its validation kept failing).
    expect(await t.state.patch(candidate.id, { failureCount: 2, orderCa: PRIMARY_URL, backoffUntil: null })).toBe(true);
    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'renewed', errors: [] });
    expect(result.messages.join('\n')).toMatch(/Ordering from the fallback CA .*: the certificate expires .*, within a sixth of its lifetime, after 2 failed attempt\(s\)/);
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(await fallbackIssued(t)).toEqual({ expiring: 1 });
  });

  it('with time left, failures stay at the primary', async () => {
    const t = await harness({ fallback: true });
    const candidate = await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    expect(await t.state.patch(candidate.id, { failureCount: 3, orderCa: PRIMARY_URL, backoffUntil: null })).toBe(true);
    await runFlow(t, 'a.test');
    expect(t.world.ca.stats.newOrders).toBe(2);
    expect(t.fallback!.ca.stats.newOrders).toBe(0);
  });

  it('ARI asks the CA of each certificate; with one account unavailable, the other CA still gets its checks', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('p.test');
    await t.addDomain('f.test');
    await runFlow(t, 'p.test');
    await t.budget.pause(new Date(t.world.clock.now().getTime() + HOUR), 'rate limited');
    await runFlow(t, 'f.test');
    expect(await t.stateOf('f.test')).toMatchObject({ certCa: FALLBACK_URL });
    expect(await t.stateOf('p.test')).toMatchObject({ certCa: PRIMARY_URL });

    const fallbackCa = t.fallback!.ca;
    const ari = new AriRefresher({
      state: t.state,
      issuer: () => Promise.reject(new Error('not used with issuerFor')),
      issuerFor: (ca) => (ca === FALLBACK_URL ? Promise.resolve(fallbackCa) : Promise.reject(new Error('ACME directory request failed: ECONNREFUSED'))),
      clock: t.world.clock,
      random: () => 0.5,
      logger: createLogger({ level: 'silent' }),
    });
    const before = fallbackCa.stats.renewalInfoRequests;
    const results = await ari.refreshNow();
    const byDomain = Object.fromEntries(results.map((r) => [r.domain, r]));
    expect(byDomain['f.test']?.status).toBe('unchanged');
    expect(byDomain['p.test']).toMatchObject({ status: 'failed', error: expect.stringContaining(`the ACME account at ${PRIMARY_URL} is not available: ACME directory request failed: ECONNREFUSED`) });
    expect(fallbackCa.stats.renewalInfoRequests).toBe(before + 1);
  });

  it('continuous schedule: while the primary account is paused, due work wakes the service now (it goes to the fallback), not at the end of the pause', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    const until = new Date(t.world.clock.now().getTime() + 3 * HOUR);
    await t.budget.pause(until, 'rate limited');
    const options = { excluded: [], windowDays: 30 };
    const primaryOnly = new PendingEvents(t.world.clock, t.repository, t.state, async () => t.budget, options);
    expect(await primaryOnly.nextEventAt()).toEqual(until);
    const both = new PendingEvents(t.world.clock, t.repository, t.state, () => t.fallback!.authorities.schedulingBudget(), options);
    expect(await both.nextEventAt()).toEqual(t.world.clock.now());
    expect(await t.fallback!.authorities.schedulingBudget()).toBe(t.fallback!.budget);
    // Both paused: the primary's pause decides, as without a fallback.
    await t.fallback!.budget.pause(new Date(until.getTime() + HOUR), 'rate limited too');
    expect(await both.nextEventAt()).toEqual(until);
  });

  it('a fallback that does not offer ACME_PROFILE is ordered from without one', async () => {
    const t = await harness({ fallback: { ca: { profiles: ['classic'] } }, flow: { profile: 'shortlived' } });
    await t.addDomain('a.test');
    primaryDown(t, 1);
    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'issued', errors: [] });
    expect(result.messages.join('\n')).toContain('ACME profile "shortlived" is not offered by this CA; offered profiles: classic (set ACME_PROFILE to one of them, or leave it unset); the fallback CA orders without a profile');
    expect(t.fallback!.ca.certificatesFor('a.test')[0]?.profile).toBe('classic');
  });

  it('when the fallback fails too, the error names both causes', async () => {
    const t = await harness({ fallback: true });
    await t.addDomain('a.test');
    primaryDown(t, 1);
    t.fallback!.ca.faults.failurePercent = 100;
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('failed');
    expect(result.errors).toEqual([
      'ordering the certificate: the primary CA cannot issue now (ACME newOrder request failed: ECONNREFUSED); and from the fallback CA: ordering the certificate from the fallback CA: ACME newOrder failed: serverInternal: The server experienced an internal error',
    ]);
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'due', failureCount: 1, orderCa: FALLBACK_URL });
    expect(await t.db.acmeOrder.count()).toBe(0);
  });

  it('an unfinished order at a CA no longer configured is not resumed at another one: ordered anew', async () => {
    const t = await harness({ fallback: true });
    const candidate = await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);
    t.world.ca.faults.failAfterOrderCreated = 1;
    await runFlow(t, 'a.test');
    // As if the order had been placed at a CA since removed from the configuration.
    expect(await t.state.patch(candidate.id, { orderCa: 'https://removed-ca.invalid/directory' })).toBe(true);
    const result = await runFlow(t, 'a.test', { explicit: true });
    expect(result).toMatchObject({ outcome: 'renewed', errors: [] });
    expect(result.messages[0]).toBe('The unfinished order is at https://removed-ca.invalid/directory, which is no longer configured; ordering anew');
    expect(t.world.ca.stats.newOrders).toBe(3);
    expect(await t.stateOf('a.test')).toMatchObject({ certCa: PRIMARY_URL, orderCa: PRIMARY_URL });
  });

  it('the Slack summary says which domains the fallback issued', () => {
    const report = {
      runId: 'r1',
      kind: 'process' as const,
      status: 'succeeded' as const,
      testmode: false,
      startedAt: '2027-01-01T00:00:00.000Z',
      finishedAt: '2027-01-01T00:00:05.000Z',
      results: [
        { domain: 'a.test', certificateStatus: 'renew' as const, outcome: 'renewed' as const, notAfter: null, messages: [`${FALLBACK_CA_NOTE} (${FALLBACK_URL})`], errors: [] },
        { domain: 'b.test', certificateStatus: 'renew' as const, outcome: 'renewed' as const, notAfter: null, messages: ['Certificate issued (serial 01)'], errors: [] },
      ],
    };
    expect(runText(report)).toContain('2 renewed, 0 skipped, 0 failed, 1 from the fallback CA');
    expect(runText(report)).toContain('a.test: renewed (fallback CA)');
    const [summary] = runSummaryTexts(report);
    expect(summary).toContain('*a.test*: renewed by the fallback CA');
    expect(summary).not.toContain('*b.test*: renewed by the fallback CA');
  });
});
