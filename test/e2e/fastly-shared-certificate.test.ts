// A domain whose Fastly certificate is shared with other names (issue 14 item 2,
// contract section 5), through the public contract: HTTP /process on the real
// testbed (BIND + Pebble + SQLite + file secrets), APP_ENV=production so that the
// upload happens, against the Fastly fake, which disables the names a replacement
// lacks as Fastly documents; and Fastly's write allowance used up. Zone z50.test.
//
// The issue names the domain `d1.test`; the testbed's BIND serves z01.test ...
// z60.test only, so the domain is `d1.z50.test`.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFastlyTls } from '../../src/storage/fastly.js';
import { createTestPki, type TestPki } from '../unit/storage/pki.js';
import { uploadCertificateToFastly } from './fastly-upload.js';
import { FASTLY_TOKEN, startHarness, TLS_CONFIGURATION_ID, type Harness } from './harness.js';

const DOMAIN = 'd1.z50.test';
const OTHER = 'other.example';
let h: Harness;
let pki: TestPki;

beforeAll(async () => {
  h = await startHarness();
  pki = createTestPki();
}, 120_000);
afterAll(async () => {
  await h?.stop();
  pki?.cleanup();
});

describe('a Fastly certificate shared with other names', () => {
  it('/process gives the domain a certificate of its own; the shared one keeps its names and is never PATCHed; renewals replace the own one', async () => {
    const fastly = h.shared.fastly;
    const shared = await uploadCertificateToFastly(h.shared.fastly.url, pki, [DOMAIN, OTHER]);
    expect(fastly.servingCertificate(DOMAIN)?.id).toBe(shared.certId);
    await h.addDomain(DOMAIN, 'z50.test');
    const before = fastly.requests.length;

    const first = await h.run('/process');
    expect(first.status, JSON.stringify(first.doc.results)).toBe(200);
    expect(first.doc.testmode).toBe(false);
    expect(first.doc.results).toMatchObject([{ domain: DOMAIN, outcome: 'issued' }]);

    const own = [...fastly.certs.values()].filter((c) => c.id !== shared.certId && c.domains.includes(DOMAIN));
    expect(own).toHaveLength(1);
    const ownId = own[0]!.id;
    expect(own[0]!.domains.sort()).toEqual([`*.${DOMAIN}`, DOMAIN]);
    expect(own[0]!.configurationIds).toEqual([TLS_CONFIGURATION_ID]);
    expect(first.doc.results[0]?.messages.join(' ')).toContain(`Fastly certificate ${ownId} created`);
    const creates = fastly.requests.slice(before).filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates');
    expect(creates).toHaveLength(1);
    expect(creates[0]?.body).toMatchObject({ data: { relationships: { tls_configurations: { data: [{ id: TLS_CONFIGURATION_ID }] } } } });
    const db = h.components.database.client;
    const row = await db.domain.findUniqueOrThrow({ where: { name: DOMAIN } });
    expect((await db.tls.findUniqueOrThrow({ where: { id: row.tlsId ?? -1 } })).fastlyId).toBe(ownId);

    // Renewal: the domain's own certificate is replaced in place, its old key deleted.
    const ownKeyBefore = own[0]!.keyId;
    await db.domain.update({ where: { name: DOMAIN }, data: { tlsExpDate: new Date(Date.now() + 5 * 86_400_000) } });
    const second = await h.run('/process');
    expect(second.status, JSON.stringify(second.doc.results)).toBe(200);
    expect(second.doc.results).toMatchObject([{ domain: DOMAIN, outcome: 'renewed' }]);
    expect(fastly.requests.filter((r) => r.method === 'PATCH').map((r) => r.path)).toEqual([`/tls/bulk/certificates/${ownId}`]);
    expect(fastly.keys.has(ownKeyBefore)).toBe(false);

    // The shared certificate: never PATCHed or deleted, its key kept, still serving other.example.
    const touched = fastly.requests.slice(before).filter((r) => r.method !== 'GET' && r.path.includes(shared.certId));
    expect(touched).toEqual([]);
    expect(fastly.requests.some((r) => r.method === 'DELETE' && r.path.startsWith('/tls/bulk/certificates'))).toBe(false);
    expect(fastly.keys.has(shared.keyId)).toBe(true);
    const sharedNow = fastly.certs.get(shared.certId);
    expect(sharedNow?.domains).toEqual([DOMAIN, OTHER]);
    expect(sharedNow?.disabledDomains).toEqual([]);
    expect(fastly.servingCertificate(OTHER)?.id).toBe(shared.certId);
    expect(fastly.servingCertificate(DOMAIN)?.id).toBe(ownId);
    expect(fastly.servingCertificate(`www.${DOMAIN}`)?.id).toBe(ownId);
  });
});

describe("Fastly's write allowance used up", () => {
  it('the upload is held back, not sent: the domain is deferred naming the reset time; after the reset a run uploads it without a new order', async () => {
    const fastly = h.shared.fastly;
    // The service and its Fastly client, on a clock the test can move forward by the hour.
    let offsetMs = 0;
    const now = () => Date.now() + offsetMs;
    const client = createFastlyTls({
      apiToken: FASTLY_TOKEN,
      apiUrl: fastly.url,
      logger: pino({ level: 'silent' }),
      allowUntrustedRoot: true,
      now,
    });
    const service = await startHarness({ shared: h.shared, compose: { clock: { now: () => new Date(now()) }, overrides: { fastly: client } } });
    try {
    const domain = 'd2.z50.test';
    await h.addDomain(domain, 'z50.test');
    fastly.exhaustRateLimit(); // another client of the same Fastly user spent the hour's 1,000 writes
    const before = fastly.requests.length;
    const held = await service.run('/process');
    expect(held.status).toBe(200);
    expect(held.doc.results).toMatchObject([{ domain, outcome: 'deferred' }]);
    const resetIso = new Date(Math.ceil(fastly.rateLimitState().resetAt!.getTime() / 1000) * 1000).toISOString(); // Fastly-RateLimit-Reset: epoch seconds
    const message = held.doc.results[0]?.messages.join(' ') ?? '';
    expect(message).toContain(`Fastly's API write allowance is used up until ${resetIso}: the certificate stays stored and is uploaded then, without a new order`);
    // Not a failure: no backoff, no failure count; the stored certificate waits for the reset.
    const db = service.components.database.client;
    expect(await db.domainState.findFirstOrThrow({ where: { domain: { name: domain } } })).toMatchObject({ phase: 'stored', failureCount: 0, backoffUntil: null });
    // One write found the allowance gone (429); nothing was sent after that.
    const writes = fastly.requests.slice(before).filter((r) => r.method !== 'GET');
    expect(writes).toHaveLength(1);
    expect([...fastly.certs.values()].some((c) => c.domains.includes(domain))).toBe(false);

    // Until the reset a run leaves it alone.
    expect((await service.run('/process')).doc.results).toEqual([]);
    fastly.endRateLimitWindow(); // the hour passes, for Fastly and for AutoTLS
    offsetMs = 3_600_000;
    const next = await service.run('/process');
    expect(next.status, JSON.stringify(next.doc.results)).toBe(200);
    expect(next.doc.results).toMatchObject([{ domain, outcome: 'issued' }]);
    expect([...fastly.certs.values()].filter((c) => c.domains.includes(domain))).toHaveLength(1);
    expect(await db.acmeOrder.count({ where: { domain } })).toBe(1);
    } finally {
      await service.stop();
    }
  });
});
