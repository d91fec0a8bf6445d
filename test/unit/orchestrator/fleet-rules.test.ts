// Fleet-scale rules of the flow and the orchestrator, over SQLite and the
// in-memory counterparts: onboarding spread over the order budget, rate limits
// by class, a 429 after the order exists, and the continuous schedule's next event.
import { describe, expect, it } from 'vitest';
import { AcmeRateLimitedError } from '../../../src/certificates/errors.js';
import type { CertificateIssuer } from '../../../src/certificates/issuer.js';
import { LETS_ENCRYPT_ISSUER } from '../../../src/domains/repository.js';
import { GATHER_MS, PendingEvents } from '../../../src/domains/pending-events.js';
import { harnessPerTest, type Harness } from './harness.js';

const HOUR = 3_600_000;
const harness = harnessPerTest();

async function run(t: Harness, continuous = false) {
  return (await t.orchestrator.startProcess(false, { continuous })).done;
}

/** Issues `names` and moves the clock to their renewal time, so they are due as ARI renewals. */
async function dueRenewals(t: Harness, names: string[]): Promise<void> {
  for (const n of names) await t.addDomain(n);
  const first = await run(t);
  expect(first.results.every((r) => r.outcome === 'issued')).toBe(true);
  const states = await Promise.all(names.map((n) => t.stateOf(n)));
  const latest = Math.max(...states.map((s) => s?.nextRenewalAt?.getTime() ?? 0));
  t.world.clock.set(new Date(latest + 1000));
}

function pendingEvents(t: Harness): PendingEvents {
  return new PendingEvents(t.world.clock, t.repository, t.state, async () => t.budget, { excluded: [], windowDays: 30 });
}

describe('onboarding is spread over the order budget', () => {
  it('a continuous wake takes new domains up to the headroom, and every due renewal', async () => {
    const t = await harness({ orderBudget: 6, orchestrator: { concurrency: 4 } });
    await dueRenewals(t, ['r1.test', 'r2.test', 'r3.test']);
    // The first issuances used 3 of 6; 3 hours later the window is empty again.
    t.world.clock.advance(3 * HOUR);
    for (let i = 0; i < 20; i++) await t.addDomain(`new${i}.test`);
    const wake = await run(t, true);
    const renewed = wake.results.filter((r) => r.outcome === 'renewed').map((r) => r.domain).sort();
    const issued = wake.results.filter((r) => r.outcome === 'issued');
    expect(renewed).toEqual(['r1.test', 'r2.test', 'r3.test']);
    // ARI renewals are exempt: all 6 slots went to new domains, and nothing was deferred.
    expect(issued).toHaveLength(6);
    expect(wake.results.filter((r) => r.outcome === 'deferred')).toEqual([]);
    expect(await t.budget.headroom()).toBe(0);
  });

  it('a renewal that names the certificate it replaces is never held back by a used-up budget', async () => {
    const t = await harness({ orderBudget: 2 });
    await dueRenewals(t, ['r1.test', 'r2.test']);
    // Another instance's new orders used the budget up.
    expect((await t.budget.reserve('other1.test', undefined)).ok).toBe(true);
    expect((await t.budget.reserve('other2.test', undefined)).ok).toBe(true);
    expect(await t.budget.headroom()).toBe(0);
    expect((await t.budget.reserve('other3.test', undefined)).ok).toBe(false);
    const wake = await run(t, true);
    expect(wake.results.map((r) => r.outcome)).toEqual(['renewed', 'renewed']);
  });

  it('the next event: due renewals now; new domains held back by the budget at its next free slot', async () => {
    const t = await harness({ orderBudget: 2 });
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    expect((await pendingEvents(t).nextEventAt())?.getTime()).toBe(t.world.clock.now().getTime());
    await run(t, true);
    const issuedAt = t.world.clock.now().getTime();
    await t.addDomain('c.test');
    t.world.clock.advance(HOUR);
    // c.test waits for the first slot to free up, 3 hours after it was taken.
    expect((await pendingEvents(t).nextEventAt())?.getTime()).toBe(issuedAt + 3 * HOUR);
    t.world.clock.set(new Date(issuedAt + 3 * HOUR + 1));
    expect((await pendingEvents(t).nextEventAt())?.getTime()).toBe(t.world.clock.now().getTime());
  });

  it('renewal times and ARI checks are gathered: the wake comes GATHER_MS after the first, and takes every one due by then', async () => {
    const t = await harness();
    const names = ['g1.test', 'g2.test', 'g3.test'];
    for (const n of names) await t.addDomain(n);
    await run(t, true);
    const events = pendingEvents(t);
    expect(await events.workDue()).toBe(false);
    // Each certificate's next ARI check is the CA's Retry-After after its issuance; spread them over 20 minutes.
    const firstCheck = Math.min(...(await Promise.all(names.map((n) => t.stateOf(n)))).map((s) => s?.ariCheckAfter?.getTime() ?? Infinity));
    for (const [i, n] of names.entries()) {
      const domain = await t.db.domain.findUniqueOrThrow({ where: { name: n } });
      await t.db.domainState.update({ where: { domainId: domain.id }, data: { ariCheckAfter: new Date(firstCheck + i * 10 * 60_000) } });
    }
    const next = (await events.nextEventAt())?.getTime() as number;
    expect(next).toBe(firstCheck + GATHER_MS);
    // The one wake at that time asks the CA about all three: none is asked before its Retry-After.
    t.world.clock.set(new Date(next));
    const asked = t.world.ca.stats.renewalInfoRequests;
    const checks = await t.ari.refreshDue();
    expect(checks.map((c) => c.domain).sort()).toEqual(names);
    expect(t.world.ca.stats.renewalInfoRequests - asked).toBe(3);
    expect(await events.workDue()).toBe(false);
    // A backoff's end is not gathered: a failing domain is retried when its backoff ends.
    const backoffUntil = new Date(next + 5 * 60_000);
    const g1 = await t.db.domain.findUniqueOrThrow({ where: { name: 'g1.test' } });
    await t.db.domainState.update({ where: { domainId: g1.id }, data: { backoffUntil } });
    expect((await events.nextEventAt())?.getTime()).toBe(backoffUntil.getTime());
  });
});

