// AriRefresher over SQLite and the in-memory CA's ARI (RFC 9773).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ARI_ERROR_RETRY_MS, nextAriCheck } from '../../../src/certificates/renewal-policy.js';
import { MemoryCa } from '../../fakes/memory-ca.js';
import { closeSharedDatabase, createHarness, type Harness, type HarnessOptions } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
afterAll(closeSharedDatabase);

async function issued(options: HarnessOptions = {}, domains = ['a.test', 'b.test']): Promise<Harness> {
  h = await createHarness(options);
  for (const d of domains) await h.addDomain(d);
  const run = await (await h.orchestrator.startProcess(false)).done;
  expect(run.results.every((r) => r.outcome === 'issued')).toBe(true);
  return h;
}

describe('AriRefresher', () => {
  it('reads nothing before the next check is due, then keeps a time already inside the window', async () => {
    const t = await issued();
    const before = await t.stateOf('a.test');
    expect(await t.ari.refresh(10)).toBe(0); // checked at issuance; next check later
    t.world.clock.set(before!.ariCheckAfter!);
    const requests = t.world.ca.stats.renewalInfoRequests;
    expect(await t.ari.refresh(10)).toBe(2);
    expect(t.world.ca.stats.renewalInfoRequests).toBe(requests + 2);
    const after = await t.stateOf('a.test');
    expect(after?.nextRenewalAt?.toISOString()).toBe(before?.nextRenewalAt?.toISOString());
    // The CA's Retry-After (6 h) goes through the renewal policy's clamp.
    expect(after?.ariCheckAfter?.toISOString()).toBe(nextAriCheck(t.world.clock.now(), 21600).toISOString());
  });

  it('a revocation announced through ARI makes exactly that domain due now', async () => {
    const t = await issued();
    const a = t.world.ca.certificatesFor('a.test')[0]!;
    t.world.clock.advanceDays(3);
    t.world.ca.announceRevocation(a.serial, 24); // both checks (12 h after issuance) are due
    expect(await t.ari.refresh(10)).toBe(2);
    const now = t.world.clock.now().getTime();
    expect((await t.stateOf('a.test'))?.nextRenewalAt?.getTime()).toBe(now);
    expect((await t.stateOf('b.test'))!.nextRenewalAt!.getTime()).toBeGreaterThan(now);
    const due = await t.repository.selectDue({ limit: 10, excluded: [], windowDays: 30 });
    expect(due.map((d) => d.name)).toEqual(['a.test']);
  });

  it('skips a domain under a lease and honours the limit', async () => {
    const t = await issued();
    t.world.clock.set((await t.stateOf('a.test'))!.ariCheckAfter!);
    const a = await t.candidate('a.test');
    await t.state.claimLease(a.id, 'other/run', 300_000);
    expect(await t.ari.refresh(10)).toBe(1);
    expect((await t.stateOf('a.test'))?.ariCheckAfter?.getTime()).toBeLessThanOrEqual(t.world.clock.now().getTime());
  });

  it('a failed ARI check keeps the renewal time and asks again later', async () => {
    const t = await issued();
    const before = await t.stateOf('a.test');
    t.world.clock.set(before!.ariCheckAfter!);
    t.world.ca.faults.failurePercent = 100;
    expect(await t.ari.refresh(10)).toBe(0);
    const after = await t.stateOf('a.test');
    expect(after?.nextRenewalAt?.toISOString()).toBe(before?.nextRenewalAt?.toISOString());
    // A failed check is asked again an hour later, not after the 6-hour default.
    expect(after?.ariCheckAfter?.toISOString()).toBe(new Date(t.world.clock.now().getTime() + ARI_ERROR_RETRY_MS).toISOString());
  });

  it('a CA without ARI: the renewal time comes from the lifetime policy, and checks wait a day', async () => {
    const t = await issued({ issuer: (world) => new MemoryCa({ clock: world.clock, dns: world.dns, ari: false }) }, ['a.test']);
    const state = await t.stateOf('a.test');
    expect(state?.ariCheckAfter).toBeNull();
    // A third of the lifetime before expiry (renewal-policy.ts).
    const lifetime = state!.certNotAfter!.getTime() - state!.certNotBefore!.getTime();
    expect(state!.nextRenewalAt!.getTime()).toBe(Math.round(state!.certNotAfter!.getTime() - lifetime / 3));
    expect(await t.ari.refresh(10)).toBe(0);
    expect((await t.stateOf('a.test'))?.ariCheckAfter?.getTime()).toBe(t.world.clock.now().getTime() + 24 * 3600_000);
  });
});
