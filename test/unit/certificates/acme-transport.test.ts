// The transport under the order protocol: the caller's abort signal reaches
// requests in flight, Retry-After on 503 is honoured within a cap, and the
// directory is read again after its TTL or when a profile is not found
// (issue 14 items 7 and 8). Against the small RFC 8555 server of fake-acme.ts.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../../src/clock.js';
import { AcmeError, AcmeIssuer, AcmeOrderError, AcmeProfileError } from '../../../src/certificates/acme.js';
import { DIRECTORY_TTL_MS } from '../../../src/certificates/acme-transport.js';
import { createLogger } from '../../../src/logger.js';
import { FakeAcme, noDns } from './fake-acme.js';

const logger = createLogger({ level: 'silent' });
const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const req = { domain: 'shop.example', zone: 'shop.example', keyType: 'ec256' as const };

let fake: FakeAcme;
beforeAll(async () => { fake = await FakeAcme.start(); });
afterEach(() => fake.reset());
afterAll(async () => { await fake.close(); });

describe('the abort signal of IssueHooks', () => {
  it('cancels a request in flight at once, long before its timeout', async () => {
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock, timeoutMs: 30_000 });
    fake.inject('new-order', { status: 0, hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('AutoTLS is shutting down')), 300);
    const started = Date.now();
    const error = await issuer.issue(req, { publisher: noDns, signal: controller.signal }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(AcmeError);
    expect((error as Error).message).toBe('ACME newOrder request: aborted (AutoTLS is shutting down)');
    expect(fake.seen.filter((r) => r.resource === 'new-order')).toHaveLength(1);
  });

  it('reaches renewalInfo too', async () => {
    fake.renewalInfo = true;
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock, timeoutMs: 30_000 });
    const cert = await issuer.issue(req, { publisher: noDns });
    fake.inject('renewal-info', { status: 0, hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 200);
    const error = await issuer.renewalInfo(cert.certId as string, controller.signal).catch((e: unknown) => e);
    expect((error as Error).message).toBe('ACME renewalInfo request: aborted (stop)');
  });
});

describe('Retry-After on 503', () => {
  it('is waited for on an idempotent request (POST-as-GET of the order), then the request is sent again', async () => {
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock });
    fake.inject('order', { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'busy' }, headers: { 'retry-after': '1' } });
    const started = Date.now();
    await issuer.issue(req, { publisher: noDns });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(fake.seen.filter((r) => r.resource === 'order').map((r) => r.status).slice(0, 2)).toEqual([503, 200]);
  });

  it('fails at once, saying when to retry, beyond the 30 s cap', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    fake.inject('dir', { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'maintenance' }, headers: { 'retry-after': '7200' } });
    const error = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeOrderError);
    expect((error as Error).message).toBe('ACME directory failed: serverInternal: the CA is unavailable (HTTP 503) and asks to retry after 2026-03-01T02:00:00.000Z');
    expect(fake.count('dir')).toBe(1);
  });
});

describe('the directory', () => {
  it('is read again once its TTL has passed, not for the life of the process', async () => {
    const clock = new FakeClock('2026-03-01T00:00:00Z');
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock });
    await issuer.issue(req, { publisher: noDns });
    expect(fake.count('dir')).toBe(1);
    fake.profiles = { classic: '90 days', shortlived: '160 hours' };
    clock.advance(DIRECTORY_TTL_MS + 1);
    expect(await issuer.profiles()).toEqual({ classic: '90 days', shortlived: '160 hours' });
    expect(fake.count('dir')).toBe(2);
  });

  it('is read again when a requested profile is missing from it (the CA added one)', async () => {
    fake.profiles = { classic: '90 days' };
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock });
    fake.profiles = { classic: '90 days', tlsserver: '45 days' };
    await issuer.issue({ ...req, profile: 'tlsserver' }, { publisher: noDns });
    expect(fake.seen.find((r) => r.resource === 'new-order')?.payload).toMatchObject({ profile: 'tlsserver' });
    expect(fake.count('dir')).toBe(2);
  });

  it('is read again when newOrder refuses the profile, and the error lists what is offered now', async () => {
    fake.profiles = { classic: '90 days', shortlived: '160 hours' };
    const issuer = await AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock });
    fake.profiles = { classic: '90 days' }; // the CA withdrew shortlived
    fake.inject('new-order', { status: 400, body: { type: 'urn:ietf:params:acme:error:invalidProfile', detail: 'profile "shortlived" is not supported' } });
    const error = await issuer.issue({ ...req, profile: 'shortlived' }, { publisher: noDns }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProfileError);
    expect((error as Error).message).toBe('ACME profile "shortlived" is not offered by this CA; offered profiles: classic (set ACME_PROFILE to one of them, or leave it unset)');
  });
});