describe("Fastly's write allowance", () => {
  it('once an upload is refused until the reset, the others wait for it: deferred, not failed, and uploaded after it without a new order', async () => {
    // 4 writes an hour; a new domain takes 2 (its key, its certificate). One domain at a time, so the order is known.
    const t = await harness({ orchestrator: { concurrency: 1 }, world: { fastly: { writeLimit: 4 } } });
    const names = ['f1.test', 'f2.test', 'f3.test', 'f4.test'];
    for (const n of names) await t.addDomain(n);
    const first = await run(t, true);
    const outcome = (r: { results: Array<{ domain: string; outcome: string }> }) => Object.fromEntries(r.results.map((x) => [x.domain, x.outcome]));
    expect(outcome(first)).toEqual({ 'f1.test': 'issued', 'f2.test': 'issued', 'f3.test': 'deferred', 'f4.test': 'deferred' });
    expect(first.results.find((r) => r.domain === 'f4.test')?.messages.join(' ')).toMatch(/Fastly's API write allowance is used up until .*stays stored/);
    for (const n of ['f3.test', 'f4.test']) {
      expect(await t.stateOf(n)).toMatchObject({ phase: 'stored', failureCount: 0, backoffUntil: null, failingSince: null });
    }
    // Only f3's upload reached Fastly and was refused; f4 was held without a call.
    expect(t.world.fastly.calls.filter((c) => c.status === 429)).toHaveLength(1);
    const until = t.uploadHold.heldUntil() as Date;
    expect(until.getTime()).toBeGreaterThan(t.world.clock.now().getTime());
    // Nothing is due until the reset, which is the next event; a wake meanwhile does not select them.
    const events = new PendingEvents(t.world.clock, t.repository, t.state, async () => t.budget, { excluded: [], windowDays: 30, uploadHold: t.uploadHold });
    expect(await events.workDue()).toBe(false);
    expect((await events.nextEventAt())?.getTime()).toBe(until.getTime());
    expect((await run(t, true)).results).toEqual([]);
    t.world.clock.set(new Date(until.getTime() + 1000));
    expect(await events.workDue()).toBe(true);
    const after = await run(t, true);
    expect(outcome(after)).toEqual({ 'f3.test': 'issued', 'f4.test': 'issued' });
    expect(t.world.ca.stats.newOrders).toBe(4);
  });
});

describe('rate limits by class', () => {
  it("a limit on one domain's names backs off that domain only; the account keeps ordering", async () => {
    // 1 certificate per exact set of names per week: a.test's renewal is refused (not an ARI renewal here).
    const t = await harness({ world: { ca: { limits: { certificatesPerFqdnSet: { count: 1 } } } } });
    await t.addDomain('a.test');
    await run(t);
    // Make a.test due again as a non-Let's-Encrypt domain (no `replaces`), and add b.test.
    await t.db.domain.update({ where: { name: 'a.test' }, data: { tlsIssuer: 'Other CA' } });
    await t.addDomain('b.test');
    const second = await run(t);
    const a = second.results.find((r) => r.domain === 'a.test');
    expect(a?.outcome).toBe('deferred');
    expect(a?.messages.join()).toMatch(/Rate limited by the CA for a\.test \(names limit\): next attempt after/);
    expect(second.results.find((r) => r.domain === 'b.test')?.outcome).toBe('issued');
    expect(await t.budget.pausedUntil()).toBeUndefined();
    const rejection = t.world.ca.rejections[0];
    expect((await t.stateOf('a.test'))?.backoffUntil?.toISOString()).toBe(rejection?.retryAfter.toISOString());
    expect((await t.stateOf('a.test'))?.failureCount).toBe(0);
  });
});

describe('failure backoff', () => {
  it('never waits more than a tenth of what the live certificate has left', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    await run(t);
    const state = await t.stateOf('a.test');
    const notAfter = state!.certNotAfter!.getTime();
    // Five days before expiry, after three failures: the fourth would back off 24 hours.
    t.world.clock.set(new Date(notAfter - 5 * 24 * HOUR));
    await t.db.domainState.update({ where: { domainId: state!.domainId }, data: { failureCount: 3, backoffUntil: null } });
    t.world.dns.faults.failurePercent = 100;
    const failed = await run(t);
    expect(failed.results[0]?.outcome).toBe('failed');
    const after = await t.stateOf('a.test');
    expect(after?.failureCount).toBe(4);
    const waited = after!.backoffUntil!.getTime() - t.world.clock.now().getTime();
    expect(waited).toBe(12 * HOUR); // 5 days / 10, not 24 hours
  });
});

