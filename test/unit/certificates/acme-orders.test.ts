// newOrder and finalize are not idempotent: after a server error or a lost
// answer they are not sent again blindly (issue 14 item 7). Against the small
// RFC 8555 server of fake-acme.ts.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { AcmeIssuer, AcmeOrderError, type IssueHooks } from '../../../src/certificates/acme.js';
import { createLogger } from '../../../src/logger.js';
import { FakeAcme, noDns } from './fake-acme.js';

const logger = createLogger({ level: 'silent' });
const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const hooks: IssueHooks = { publisher: noDns };
const req = { domain: 'shop.example', zone: 'shop.example', keyType: 'ec256' as const };
const serverError = { status: 500, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'boom', status: 500 } };

let fake: FakeAcme;
beforeAll(async () => { fake = await FakeAcme.start(); });
afterEach(() => fake.reset());
afterAll(async () => { await fake.close(); });

const connect = (timeoutMs?: number) =>
  AcmeIssuer.connect({ directoryUrl: fake.directoryUrl, accountKeyPem, logger, clock: systemClock, ...(timeoutMs ? { timeoutMs } : {}) });

describe('newOrder after an answer that may hide a created order', () => {
  it('is not sent again when the account has no order list (Let\'s Encrypt), and the error says the order may exist', async () => {
    fake.inject('new-order', { ...serverError, afterProcessing: true });
    const issuer = await connect();
    const error = await issuer.issue(req, hooks).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeOrderError);
    expect((error as Error).message).toMatch(/^ACME newOrder failed: serverInternal: boom \(HTTP 500\); the order may exist at the CA and was not sent again/);
    expect(fake.count('new-order')).toBe(1);
  });

  it('is not sent again after a timeout either', async () => {
    fake.inject('new-order', { status: 0, hang: true });
    const issuer = await connect(300);
    const error = await issuer.issue(req, hooks).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^ACME newOrder failed: autotls:unknownOutcome: ACME newOrder request failed: timed out after 300 ms; the order may exist/);
    expect(fake.count('new-order')).toBe(1);
  });

  it('takes over the order the CA did create, found in the account\'s order list, instead of ordering twice', async () => {
    fake.orderList = true;
    fake.inject('new-order', { ...serverError, afterProcessing: true });
    const issuer = await connect();
    const before = fake.orders.size;
    const cert = await issuer.issue(req, hooks);
    expect(fake.count('new-order')).toBe(1);
    expect(fake.orders.size).toBe(before + 1);
    expect(cert.orderUrl).toBe(`${fake.base}/order/${[...fake.orders.keys()].at(-1)}`);
    expect(fake.count('orders')).toBe(1);
  });

  it('is sent again when the order list shows the CA did not create it', async () => {
    fake.orderList = true;
    fake.inject('new-order', serverError);
    const issuer = await connect();
    const cert = await issuer.issue(req, hooks);
    expect(fake.seen.filter((r) => r.resource === 'new-order').map((r) => r.status)).toEqual([500, 201]);
    expect(cert.fullchainPem).toContain('BEGIN CERTIFICATE');
  });

  it('does not take over an order for other names or another profile', async () => {
    fake.orderList = true;
    fake.profiles = { classic: '90 days', tlsserver: '45 days' };
    const issuer = await connect();
    // Orders another run left ready: other names, and the same names with another profile.
    fake.seedOrder(['other.example', '*.other.example']);
    fake.seedOrder(['shop.example', '*.shop.example'], 'classic');
    fake.inject('new-order', serverError);
    const cert = await issuer.issue({ ...req, profile: 'tlsserver' }, hooks);
    expect(fake.seen.filter((r) => r.resource === 'new-order').map((r) => r.status)).toEqual([500, 201]);
    expect(fake.seen.filter((r) => r.resource === 'new-order').at(-1)?.payload).toMatchObject({ profile: 'tlsserver' });
    expect(cert.orderUrl).toBe(`${fake.base}/order/${[...fake.orders.keys()].at(-1)}`);
  });
});

describe('finalize after a server error or a lost answer', () => {
  it('reads the order again and does not finalize twice when the CA took the CSR', async () => {
    fake.inject('finalize', { ...serverError, afterProcessing: true });
    const issuer = await connect();
    const cert = await issuer.issue(req, hooks);
    expect(fake.count('finalize')).toBe(1);
    expect(cert.fullchainPem).toContain('BEGIN CERTIFICATE');
  });

  it('finalizes again while the order is still ready', async () => {
    fake.inject('finalize', { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'busy' }, headers: { 'retry-after': '1' } });
    const issuer = await connect();
    const started = Date.now();
    const cert = await issuer.issue(req, hooks);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // Retry-After: 1 honoured
    expect(fake.seen.filter((r) => r.resource === 'finalize').map((r) => r.status)).toEqual([503, 200]);
    expect(cert.serial).toMatch(/^7f/);
  });

  it('fails, naming when to retry, when Retry-After is beyond the 30 s cap', async () => {
    fake.inject('finalize', { status: 503, body: { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'maintenance' }, headers: { 'retry-after': '3600' } });
    const issuer = await connect();
    const started = Date.now();
    const error = await issuer.issue(req, hooks).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(AcmeOrderError);
    expect((error as Error).message).toMatch(/^ACME finalize failed: serverInternal: the CA is unavailable \(HTTP 503\) and asks to retry after \d{4}-\d\d-\d\dT/);
    expect(fake.count('finalize')).toBe(1);
  });
});
