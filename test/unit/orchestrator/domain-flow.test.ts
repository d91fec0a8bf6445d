// DomainFlow, real, over SQLite and the in-memory CA, DNS, Fastly and secrets store.
import { describe, expect, it } from 'vitest';
import { DomainRepository, LETS_ENCRYPT_ISSUER, type CertificateRecord } from '../../../src/domains/repository.js';
import { LeaseLostError } from '../../../src/domains/state.js';
import type { DomainResult } from '../../../src/orchestrator/runs.js';
import { harnessPerTest, type Harness } from './harness.js';

const harness = harnessPerTest();

/** Runs the flow for one domain under a lease, as the orchestrator does. */
async function runFlow(hh: Harness, name: string, ctx: { testmode?: boolean; explicit?: boolean; owner?: string } = {}): Promise<DomainResult> {
  const candidate = await hh.candidate(name);
  const owner = ctx.owner ?? `${hh.instanceId}/run-${Math.random()}`;
  expect(await hh.state.claimLease(candidate.id, owner, 300_000)).toBe(true);
  try {
    return await hh.flow.run(candidate, { runId: 'run', leaseOwner: owner, testmode: ctx.testmode ?? false, explicit: ctx.explicit ?? false });
  } finally {
    await hh.state.releaseLease(candidate.id, owner);
  }
}

