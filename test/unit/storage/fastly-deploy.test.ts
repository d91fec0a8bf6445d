import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deployToFastly, privateKeyName } from '../../../src/storage/fastly-deploy.js';
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
});
