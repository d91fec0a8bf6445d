import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deployToFastly, isOwnCertificate, privateKeyName } from '../../../src/storage/fastly-deploy.js';
import { createFastlyTls, type FastlyTls } from '../../../src/storage/fastly.js';
import { startFastlyFake, type FastlyFake } from '../../testbed/fastly-fake.js';
import { createTestPki, type TestPki } from './pki.js';

const TOKEN = 'deploy-token-0123456789';
let fake: FastlyFake;
let pki: TestPki;
let fastly: FastlyTls;

beforeAll(async () => {
  fake = await startFastlyFake({ token: TOKEN });
  pki = createTestPki();
  fastly = createFastlyTls({ apiToken: TOKEN, apiUrl: fake.url, logger: pino({ level: 'silent' }), allowUntrustedRoot: true, retryBaseDelayMs: 10 });
});
afterAll(async () => {
  await fake.stop();
  pki.cleanup();
});
beforeEach(() => fake.reset());

describe('deployToFastly', () => {
  it('creates the bulk certificate the first time, with the seed key name', async () => {
    const leaf = pki.issue(['example.com', '*.example.com']);
    const result = await deployToFastly(fastly, { domain: 'example.com', privateKeyPem: leaf.keyPem, fullchainPem: leaf.fullchain, configurationId: 'cfg' });
    expect(result.action).toBe('created');
    expect(result.privateKey.name).toBe(privateKeyName('example.com'));
    expect(result.certificate.domains).toEqual(['example.com', '*.example.com']);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /tls/private_keys',
      'GET /tls/bulk/certificates',
      'POST /tls/bulk/certificates',
    ]);
  });

  it('replaces in place the next time and deletes only this domain\'s old key', async () => {
    const first = pki.issue(['example.com', '*.example.com']);
    const created = await deployToFastly(fastly, { domain: 'example.com', privateKeyPem: first.keyPem, fullchainPem: first.fullchain, configurationId: 'cfg' });
    // Another domain's key, uploaded by a run that has not uploaded its certificate yet.
    const other = pki.issue(['other.example']);
    const otherKey = await fastly.uploadPrivateKey(other.keyPem, privateKeyName('other.example'));

    const second = pki.issue(['example.com', '*.example.com'], { days: 120 });
    const result = await deployToFastly(fastly, { domain: 'example.com', privateKeyPem: second.keyPem, fullchainPem: second.fullchain, configurationId: 'cfg' });
    expect(result.action).toBe('replaced');
    expect(result.certificate.id).toBe(created.certificate.id);
    expect(result.deletedKeyIds).toEqual([created.privateKey.id]);
    expect([...fake.keys.keys()].sort()).toEqual([result.privateKey.id, otherKey.id].sort());
    expect(fake.certs.size).toBe(1);
    expect(fake.requests.some((r) => r.method === 'DELETE' && r.path.startsWith('/tls/bulk/certificates'))).toBe(false);
  });

  it('a failed key cleanup does not fail the deployment', async () => {
    const first = pki.issue(['c.example']);
    await deployToFastly(fastly, { domain: 'c.example', privateKeyPem: first.keyPem, fullchainPem: first.fullchain, configurationId: 'cfg' });
    fake.inject({ type: 'status', status: 400, method: 'DELETE', path: /^\/tls\/private_keys\// });
    const second = pki.issue(['c.example']);
    const result = await deployToFastly(fastly, { domain: 'c.example', privateKeyPem: second.keyPem, fullchainPem: second.fullchain, configurationId: 'cfg' });
    expect(result.action).toBe('replaced');
    expect(result.deletedKeyIds).toEqual([]);
  });

  it('a domain on a certificate shared with other names gets one of its own; the shared one is never PATCHed or deleted, its key kept', async () => {
    // Someone else's certificate covering d1.test and other.example.
    const shared = pki.issue(['d1.test', 'other.example']);
    const sharedKey = await fastly.uploadPrivateKey(shared.keyPem, 'shared private key');
    const sharedCert = await fastly.createBulkCertificate(shared.certPem, shared.intermediatesPem, 'cfg-shared');
    fake.requests.length = 0;

    const first = pki.issue(['d1.test', '*.d1.test']);
    const created = await deployToFastly(fastly, { domain: 'd1.test', privateKeyPem: first.keyPem, fullchainPem: first.fullchain, configurationId: 'cfg' });
    expect(created.action).toBe('created');
    expect(created.certificate.id).not.toBe(sharedCert.id);
    expect(created.certificate.domains).toEqual(['d1.test', '*.d1.test']);
    expect(created.certificate.configurationIds).toEqual(['cfg']);
    expect(created.sharedCertificateIds).toEqual([sharedCert.id]);
    expect(fake.certs.get(sharedCert.id)?.domains).toEqual(['d1.test', 'other.example']);
    // Fastly serves d1.test from the newer upload, other.example still from the shared one.
    expect(fake.servingCertificate('d1.test')?.id).toBe(created.certificate.id);
    expect(fake.servingCertificate('other.example')?.id).toBe(sharedCert.id);

    // The renewal replaces the domain's own certificate in place and deletes its old key.
    const second = pki.issue(['d1.test', '*.d1.test'], { days: 120 });
    const renewed = await deployToFastly(fastly, { domain: 'd1.test', privateKeyPem: second.keyPem, fullchainPem: second.fullchain, configurationId: 'cfg' });
    expect(renewed.action).toBe('replaced');
    expect(renewed.certificate.id).toBe(created.certificate.id);
    expect(renewed.deletedKeyIds).toEqual([created.privateKey.id]);

    const writes = fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(writes.filter((w) => w.includes(sharedCert.id))).toEqual([]);
    expect(writes.some((w) => w.startsWith('DELETE /tls/bulk/certificates'))).toBe(false);
    expect(fake.keys.has(sharedKey.id)).toBe(true);
    expect(fake.certs.get(sharedCert.id)?.disabledDomains).toEqual([]);
    expect(fake.servingCertificate('other.example')?.id).toBe(sharedCert.id);
    expect(fake.certs.size).toBe(2);
  });

  it('only a certificate whose names all lie within the domain and its wildcard counts as its own', () => {
    const cert = (domains: string[]) => ({ id: 'x', notAfter: new Date(), notBefore: new Date(), createdAt: new Date(), domains, configurationIds: [] });
    expect(isOwnCertificate(cert(['d1.test', '*.d1.test']), 'd1.test')).toBe(true);
    expect(isOwnCertificate(cert(['d1.test']), 'D1.test')).toBe(true);
    expect(isOwnCertificate(cert(['d1.test', 'other.example']), 'd1.test')).toBe(false);
    expect(isOwnCertificate(cert(['d1.test', 'www.d1.test']), 'd1.test')).toBe(false);
    expect(isOwnCertificate(cert([]), 'd1.test')).toBe(false);
  });

  it('a certificate upload that times out after landing is found and used, not sent again', async () => {
    const short = createFastlyTls({ apiToken: TOKEN, apiUrl: fake.url, logger: pino({ level: 'silent' }), allowUntrustedRoot: true, timeoutMs: 300 });
    fake.inject({ type: 'hang', afterProcessing: true, method: 'POST', path: '/tls/bulk/certificates' });
    const leaf = pki.issue(['t.example', '*.t.example']);
    const result = await deployToFastly(short, { domain: 't.example', privateKeyPem: leaf.keyPem, fullchainPem: leaf.fullchain, configurationId: 'cfg' });
    expect(result.action).toBe('created');
    expect(fake.certs.size).toBe(1);
    expect(result.certificate.id).toBe([...fake.certs.keys()][0]);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates')).toHaveLength(1);
  });

  it('a certificate upload that timed out before landing fails, says so, and is not sent again', async () => {
    const short = createFastlyTls({ apiToken: TOKEN, apiUrl: fake.url, logger: pino({ level: 'silent' }), allowUntrustedRoot: true, timeoutMs: 300 });
    fake.inject({ type: 'hang', method: 'POST', path: '/tls/bulk/certificates' });
    const leaf = pki.issue(['u.example']);
    await expect(
      deployToFastly(short, { domain: 'u.example', privateKeyPem: leaf.keyPem, fullchainPem: leaf.fullchain, configurationId: 'cfg' }),
    ).rejects.toThrow(/Fastly create bulk certificate timed out; Fastly lists no such certificate, so it was not created/);
    expect(fake.certs.size).toBe(0);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates')).toHaveLength(1);
  });
});