describe('a 429 after the order exists', () => {
  it('keeps the order resumable: the next run finishes it without a new order', async () => {
    let refuseOnce = true;
    const t = await harness({
      issuer: (world) => {
        const ca = world.ca;
        const flaky: CertificateIssuer = {
          issue: async (req, hooks) => {
            if (!refuseOnce) return ca.issue(req, hooks);
            refuseOnce = false;
            // The order is created, then finalize is refused with a 429 (and the key stays pending).
            return ca.issue(req, {
              ...hooks,
              onOrderCreated: async (order) => {
                await hooks.onOrderCreated?.(order);
                throw new AcmeRateLimitedError('finalize', new Date(world.clock.now().getTime() + 60_000), 'too many requests');
              },
            });
          },
          resume: (url, req, hooks) => ca.resume(url, req, hooks),
          renewalInfo: (id) => ca.renewalInfo(id),
          revoke: (pem, reason) => ca.revoke(pem, reason),
        };
        return flaky;
      },
    });
    await t.addDomain('a.test');
    const first = await run(t);
    expect(first.results[0]?.outcome).toBe('deferred');
    expect((await t.stateOf('a.test'))?.phase).toBe('ordered');
    expect(t.world.ca.stats.newOrders).toBe(1);
    t.world.clock.advance(2 * HOUR);
    const second = await run(t);
    expect(second.results[0]?.outcome).toBe('issued');
    expect(second.results[0]?.messages.join()).toMatch(/Resumed the ACME order a previous run left unfinished/);
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect((await t.candidate('a.test')).tlsIssuer).toBe(LETS_ENCRYPT_ISSUER);
  });
});
