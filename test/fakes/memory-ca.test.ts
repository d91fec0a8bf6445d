import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { AcmeNetworkError, AcmeOrderGoneError, AcmeProfileError, AcmeRateLimitedError, AcmeValidationError } from '../../src/certificates/errors.js';
import { newKeyAndCsr, type KeyAndCsr } from '../../src/certificates/keys.js';
import { ariCertId, readCertificate, splitFullchain } from '../../src/certificates/x509.js';
import type { ChallengePublisher } from '../../src/dns/challenge.js';
import { probeLiveCertificate } from '../../src/domains/probe.js';
import { LETS_ENCRYPT_ISSUER } from '../../src/domains/repository.js';
import { DAY, HOUR, TestClock } from './clock.js';
import { lifetimeMs, MemoryCa, RATE_LIMITED, simpleWindow } from './memory-ca.js';
import { MemoryDns } from './memory-dns.js';

// The CA checks the CSR's names against the order's, so each domain has its own CSR.
const keysFor = new Map<string, KeyAndCsr>();
let keys: KeyAndCsr;
beforeAll(async () => {
  for (const d of ['a.test', 'b.test', 'c.test', 'a.example.com', 'b.example.com', 'c.example.com']) keysFor.set(d, await newKeyAndCsr(d, 'ec256'));
  keys = keysFor.get('a.test')!;
});

function setup(start = '2027-01-01T00:00:00Z', options: Partial<ConstructorParameters<typeof MemoryCa>[0]> = {}) {
  const clock = new TestClock(start);
  const dns = new MemoryDns({ clock });
  const ca = new MemoryCa({ clock, dns, ...options });
  return { clock, dns, ca, publisher: dns.publisher() };
}

const req = (domain = 'a.test', extra: Record<string, unknown> = {}) => ({ domain, zone: 'Z', keyType: 'ec256' as const, keys: keysFor.get(domain)!, ...extra });

