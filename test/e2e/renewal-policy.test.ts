// Renewal policy end to end, for what Pebble cannot be made to show: ARI
// answers chosen by the test (an explanationURL, a Retry-After other than
// Pebble 2.7.0's fixed 6 hours) through the ARI front in front of the real
// Pebble, and a CA rate limit (429). ARI and profiles from the real CA itself
// are in ari-pebble.test.ts. Names under z19.test.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { AriServer, pebbleServerTls } from '../testbed/ari-server.js';
import { challengeRecords, issueReplaceable, startHarness, type Harness } from './harness.js';

let ari: AriServer;
let h: Harness;

beforeAll(async () => {
  const tb = inject('testbed');
  ari = await AriServer.start({
    upstreamDirectoryUrl: tb.pebble.directoryUrl,
    upstreamCa: readFileSync(tb.pebble.caCertPath),
    tls: pebbleServerTls(tb.pebble.caCertPath),
  });
  // classic: 90 days on Pebble 2.7.0 (which otherwise picks a random profile); 2.4.0 offers none and ignores it.
  h = await startHarness({ env: { LE_DIRECTORY_URL: ari.directoryUrl, CONCURRENCY: '1', ACME_PROFILE: 'classic' } });
});
afterEach(() => ari.clearStubs());
afterAll(async () => {
  await h?.stop();
  await ari?.close();
});

const state = (name: string) => h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name } } });
const DAY = 86_400_000;

describe('ARI', () => {
  it('renews inside a past window with `replaces`, then follows the next window', async () => {
    const domain = await issueReplaceable(h, 'ari1', 'z19.test');
    const issued = await state(domain);
    expect(issued.certId).toBeTruthy();
    // Without an ARI answer the lifetime policy applies: far in the future.
    expect(issued.nextRenewalAt!.getTime()).toBeGreaterThan(Date.now() + 30 * DAY);

    // The CA says: renew now (a window already in the past).
    ari.setRenewalInfo(issued.certId as string, {
      start: new Date(Date.now() - 2 * DAY),
      end: new Date(Date.now() - DAY),
      explanationURL: 'https://ca.example/incident/1',
    });
    const ordersBefore = ari.newOrderPayloads().length;
    const renewal = await h.run('/process');
    expect(renewal.status, JSON.stringify(renewal.doc)).toBe(200);
    expect(renewal.doc.results).toHaveLength(1);
    expect(renewal.doc.results[0]).toMatchObject({ domain, outcome: 'renewed' });
    const payloads = ari.newOrderPayloads().slice(ordersBefore);
    expect(payloads).toHaveLength(1);
    expect(payloads[0]?.replaces).toBe(issued.certId);
    expect(h.logLines.some((l) => l.includes('https://ca.example/incident/1'))).toBe(true);

    // The new certificate's window lies ahead: the next renewal time moves into it.
    const renewed = await state(domain);
    expect(renewed.certId).not.toBe(issued.certId);
    const start = new Date(Date.now() + 10 * DAY);
    const end = new Date(Date.now() + 12 * DAY);
    ari.setRenewalInfo(renewed.certId as string, { start, end, retryAfter: 3600 });
    await h.components.database.client.domainState.update({ where: { domainId: renewed.domainId }, data: { ariCheckAfter: null } });
    const quietStarted = Date.now();
    const quiet = await h.run('/process');
    expect(quiet.doc.status).toBe('nothing-to-do');
    const after = await state(domain);
    expect(after.nextRenewalAt!.getTime()).toBeGreaterThanOrEqual(start.getTime());
    expect(after.nextRenewalAt!.getTime()).toBeLessThanOrEqual(end.getTime());
    // Checked again once the CA's Retry-After (1 hour) has passed: neither sooner nor stretched.
    expect(after.ariCheckAfter!.getTime()).toBeGreaterThanOrEqual(quietStarted + 3600_000);
    expect(after.ariCheckAfter!.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(await challengeRecords(domain)).toEqual([]);
  });

  it("clamps the CA's Retry-After to between 1 minute and 24 hours (RFC 9773 §4.3)", async () => {
    const domain = 'ari2.z19.test';
    await h.addDomain(domain, 'z19.test');
    expect((await h.run(`/single/${domain}`)).status).toBe(200);
    const issued = await state(domain);
    const db = h.components.database.client;
    for (const [retryAfter, expectedMs] of [[5, 60_000], [3 * 86_400, DAY]] as const) {
      ari.setRenewalInfo(issued.certId as string, { start: new Date(Date.now() + 10 * DAY), end: new Date(Date.now() + 12 * DAY), retryAfter });
      await db.domainState.update({ where: { domainId: issued.domainId }, data: { ariCheckAfter: null } });
      const started = Date.now();
      await h.run('/process');
      const checked = await state(domain);
      expect(checked.ariCheckAfter!.getTime()).toBeGreaterThanOrEqual(started + expectedMs);
      expect(checked.ariCheckAfter!.getTime()).toBeLessThanOrEqual(Date.now() + expectedMs);
    }
  });
});

describe('a 429 from the CA', () => {
  it('defers the remaining domains, records Retry-After and orders nothing more', async () => {
    const names = ['rl1.z19.test', 'rl2.z19.test', 'rl3.z19.test'];
    for (const n of names) await h.addDomain(n, 'z19.test');
    ari.stub(
      'newOrder',
      {
        status: 429,
        headers: { 'retry-after': '3600' },
        body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new orders recently', status: 429 },
      },
      { times: 1 },
    );
    const before = ari.newOrderPayloads().length;
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(200);
    const mine = doc.results.filter((r) => names.includes(r.domain));
    expect(mine).toHaveLength(3);
    expect(mine.every((r) => r.outcome === 'deferred')).toBe(true);
    expect(mine.some((r) => r.messages.join(' ').includes('Rate limited by the CA'))).toBe(true);
    expect(ari.newOrderPayloads().length - before).toBe(1);
    const db = h.components.database.client;
    expect(await db.acmeOrder.count({ where: { domain: { in: names } } })).toBe(0);
    const account = await db.acmeAccountState.findFirstOrThrow();
    expect(account.pausedUntil!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(account.pausedUntil!.getTime()).toBeLessThan(Date.now() + 3700_000);

    // While paused, nothing is ordered; the notification says why.
    const again = await h.run('/process');
    expect(again.doc.results.filter((r) => names.includes(r.domain)).every((r) => r.outcome === 'deferred')).toBe(true);
    expect(ari.newOrderPayloads().length - before).toBe(1);
    const posts = h.shared.slack.delivered().map((p) => JSON.stringify(p.body));
    expect(posts.some((p) => p.includes('rl1.z19.test') && /paused|Rate limited/i.test(p))).toBe(true);
  });
});
