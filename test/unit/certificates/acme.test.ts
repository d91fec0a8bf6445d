// AcmeIssuer behaviour that needs no CA: unreachable or non-ACME endpoints on
// loopback, Retry-After parsing, and the protocol against the small RFC 8555
// server of fake-acme.ts. The protocol itself is tested against Pebble in
// test/integration/certificates/acme.test.ts.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { AcmeError, AcmeIssuer, AcmeNetworkError, AcmeOrderError, AcmeProfileError, AcmeRateLimitedError } from '../../../src/certificates/acme.js';
import { ariCertId, readCertificate } from '../../../src/certificates/x509.js';
import { createLogger } from '../../../src/logger.js';
import { FakeAcme, noDns } from './fake-acme.js';

const logger = createLogger({ level: 'silent' });
const clock = new FakeClock('2026-03-01T00:00:00Z');
const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/not-acme') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world' }));
    } else if (req.url === '/limited') {
      res.writeHead(429, { 'retry-after': '90', 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', status: 429 }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('AcmeIssuer.connect failures', () => {
  it('reports a refused connection as AcmeNetworkError with its code, after bounded retries', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const statuses: string[] = [];
    const started = Date.now();
    const error = await AcmeIssuer.connect({
      directoryUrl: `http://127.0.0.1:${port}/dir`, accountKeyPem, logger, clock,
      onRequest: (endpoint, status) => statuses.push(`${endpoint} ${status}`),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect((error as Error).message).toBe('ACME directory request failed: ECONNREFUSED');
    expect(statuses).toEqual(['directory 0', 'directory 0', 'directory 0']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('rejects a URL that is not an ACME directory', async () => {
    const error = await AcmeIssuer.connect({ directoryUrl: `${base}/not-acme`, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeOrderError);
    expect((error as Error).message).toMatch(/is not an ACME directory/);
  });

  it('turns a 429 on the directory into AcmeRateLimitedError at once', async () => {
    const error = await AcmeIssuer.connect({ directoryUrl: `${base}/limited`, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeRateLimitedError);
    expect((error as AcmeRateLimitedError).retryAfter).toEqual(new Date('2026-03-01T00:01:30Z'));
    expect((error as AcmeRateLimitedError).endpoint).toBe('directory');
    expect(seen.filter((u) => u === '/limited')).toHaveLength(1);
  });
});


describe('AcmeIssuer against a small RFC 8555 server (fake-acme.ts)', () => {
  let fake: FakeAcme;
  beforeAll(async () => { fake = await FakeAcme.start(); });
  afterEach(() => fake.reset());
  afterAll(async () => { await fake.close(); });
  const req = { domain: 'shop.example', zone: 'shop.example', keyType: 'ec256' as const };
  const connect = () => AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock });

  it('sends `replaces` only when the directory offers renewalInfo (RFC 9773 §5)', async () => {
    const without = await connect();
    const a = await without.issue({ ...req, replaces: 'AAAA.BBBB' }, { publisher: noDns });
    expect(a.replacesAccepted).toBe(false);
    expect(fake.seen.filter((r) => r.resource === 'new-order').at(-1)?.payload).not.toHaveProperty('replaces');

    fake.renewalInfo = true;
    const withAri = await connect();
    const created: Array<{ orderUrl: string; replaces?: string }> = [];
    const b = await withAri.issue({ ...req, replaces: 'AAAA.BBBB' }, { publisher: noDns, onOrderCreated: (o) => { created.push(o); } });
    expect(b.replacesAccepted).toBe(true);
    expect(created[0]?.replaces).toBe('AAAA.BBBB');
    expect(fake.seen.filter((r) => r.resource === 'new-order').at(-1)?.payload).toMatchObject({ replaces: 'AAAA.BBBB' });
  });

  it('issues a certificate with an EMPTY subject (tlsserver/shortlived, Pebble 2.7) and reads its ARI window by CertID', async () => {
    fake.renewalInfo = true;
    const issuer = await connect();
    const cert = await issuer.issue(req, { publisher: noDns });
    const info = readCertificate(cert.fullchainPem);
    expect(info.commonName).toBeUndefined();
    expect(info.dnsNames.sort()).toEqual(['*.shop.example', 'shop.example']);
    expect(cert.certId).toBe(ariCertId(cert.fullchainPem));
    const window = await issuer.renewalInfo(cert.certId as string);
    expect(window?.suggestedWindow.start).toEqual(new Date('2026-06-10T00:00:00Z'));
    expect(fake.seen.find((r) => r.resource === 'renewal-info')).toBeDefined();
  });

  it('names the step when the downloaded certificate cannot be read', async () => {
    fake.certificateOverride = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const issuer = await connect();
    const error = await issuer.issue(req, { publisher: noDns }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeError);
    expect((error as Error).message).toMatch(/^reading the issued certificate: Unparseable X\.509 certificate/);
  });

  it('refuses an unknown ACME_PROFILE, naming it and the profiles on offer, before ordering', async () => {
    fake.profiles = { classic: '90 days', tlsserver: '45 days', shortlived: '160 hours' };
    const issuer = await connect();
    const error = await issuer.issue({ ...req, profile: 'longlived' }, { publisher: noDns }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProfileError);
    expect((error as AcmeProfileError).requested).toBe('longlived');
    expect((error as AcmeProfileError).offered).toEqual(['classic', 'tlsserver', 'shortlived']);
    expect((error as Error).message).toBe('ACME profile "longlived" is not offered by this CA; offered profiles: classic, tlsserver, shortlived (set ACME_PROFILE to one of them, or leave it unset)');
    expect(fake.count('new-order')).toBe(0);
  });
});