describe('MemoryCa', () => {
  it('issues a real certificate with an empty subject, both names, an AKI and the classic lifetime', async () => {
    const { ca, publisher, clock } = setup();
    const cert = await ca.issue(req(), { publisher });
    const leaf = splitFullchain(cert.fullchainPem).leafPem;
    const x509 = new X509Certificate(leaf);
    expect(x509.subject ?? '').toBe('');
    expect(readCertificate(leaf).dnsNames).toEqual(['a.test', '*.a.test']);
    expect(cert.certId).toBe(ariCertId(leaf));
    expect(x509.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(keys.privateKeyPem)))).toBe(true);
    // The leaf verifies against the intermediate that follows it.
    const intermediate = new X509Certificate(splitFullchain(cert.fullchainPem).intermediatesPem[0] as string);
    expect(x509.verify(intermediate.publicKey)).toBe(true);
    expect(cert.notBefore.getTime()).toBe(clock.now().getTime() - HOUR);
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(90 * DAY - 1000);
    expect(ca.stats).toMatchObject({ newOrders: 1, issued: 1 });
  });

  it('follows the lifetime schedule by issuance date and profile', () => {
    expect(lifetimeMs('classic', new Date('2027-02-09T23:59:59Z'))).toBe(90 * DAY);
    expect(lifetimeMs('classic', new Date('2027-02-10T00:00:00Z'))).toBe(64 * DAY);
    expect(lifetimeMs('classic', new Date('2028-02-16T00:00:00Z'))).toBe(45 * DAY);
    expect(lifetimeMs('tlsserver', new Date('2027-01-01T00:00:00Z'))).toBe(45 * DAY);
    expect(lifetimeMs('shortlived', new Date('2027-01-01T00:00:00Z'))).toBe(160 * HOUR);
  });

  it('issues shortlived certificates of 160 hours and refuses an unknown profile, naming those offered', async () => {
    const { ca, publisher } = setup();
    const cert = await ca.issue(req('a.test', { profile: 'shortlived' }), { publisher });
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(160 * HOUR - 1000);
    await expect(ca.issue(req('a.test', { profile: 'nope' }), { publisher })).rejects.toThrow(AcmeProfileError);
    await expect(ca.issue(req('a.test', { profile: 'nope' }), { publisher })).rejects.toThrow(/classic, tlsserver, shortlived/);
  });

  it('puts the ARI window around two thirds of the lifetime, and in the past once a revocation is announced', async () => {
    const { ca, publisher, clock } = setup();
    const cert = await ca.issue(req(), { publisher });
    const info = await ca.renewalInfo(cert.certId as string);
    expect(info?.suggestedWindow).toEqual(simpleWindow(cert.notBefore, cert.notAfter));
    const lifetime = cert.notAfter.getTime() + 1000 - cert.notBefore.getTime();
    const middle = (info!.suggestedWindow.start.getTime() + info!.suggestedWindow.end.getTime()) / 2;
    expect(middle - cert.notBefore.getTime()).toBeCloseTo((lifetime * 2) / 3, -4);
    expect(info?.retryAfterSeconds).toBe(21600);

    ca.announceRevocation(cert.serial, 24);
    const revoked = await ca.renewalInfo(cert.certId as string);
    expect(revoked!.suggestedWindow.end.getTime()).toBeLessThan(clock.now().getTime());
    expect(revoked?.explanationUrl).toMatch(/^https:/);
    expect(ca.isRevoked(cert.serial)).toBe(false);
    clock.advanceHours(24);
    expect(ca.isRevoked(cert.serial)).toBe(true);
  });

  it('answers renewalInfo by the CertID of its own certificates, and 404s an unknown one as Boulder does', async () => {
    const { ca, publisher } = setup();
    const cert = await ca.issue(req(), { publisher });
    const expected = simpleWindow(cert.notBefore, cert.notAfter);
    // The CertID computed from the PEM (RFC 9773 §4.1) is the one the CA returned.
    expect(ariCertId(cert.fullchainPem)).toBe(cert.certId);
    expect((await ca.renewalInfo(cert.certId as string))?.suggestedWindow).toEqual(expected);
    await expect(ca.renewalInfo('AAAA.BBBB')).rejects.toThrow(/Certificate not found/);
    expect(ca.stats.renewalInfoRequests).toBe(2);
  });

  it('fails validation when the TXT value is absent, in Boulder\'s words, and counts the failure', async () => {
    const { ca, clock } = setup();
    const silent: ChallengePublisher = {
      clearStale: async () => undefined,
      publish: async (_d, zone, values) => ({ fqdn: '_acme-challenge.a.test', zone, values }),
      cleanup: async () => undefined,
    };
    const error = await ca.issue(req(), { publisher: silent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeValidationError);
    expect((error as AcmeValidationError).detail).toMatch(/NXDOMAIN looking up TXT for _acme-challenge.a.test/);
    expect(ca.stats.failedValidations).toBe(1);
    // Five failures per identifier per hour; the sixth order is refused.
    for (let i = 0; i < 4; i++) await ca.issue(req(), { publisher: silent }).catch(() => undefined);
    const limited = await ca.issue(req(), { publisher: silent }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(AcmeRateLimitedError);
    expect((limited as AcmeRateLimitedError).detail).toMatch(/^too many failed authorizations \(5\) for "a.test" in the last 1h0m0s, retry after /);
    // GCRA: one failure refills every 12 minutes.
    expect((limited as AcmeRateLimitedError).retryAfter!.getTime() - clock.now().getTime()).toBe(12 * 60_000);
    expect(ca.rejections[0]).toMatchObject({ limit: 'failedAuthorizationsPerIdentifier' });
    expect(RATE_LIMITED).toBe('urn:ietf:params:acme:error:rateLimited');
  });

  it('sees a foreign TXT value beside ours and leaves it there', async () => {
    const { ca, dns, publisher } = setup();
    dns.addForeignTxt('_acme-challenge.a.test', 'someone-else');
    await ca.issue(req(), { publisher });
    expect(dns.txtAt('_acme-challenge.a.test')).toEqual(['someone-else']);
  });

  it('allows 5 duplicate certificates per exact set of names per 7 days', async () => {
    const { ca, publisher, clock } = setup();
    for (let i = 0; i < 5; i++) await ca.issue(req(), { publisher });
    const error = (await ca.issue(req(), { publisher }).catch((e: unknown) => e)) as AcmeRateLimitedError;
    expect(error).toBeInstanceOf(AcmeRateLimitedError);
    expect(error.detail).toMatch(/^too many certificates \(5\) already issued for this exact set of identifiers in the last 168h0m0s/);
    expect(error.retryAfter!.getTime() - clock.now().getTime()).toBeCloseTo((7 * DAY) / 5, -4);
    expect(ca.stats.newOrders).toBe(5);
  });

  it('allows 50 new certificates per registered domain per 7 days, renewals exempt', async () => {
    const { ca, publisher } = setup('2027-01-01T00:00:00Z', { limits: { certificatesPerDomain: { count: 2 } } });
    await ca.issue(req('a.example.com'), { publisher });
    await ca.issue(req('b.example.com'), { publisher });
    // A renewal of an exact set issued before is not a new certificate for the registered domain.
    await ca.issue(req('a.example.com'), { publisher });
    const error = (await ca.issue(req('c.example.com'), { publisher }).catch((e: unknown) => e)) as AcmeRateLimitedError;
    expect(error.detail).toMatch(/^too many certificates \(2\) already issued for "example.com" in the last 168h0m0s/);
  });

  it('allows 300 new orders per 3 hours per account, refilling one every 36 s', async () => {
    const { ca, publisher, clock } = setup('2027-01-01T00:00:00Z', { limits: { newOrdersPerAccount: { count: 2 } } });
    const first = await ca.issue(req('a.test'), { publisher });
    await ca.issue(req('b.test'), { publisher });
    const error = (await ca.issue(req('c.test'), { publisher }).catch((e: unknown) => e)) as AcmeRateLimitedError;
    expect(error.detail).toMatch(/^too many new orders \(2\) from this account in the last 3h0m0s/);
    expect(error.retryAfter!.getTime() - clock.now().getTime()).toBe(90 * 60_000);
    // `replaces` before the certificate's window has started is no exemption.
    const early = await ca.issue(req('a.test', { replaces: first.certId }), { publisher }).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(AcmeRateLimitedError);
    expect(ca.certificate(first.certId!)?.replacedBy).toBeUndefined();
  });

  it('exempts an ARI renewal inside the window from every limit and marks the replacement', async () => {
    const { ca, publisher, clock } = setup('2027-01-01T00:00:00Z', { limits: { newOrdersPerAccount: { count: 1 } } });
    const first = await ca.issue(req('a.test'), { publisher });
    clock.set(simpleWindow(first.notBefore, first.notAfter).start);
    await ca.issue(req('b.test'), { publisher }); // uses the one order of the window
    const renewed = await ca.issue(req('a.test', { replaces: first.certId }), { publisher });
    expect(renewed.replacesAccepted).toBe(true);
    expect(ca.certificate(first.certId!)?.replacedBy).toBe(renewed.orderUrl);
    // `replaces` naming an already replaced certificate is dropped (AcmeIssuer orders again without it).
    clock.advanceHours(3);
    const again = await ca.issue(req('a.test', { replaces: first.certId }), { publisher });
    expect(again.replacesAccepted).toBe(false);
  });

  it('resumes an order a crashed run left, by URL, without a new order', async () => {
    const { ca, publisher } = setup();
    ca.faults.failAfterOrderCreated = 1;
    let orderUrl = '';
    const error = await ca.issue(req(), { publisher, onOrderCreated: (o) => void (orderUrl = o.orderUrl) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect(ca.orders.get(orderUrl)?.status).toBe('pending');
    const cert = await ca.resume(orderUrl, req(), { publisher });
    expect(cert.orderUrl).toBe(orderUrl);
    expect(ca.stats.newOrders).toBe(1);
    await expect(ca.resume('https://fake-acme.invalid/acme/order/1/999', req(), { publisher })).rejects.toThrow(AcmeOrderGoneError);
  });

  it('an expired pending order cannot be resumed', async () => {
    const { ca, publisher, clock } = setup();
    ca.faults.failAfterOrderCreated = 1;
    let orderUrl = '';
    await ca.issue(req(), { publisher, onOrderCreated: (o) => void (orderUrl = o.orderUrl) }).catch(() => undefined);
    clock.advanceDays(8);
    await expect(ca.resume(orderUrl, req(), { publisher })).rejects.toThrow(/expired/);
  });

  it('is unreachable during an outage and fails by percentage', async () => {
    const { ca, publisher, clock } = setup();
    ca.faults.outages.push({ start: clock.now(), end: new Date(clock.now().getTime() + HOUR) });
    await expect(ca.issue(req(), { publisher })).rejects.toThrow(AcmeNetworkError);
    clock.advanceHours(1);
    await ca.issue(req(), { publisher });
    ca.faults.failurePercent = 100;
    await expect(ca.issue(req(), { publisher })).rejects.toThrow(/serverInternal/);
    expect(ca.stats.faults).toBe(2);
  });

  it('without ARI it answers no renewal info and ignores `replaces`; an aborted issuance orders nothing', async () => {
    const { ca, publisher } = setup('2027-01-01T00:00:00Z', { ari: false });
    const first = await ca.issue(req(), { publisher });
    expect(await ca.renewalInfo(first.certId as string)).toBeUndefined();
    const second = await ca.issue(req('a.test', { replaces: first.certId }), { publisher });
    expect(second.replacesAccepted).toBe(false);
    const aborted = new AbortController();
    aborted.abort();
    await expect(ca.issue(req(), { publisher, signal: aborted.signal })).rejects.toThrow(/aborted/);
    expect(ca.stats.newOrders).toBe(2);
  });

  it('its certificates verify through OpenSSL: a TLS server serves one and the real probe trusts the chain', async () => {
    // OpenSSL checks validity against the real time.
    const { ca, publisher } = setup(new Date().toISOString());
    const cert = await ca.issue(req(), { publisher });
    const server = createServer({ key: cert.privateKeyPem, cert: cert.fullchainPem });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const probed = await probeLiveCertificate({ domain: 'www.a.test', host: '127.0.0.1', port, ca: ca.rootPem, tlsIssuer: LETS_ENCRYPT_ISSUER, isDue: () => false });
      expect(probed, probed.detail).toMatchObject({ status: 'ok', notAfter: cert.notAfter });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