describe('DomainFlow', () => {
  it('first issuance: orders, stores the secrets, uploads to Fastly and records the certificate', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'issued', certificateStatus: 'new', errors: [] });

    const [cert] = t.world.ca.certificatesFor('a.test');
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(await t.secret('a.test', 'fullchain')).toBe(cert!.fullchainPem);
    expect(await t.secret('a.test', 'private_key')).toMatch(/BEGIN PRIVATE KEY/);
    expect(await t.secret('a.test', 'csr')).toMatch(/BEGIN CERTIFICATE REQUEST/);
    expect(await t.secret('a.test', 'pending')).toBeUndefined();

    const served = t.world.fastly.servedCertificate('a.test');
    expect(served?.serial).toBe(cert!.serial);
    expect(served?.configurationIds).toEqual(['cfg-test']);

    const domain = await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } });
    expect(domain.tlsIssuer).toBe(LETS_ENCRYPT_ISSUER);
    expect(domain.tlsExpDate?.toISOString()).toBe(cert!.notAfter.toISOString());
    const tls = await t.db.tls.findUniqueOrThrow({ where: { id: domain.tlsId! } });
    expect(tls.fastlyId).toBe(served?.id);

    const state = await t.stateOf('a.test');
    expect(state).toMatchObject({ phase: 'recorded', certSerial: cert!.serial, certId: cert!.certId, fastlyCertId: served?.id, failureCount: 0 });
    // The renewal time comes from the CA's ARI window.
    const window = await t.world.ca.renewalInfo(cert!.certId as string);
    expect(state!.nextRenewalAt!.getTime()).toBeGreaterThanOrEqual(window!.suggestedWindow.start.getTime());
    expect(state!.nextRenewalAt!.getTime()).toBeLessThanOrEqual(window!.suggestedWindow.end.getTime());
    const order = await t.db.acmeOrder.findFirstOrThrow({ where: { domain: 'a.test' } });
    expect(order.orderUrl).toBe(cert!.orderUrl);
  });

  it('renewal: an ARI replacement of the recorded certificate, replaced in place at Fastly', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    const first = t.world.ca.certificatesFor('a.test')[0]!;
    const firstFastly = t.world.fastly.servedCertificate('a.test')!;
    t.world.clock.set((await t.stateOf('a.test'))!.nextRenewalAt!);

    const result = await runFlow(t, 'a.test');
    expect(result).toMatchObject({ outcome: 'renewed', certificateStatus: 'renew' });
    expect(result.messages.join('\n')).toMatch(/as an ARI replacement/);
    const second = t.world.ca.certificatesFor('a.test')[1]!;
    expect(second.replaces).toBe(first.certId);
    expect(t.world.ca.certificate(first.serial)?.replacedBy).toBe(second.orderUrl);
    // Same Fastly certificate, new content; the old key is gone.
    const served = t.world.fastly.servedCertificate('a.test')!;
    expect(served.id).toBe(firstFastly.id);
    expect(served.serial).toBe(second.serial);
    expect(t.world.fastly.keys.size).toBe(1);
    // The CA exempted it, so the order budget does not count it (the first order is out of the 3-hour window).
    const orders = await t.db.acmeOrder.findMany({ where: { domain: 'a.test' }, orderBy: { id: 'asc' } });
    expect(orders.map((o) => o.exempt)).toEqual([false, true]);
    expect(await t.budget.used()).toBe(0);
    expect((await t.stateOf('a.test'))?.certSerial).toBe(second.serial);
  });

  it('not due: skips without an order and keeps the records', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('skipped');
    expect(t.world.ca.stats.newOrders).toBe(1);
  });

  it('not due after earlier failures: the failures are cleared (failing_since, backoff), as a recorded certificate clears them', async () => {
    const t = await harness();
    const row = await t.addDomain('a.test');
    await runFlow(t, 'a.test');
    // It failed before (the certificate was then put right some other way).
    await t.db.domainState.update({ where: { domainId: row.id }, data: { failureCount: 3, failingSince: new Date(0), lastError: 'ACME ...' } });
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('skipped');
    expect(await t.stateOf('a.test')).toMatchObject({ failureCount: 0, failingSince: null, backoffUntil: null, lastError: null });
    expect(t.world.ca.stats.newOrders).toBe(1);
  });

  it('resume at `ordered`: finishes the order a crashed run left, with no new order', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    t.world.ca.faults.failAfterOrderCreated = 1;
    const crashed = await runFlow(t, 'a.test');
    expect(crashed.outcome).toBe('failed');
    expect((await t.stateOf('a.test'))?.phase).toBe('ordered');
    const pending = await t.secret('a.test', 'pending');
    expect(pending).toMatch(/privateKeyPem/);
    const [order] = t.world.ca.ordersFor('a.test');
    expect(order?.status).toBe('pending');

    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('issued');
    expect(result.messages.join('\n')).toMatch(/Resumed the ACME order/);
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(t.world.ca.certificatesFor('a.test')[0]?.orderUrl).toBe(order!.url);
    // The key stored before the order is the key of the certificate.
    expect(await t.secret('a.test', 'private_key')).toBe((JSON.parse(pending!) as { privateKeyPem: string }).privateKeyPem);
    expect(await t.secret('a.test', 'pending')).toBeUndefined();
    expect((await t.stateOf('a.test'))?.phase).toBe('recorded');
  });

  it('resume at `ordered` with an order the CA no longer knows: orders anew', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    t.world.ca.faults.failAfterOrderCreated = 1;
    await runFlow(t, 'a.test');
    t.world.clock.advanceDays(8); // the pending order expired
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('issued');
    expect(t.world.ca.stats.newOrders).toBe(2);
  });

  it('resume at `stored`: uploads the stored certificate without an order', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    t.world.fastly.faults.failurePercent = 100;
    const failed = await runFlow(t, 'a.test');
    expect(failed.outcome).toBe('failed');
    expect(failed.errors.join('\n')).toMatch(/HTTP 503/);
    expect((await t.stateOf('a.test'))?.phase).toBe('stored');
    expect(t.world.fastly.certs.size).toBe(0);

    t.world.fastly.faults.failurePercent = 0;
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('issued');
    expect(result.messages.join('\n')).toMatch(/Resuming with the stored certificate/);
    expect(t.world.ca.stats.newOrders).toBe(1);
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(t.world.ca.certificatesFor('a.test')[0]?.serial);
    expect((await t.stateOf('a.test'))?.phase).toBe('recorded');
  });

  it('resume at `uploaded`: records the certificate without uploading it again', async () => {
    class RecordFailsOnce extends DomainRepository {
      failures = 1;
      override async recordCertificate(record: CertificateRecord): Promise<number> {
        if (this.failures-- > 0) throw new Error('database is locked');
        return super.recordCertificate(record);
      }
    }
    const t = await harness({ repository: (db, clock) => new RecordFailsOnce(db, 'sqlite', clock) });
    await t.addDomain('a.test');
    const failed = await runFlow(t, 'a.test');
    expect(failed.errors).toEqual(['recording the certificate in the database: database is locked']);
    expect((await t.stateOf('a.test'))?.phase).toBe('uploaded');
    const writes = t.world.fastly.writes().length;

    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('issued');
    expect(t.world.fastly.writes().length).toBe(writes);
    expect(t.world.ca.stats.newOrders).toBe(1);
    const state = await t.stateOf('a.test');
    expect(state?.phase).toBe('recorded');
    const domain = await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } });
    expect((await t.db.tls.findUniqueOrThrow({ where: { id: domain.tlsId! } })).fastlyId).toBe(state?.fastlyCertId);
  });

  it('backoff after a failure defers the next attempt; an explicit (/single) run ignores it', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    t.world.ca.faults.failNext = 1;
    const failed = await runFlow(t, 'a.test');
    expect(failed.errors.join()).toMatch(/serverInternal/);
    const state = await t.stateOf('a.test');
    expect(state).toMatchObject({ phase: 'due', failureCount: 1 });
    expect(state!.backoffUntil!.getTime()).toBeGreaterThan(t.world.clock.now().getTime());
    expect(state!.lastError).toMatch(/serverInternal/);

    const deferred = await runFlow(t, 'a.test');
    expect(deferred.outcome).toBe('deferred');
    expect(deferred.messages.join()).toMatch(/In backoff after 1 failure/);
    expect(t.world.ca.stats.newOrders).toBe(0);

    const explicit = await runFlow(t, 'a.test', { explicit: true });
    expect(explicit.outcome).toBe('issued');
    expect(await t.stateOf('a.test')).toMatchObject({ failureCount: 0, backoffUntil: null, lastError: null });
  });

  it('a failed DNS-01 validation is a failure of that domain, and its TXT values are removed', async () => {
    const t = await harness({ publisher: (inner) => ({ ...inner, publish: async (d, z) => inner.publish(d, z, ['wrong-value']) }) });
    await t.addDomain('a.test');
    t.world.dns.addForeignTxt('_acme-challenge.a.test', 'foreign');
    const result = await runFlow(t, 'a.test');
    expect(result.outcome).toBe('failed');
    expect(result.errors.join()).toMatch(/ACME validation failed for a\.test: unauthorized: Incorrect TXT record "foreign"/);
    expect(t.world.dns.txtAt('_acme-challenge.a.test')).toEqual(['foreign']);
    expect(t.world.ca.stats.failedValidations).toBe(1);
  });

  it('testmode: issues and records without touching Fastly', async () => {
    const t = await harness();
    await t.addDomain('a.test');
    const result = await runFlow(t, 'a.test', { testmode: true });
    expect(result.outcome).toBe('issued');
    expect(result.messages).toContain('Testmode: certificate not uploaded to Fastly');
    expect(t.world.fastly.calls).toEqual([]);
    const domain = await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } });
    expect((await t.db.tls.findUniqueOrThrow({ where: { id: domain.tlsId! } })).fastlyId).toBe('FAKE-a.test');
    expect(await t.secret('a.test', 'fullchain')).toBeDefined();
  });

  it('lease loss: once another run holds the domain, the flow stops writing', async () => {
    let stolen = false;
    const t = await harness({
      publisher: (inner, { db }) => ({
        ...inner,
        // Another instance takes the domain over while the challenge is out (our lease expired).
        publish: async (d, z, values) => {
          await db.domainState.updateMany({ data: { leaseOwner: 'other-instance/run', leaseExpiresAt: new Date('2030-01-01T00:00:00Z') } });
          stolen = true;
          return inner.publish(d, z, values);
        },
      }),
    });
    await t.addDomain('a.test');
    const result = await runFlow(t, 'a.test');
    expect(stolen).toBe(true);
    expect(result.outcome).toBe('failed');
    expect(result.errors.join()).toMatch(new LeaseLostError((await t.candidate('a.test')).id).message);
    // The certificate is kept (it was paid for), but nothing is uploaded or recorded.
    expect(await t.secret('a.test', 'fullchain')).toBe(t.world.ca.certificatesFor('a.test')[0]?.fullchainPem);
    expect(t.world.fastly.calls).toEqual([]);
    expect(await t.db.tls.count()).toBe(0);
    const state = await t.stateOf('a.test');
    expect(state).toMatchObject({ phase: 'ordered', leaseOwner: 'other-instance/run', failureCount: 0 });
    expect((await t.db.domain.findUniqueOrThrow({ where: { name: 'a.test' } })).tlsIssuer).toBeNull();
  });

  it('a rate-limited order pauses the account until Retry-After and leaves the domain due', async () => {
    const t = await harness({ world: { ca: { limits: { newOrdersPerAccount: { count: 1 } } } } });
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    await runFlow(t, 'a.test');
    const result = await runFlow(t, 'b.test');
    expect(result.outcome).toBe('deferred');
    expect(result.messages.join()).toMatch(/Rate limited by the CA: no new orders for this account until .*too many new orders \(1\) from this account in the last 3h0m0s/);
    const rejection = t.world.ca.rejections[0]!;
    expect((await t.budget.pausedUntil())?.until.toISOString()).toBe(rejection.retryAfter.toISOString());
    expect(await t.stateOf('b.test')).toMatchObject({ phase: 'due', failureCount: 0, backoffUntil: null });
  });
});
