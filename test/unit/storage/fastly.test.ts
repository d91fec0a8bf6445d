import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createFastlyTls,
  FastlyError,
  publicKeyFingerprints,
  type FastlyTls,
  type FastlyTlsOptions,
} from '../../../src/storage/fastly.js';
import { CertificateParseError, splitFullchain, splitPemCertificates as splitPemChain } from '../../../src/certificates/x509.js';
import { startFastlyFake, type FastlyFake } from '../../testbed/fastly-fake.js';
import { createTestPki, type TestPki } from './pki.js';

const TOKEN = 'test-fastly-token-0123456789';
const CONFIG_ID = 'tlsconfig0000000000001';
const logger = pino({ level: 'silent' });

let fake: FastlyFake;
let pki: TestPki;

beforeAll(async () => {
  fake = await startFastlyFake({ token: TOKEN });
  pki = createTestPki();
});
afterAll(async () => {
  await fake.stop();
  pki.cleanup();
});
beforeEach(() => fake.reset());

function client(overrides: Partial<FastlyTlsOptions> = {}): FastlyTls {
  return createFastlyTls({
    apiToken: TOKEN,
    apiUrl: fake.url,
    logger,
    allowUntrustedRoot: true,
    timeoutMs: 2_000,
    maxRetries: 2,
    retryBaseDelayMs: 10,
    ...overrides,
  });
}

// storage/fastly.ts used to have its own splitPemChain/splitFullchain; it now uses
// certificates/x509.ts, and these assertions hold against the shared helper.
describe('splitPemChain (certificates/x509 splitPemCertificates)', () => {
  it('splits a fullchain into normalised certificates, leaf first', () => {
    const leaf = pki.issue(['split.example']);
    const chain = splitPemChain(`${leaf.certPem}\r\n\r\n${leaf.intermediatesPem.replace(/\n/g, '\r\n')}${pki.rootPem}`);
    expect(chain).toHaveLength(3);
    for (const pem of chain) {
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
      expect(pem).not.toContain('\r');
    }
    expect(new X509Certificate(chain[0]!).subjectAltName).toBe('DNS:split.example');
    expect(splitPemChain('no pem here')).toEqual([]);
  });

  it('splitFullchain gives the leaf and the joined intermediates', () => {
    const leaf = pki.issue(['full.example']);
    const { leafPem: certPem, intermediatesPem: intermediates } = splitFullchain(leaf.fullchain);
    const intermediatesPem = intermediates.join('');
    expect(certPem.trim()).toBe(leaf.certPem.trim());
    expect(intermediatesPem.trim()).toBe(leaf.intermediatesPem.trim());
    expect(() => splitFullchain('')).toThrow(CertificateParseError);
  });
});

describe('FastlyTls against the fake, through the official client', () => {
  it('uploads a private key as a JSON:API document and returns its record', async () => {
    const leaf = pki.issue(['example.com', '*.example.com'], { keyType: 'rsa' });
    const key = await client().uploadPrivateKey(leaf.keyPem, 'example.com private key');
    expect(key.id).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(key.name).toBe('example.com private key');
    expect(key.publicKeySha1).toBe(publicKeyFingerprints(leaf.keyPem)[0]);
    const req = fake.requests.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', path: '/tls/private_keys', authenticated: true });
    expect(req.headers['content-type']).toContain('application/vnd.api+json');
    expect(req.headers.accept).toContain('application/vnd.api+json');
    expect(req.body).toEqual({ data: { type: 'tls_private_key', attributes: { key: leaf.keyPem, name: 'example.com private key' } } });
  });

  it('returns the existing record when the key was already uploaded', async () => {
    const leaf = pki.issue(['dup.example']);
    const first = await client().uploadPrivateKey(leaf.keyPem, 'dup.example private key');
    const second = await client().uploadPrivateKey(leaf.keyPem, 'dup.example private key');
    expect(second.id).toBe(first.id);
    expect(fake.keys.size).toBe(1);
  });

  it('creates a bulk certificate whose dates and domains come from the certificate', async () => {
    const leaf = pki.issue(['example.com', '*.example.com'], { keyType: 'rsa' });
    const fastly = client();
    await fastly.uploadPrivateKey(leaf.keyPem, 'example.com private key');
    const cert = await fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID);
    const x509 = new X509Certificate(leaf.certPem);
    expect(cert.notAfter.getTime()).toBe(new Date(x509.validTo).getTime());
    expect(cert.notBefore.getTime()).toBe(new Date(x509.validFrom).getTime());
    expect(cert.createdAt).toBeInstanceOf(Date);
    expect(cert.domains).toEqual(['example.com', '*.example.com']);
    expect(cert.configurationIds).toEqual([CONFIG_ID]);
    expect(fake.requests.at(-1)?.body).toEqual({
      data: {
        type: 'tls_bulk_certificate',
        attributes: { cert_blob: leaf.certPem, intermediates_blob: leaf.intermediatesPem, allow_untrusted_root: true },
        relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: CONFIG_ID }] } },
      },
    });
  });

  it('sends allow_untrusted_root false unless told, and the API then refuses a private CA', async () => {
    const leaf = pki.issue(['strict.example']);
    const fastly = client({ allowUntrustedRoot: false });
    await fastly.uploadPrivateKey(leaf.keyPem, 'k');
    const err = await fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlyError);
    expect((err as FastlyError).status).toBe(400);
    expect((err as FastlyError).message).toMatch(/trusted root/);
  });

  it('refuses a certificate whose key was not uploaded (422), without retrying', async () => {
    const leaf = pki.issue(['nokey.example']);
    const err = await client().createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlyError);
    expect((err as FastlyError).status).toBe(422);
    expect(fake.requests).toHaveLength(1);
  });

  it('finds the bulk certificate of a domain with filter[tls_domain.id]', async () => {
    const fastly = client();
    for (const d of ['a.example', 'b.example']) {
      const leaf = pki.issue([d, `*.${d}`]);
      await fastly.uploadPrivateKey(leaf.keyPem, `${d} private key`);
      await fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID);
    }
    fake.requests.length = 0;
    const found = await fastly.findBulkCertificateForDomain('b.example');
    expect(found?.domains).toEqual(['b.example', '*.b.example']);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/tls/bulk/certificates' });
    expect(fake.requests[0]?.query['filter[tls_domain.id]']).toBe('b.example');
    await expect(fastly.findBulkCertificateForDomain('c.example')).resolves.toBeUndefined();
  });

  it('findBulkCertificateForDomain returns only the domain\'s own certificate, never one shared with other names', async () => {
    const fastly = client();
    const shared = pki.issue(['s.example', 'other.example']);
    await fastly.uploadPrivateKey(shared.keyPem, 'shared');
    const sharedCert = await fastly.createBulkCertificate(shared.certPem, shared.intermediatesPem, CONFIG_ID);
    await expect(fastly.findBulkCertificateForDomain('s.example')).resolves.toBeUndefined();
    expect((await fastly.listBulkCertificatesForDomain('s.example')).map((c) => c.id)).toEqual([sharedCert.id]);
    const own = pki.issue(['s.example', '*.s.example']);
    await fastly.uploadPrivateKey(own.keyPem, 'own');
    const ownCert = await fastly.createBulkCertificate(own.certPem, own.intermediatesPem, CONFIG_ID);
    expect((await fastly.findBulkCertificateForDomain('s.example'))?.id).toBe(ownCert.id);
    expect((await fastly.findUploadedCertificate(own.certPem))?.id).toBe(ownCert.id);
    await expect(fastly.findUploadedCertificate(pki.issue(['s.example', '*.s.example'], { days: 30 }).certPem)).resolves.toBeUndefined();
  });

  it('replaces a certificate in place, then the old key is unused and can be cleaned up', async () => {
    const fastly = client();
    const old = pki.issue(['renew.example', '*.renew.example'], { days: 30 });
    const oldKey = await fastly.uploadPrivateKey(old.keyPem, 'renew.example private key');
    const created = await fastly.createBulkCertificate(old.certPem, old.intermediatesPem, CONFIG_ID);

    const next = pki.issue(['renew.example', '*.renew.example'], { days: 90 });
    const newKey = await fastly.uploadPrivateKey(next.keyPem, 'renew.example private key');
    const replaced = await fastly.replaceBulkCertificate(created.id, next.certPem, next.intermediatesPem);
    expect(replaced.id).toBe(created.id);
    expect(replaced.notAfter.getTime()).toBe(new Date(new X509Certificate(next.certPem).validTo).getTime());
    expect(replaced.configurationIds).toEqual([CONFIG_ID]);
    const patch = fake.requests.at(-1)!;
    expect(patch).toMatchObject({ method: 'PATCH', path: `/tls/bulk/certificates/${created.id}` });
    expect(patch.body).toMatchObject({ data: { type: 'tls_bulk_certificate', id: created.id, attributes: { allow_untrusted_root: true } } });

    const unused = await fastly.listPrivateKeys({ inUse: false });
    expect(unused.map((k) => k.id)).toEqual([oldKey.id]);
    expect(unused[0]?.inUse).toBe(false);
    const used = await fastly.listPrivateKeys({ inUse: true });
    expect(used.map((k) => k.id)).toEqual([newKey.id]);
    expect((await fastly.listPrivateKeys()).map((k) => k.id).sort()).toEqual([oldKey.id, newKey.id].sort());

    const dry = await fastly.deleteUnusedPrivateKeys({ dryRun: true });
    expect(dry.map((k) => k.id)).toEqual([oldKey.id]);
    expect(fake.keys.has(oldKey.id)).toBe(true);
    expect(fake.requests.some((r) => r.method === 'DELETE')).toBe(false);

    const deleted = await fastly.deleteUnusedPrivateKeys({ dryRun: false });
    expect(deleted.map((k) => k.id)).toEqual([oldKey.id]);
    expect([...fake.keys.keys()]).toEqual([newKey.id]);
    expect(fake.certs.size).toBe(1);
  });

  it('refuses to replace with a certificate whose key was not uploaded (422)', async () => {
    const fastly = client();
    const old = pki.issue(['r2.example']);
    await fastly.uploadPrivateKey(old.keyPem, 'k');
    const created = await fastly.createBulkCertificate(old.certPem, old.intermediatesPem, CONFIG_ID);
    const next = pki.issue(['r2.example']);
    await expect(fastly.replaceBulkCertificate(created.id, next.certPem, next.intermediatesPem)).rejects.toMatchObject({
      name: 'FastlyError',
      status: 422,
    });
  });

  it('lists every page of bulk certificates and private keys', async () => {
    const fastly = client({ pageSize: 2 });
    for (let i = 0; i < 5; i++) {
      const leaf = pki.issue([`p${i}.example`], { keyType: i % 2 ? 'ec' : 'rsa' });
      await fastly.uploadPrivateKey(leaf.keyPem, `p${i}`);
      await fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID);
    }
    fake.requests.length = 0;
    const certs = await fastly.listBulkCertificates();
    expect(certs.map((c) => c.domains[0])).toEqual(['p0.example', 'p1.example', 'p2.example', 'p3.example', 'p4.example']);
    expect(fake.requests.map((r) => r.query['page[number]'])).toEqual(['1', '2', '3']);
    expect(fake.requests.every((r) => r.query['page[size]'] === '2')).toBe(true);
    expect(await fastly.listPrivateKeys()).toHaveLength(5);
  });

  it('deleting a key in use fails with the API status; deleting a missing key is done', async () => {
    const fastly = client();
    const leaf = pki.issue(['inuse.example']);
    const key = await fastly.uploadPrivateKey(leaf.keyPem, 'k');
    await fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID);
    await expect(fastly.deletePrivateKey(key.id)).rejects.toMatchObject({ status: 409 });
    await expect(fastly.deletePrivateKey('doesnotexist')).resolves.toBeUndefined();
  });

  it('surfaces a bad token as 401 without retrying, and never puts the token in the message', async () => {
    const fastly = client({ apiToken: 'wrong-token-abcdef' });
    const err = await fastly.listBulkCertificates().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlyError);
    expect((err as FastlyError).status).toBe(401);
    expect((err as FastlyError).message).toMatch(/credentials/);
    expect((err as FastlyError).message).not.toContain('wrong-token-abcdef');
    expect(fake.requests).toHaveLength(1);
  });

  it('uses the token it was given, not FASTLY_API_TOKEN from the environment', async () => {
    const before = process.env.FASTLY_API_TOKEN;
    process.env.FASTLY_API_TOKEN = 'environment-token-should-not-win';
    try {
      await expect(client().listBulkCertificates()).resolves.toEqual([]);
      expect(fake.requests.at(-1)?.headers['fastly-key']).toBe(TOKEN);
    } finally {
      if (before === undefined) delete process.env.FASTLY_API_TOKEN;
      else process.env.FASTLY_API_TOKEN = before;
    }
  });

  it('accepts an API URL with a trailing slash', async () => {
    await expect(client({ apiUrl: `${fake.url}/` }).listPrivateKeys()).resolves.toEqual([]);
  });

  it('does not put a PEM private key in error messages', async () => {
    const leaf = pki.issue(['leak.example']);
    fake.inject({
      type: 'status',
      status: 400,
      path: '/tls/private_keys',
      body: { errors: [{ title: 'Bad Request', detail: `could not parse ${leaf.keyPem}` }] },
    });
    const err = await client().uploadPrivateKey(leaf.keyPem, 'k').catch((e: unknown) => e);
    expect((err as Error).message).toContain('[REDACTED PRIVATE KEY]');
    expect((err as Error).message).not.toContain('PRIVATE KEY-----');
    // A server that quotes the key cut short must not leak the part it quoted either.
    fake.inject({
      type: 'status',
      status: 400,
      path: '/tls/private_keys',
      body: { errors: [{ title: 'Bad Request', detail: `could not parse ${leaf.keyPem.slice(0, 120)}` }] },
    });
    const cut = await client().uploadPrivateKey(leaf.keyPem, 'k').catch((e: unknown) => e);
    expect((cut as Error).message).toMatch(/could not parse \[REDACTED PRIVATE KEY\]$/);
  });
});

describe('FastlyTls retries and timeouts', () => {
  afterEach(() => fake.clearFaults());

  it('retries 5xx and succeeds', async () => {
    fake.inject({ type: 'status', status: 503, times: 2 });
    await expect(client().listBulkCertificates()).resolves.toEqual([]);
    expect(fake.requests).toHaveLength(3);
  });

  it('gives up after maxRetries on 5xx and surfaces the status', async () => {
    fake.inject({ type: 'status', status: 500, times: 10 });
    const err = await client({ maxRetries: 2 }).listPrivateKeys().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'FastlyError', status: 500 });
    expect(fake.requests).toHaveLength(3);
  });

  it('honours Retry-After on 429', async () => {
    fake.inject({ type: 'status', status: 429, retryAfter: 1, path: '/tls/bulk/certificates' });
    const started = Date.now();
    await expect(client().listBulkCertificates()).resolves.toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
  });

  it('does not wait for a Retry-After beyond the cap', async () => {
    fake.inject({ type: 'status', status: 429, retryAfter: 120 });
    const err = await client({ maxRetryAfterSeconds: 30 }).listBulkCertificates().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, retryAfterSeconds: 120 });
    expect(fake.requests).toHaveLength(1);
  });

  it('retries 429 without Retry-After with backoff, then surfaces it', async () => {
    fake.inject({ type: 'status', status: 429, times: 10 });
    const err = await client({ maxRetries: 1 }).listBulkCertificates().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429 });
    expect(fake.requests).toHaveLength(2);
  });

  it('does not retry other 4xx', async () => {
    fake.inject({ type: 'status', status: 400, body: { errors: [{ title: 'Bad Request', detail: 'nope' }] } });
    await expect(client().listBulkCertificates()).rejects.toMatchObject({ status: 400, message: expect.stringContaining('nope') });
    expect(fake.requests).toHaveLength(1);
  });

  it('a hanging API hits the timeout; a read is retried, then the timeout surfaces', async () => {
    fake.inject({ type: 'hang', times: 2 });
    const started = Date.now();
    const err = await client({ timeoutMs: 300, maxRetries: 1 }).listBulkCertificates().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlyError);
    expect((err as FastlyError).message).toMatch(/timed out/);
    expect((err as FastlyError).status).toBeUndefined();
    expect(fake.requests).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('does not repeat a certificate upload after a timeout (it may have landed)', async () => {
    const fastly = client({ timeoutMs: 300, maxRetries: 3 });
    const leaf = pki.issue(['hang.example']);
    await fastly.uploadPrivateKey(leaf.keyPem, 'k');
    fake.requests.length = 0;
    fake.inject({ type: 'hang', path: '/tls/bulk/certificates', method: 'POST' });
    await expect(fastly.createBulkCertificate(leaf.certPem, leaf.intermediatesPem, CONFIG_ID)).rejects.toThrow(/timed out/);
    expect(fake.requests).toHaveLength(1);
  });

  it('tolerates latency below the timeout', async () => {
    fake.inject({ type: 'latency', ms: 200 });
    await expect(client({ timeoutMs: 1_000 }).listBulkCertificates()).resolves.toEqual([]);
  });
});

describe('FastlyTls pacing by Fastly-RateLimit-Remaining / -Reset', () => {
  const HOUR = 3_600_000;
  let clock: number;
  let slept: number[];
  let limited: FastlyFake;

  beforeEach(async () => {
    clock = Date.now();
    slept = [];
    limited = await startFastlyFake({ token: TOKEN, rateLimit: 2, now: () => clock });
  });
  afterEach(async () => {
    await limited.stop();
  });

  /** A client whose waits move the shared clock instead of taking an hour. */
  function paced(overrides: Partial<FastlyTlsOptions> = {}): FastlyTls {
    return client({
      apiUrl: limited.url,
      now: () => clock,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      maxHoldSeconds: 7200,
      ...overrides,
    });
  }

  it('holds the next write until the reset once the allowance is used up, instead of spending it on a 429', async () => {
    const fastly = paced();
    const start = clock;
    const resetAt = Math.ceil((start + HOUR) / 1000) * 1000; // Fastly-RateLimit-Reset is in whole epoch seconds
    await fastly.uploadPrivateKey(pki.issue(['h1.example']).keyPem, 'k1');
    await fastly.uploadPrivateKey(pki.issue(['h2.example']).keyPem, 'k2');
    await fastly.listPrivateKeys(); // reads are not limited and not held
    expect(slept).toEqual([]);
    await fastly.uploadPrivateKey(pki.issue(['h3.example']).keyPem, 'k3');
    expect(slept).toEqual([resetAt - start]);
    expect(limited.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
    expect(limited.keys.size).toBe(3);
  });

  it('concurrent domains all hold; past the bound each fails naming the step and the reset time, without sending', async () => {
    const fastly = paced({ maxHoldSeconds: 60 });
    await fastly.uploadPrivateKey(pki.issue(['c0.example']).keyPem, 'k0');
    const resetIso = new Date(Math.ceil((clock + HOUR) / 1000) * 1000).toISOString();
    const leaves = ['c1.example', 'c2.example', 'c3.example'].map((d) => pki.issue([d]));
    const results = await Promise.allSettled(leaves.map((l, i) => fastly.uploadPrivateKey(l.keyPem, `k${i + 1}`)));
    // One write was left: exactly one goes, the others are held back.
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as FastlyError] : []));
    expect(failures).toHaveLength(2);
    for (const f of failures) {
      expect(f).toBeInstanceOf(FastlyError);
      expect(f.message).toContain('Fastly create private key held back');
      expect(f.message).toContain(`until ${resetIso}`);
      expect(f.rateLimitResetAt?.toISOString()).toBe(resetIso);
    }
    expect(limited.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(slept).toEqual([]);
  });

  it('concurrent domains held within the bound all go after the reset', async () => {
    const fastly = paced();
    const start = clock;
    await fastly.uploadPrivateKey(pki.issue(['w0.example']).keyPem, 'k0');
    await fastly.uploadPrivateKey(pki.issue(['w1.example']).keyPem, 'k1');
    const leaves = ['w2.example', 'w3.example', 'w4.example'].map((d) => pki.issue([d]));
    const keys = await Promise.all(leaves.map((l, i) => fastly.uploadPrivateKey(l.keyPem, `k${i + 2}`)));
    expect(keys).toHaveLength(3);
    expect(slept[0]).toBe(Math.ceil((start + HOUR) / 1000) * 1000 - start);
    expect(limited.requests.filter((r) => r.method === 'POST')).toHaveLength(5); // no 429 spent
    expect(limited.keys.size).toBe(5);
  });

  it('a 429 for an allowance another client used up waits until Fastly-RateLimit-Reset, then succeeds', async () => {
    limited.exhaustRateLimit();
    const resetAt = limited.rateLimitState().resetAt!.getTime();
    const fastly = paced();
    const key = await fastly.uploadPrivateKey(pki.issue(['x.example']).keyPem, 'kx');
    expect(key.id).toBeTruthy();
    const posts = limited.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(2); // one 429, then the one after the reset
    expect(slept).toHaveLength(1);
    expect(clock).toBeGreaterThanOrEqual(resetAt);
  });

  it('a 429 whose reset lies beyond the bound fails at once with the step and the reset time', async () => {
    limited.exhaustRateLimit();
    const resetIso = new Date(Math.ceil(limited.rateLimitState().resetAt!.getTime() / 1000) * 1000).toISOString();
    const err = await paced({ maxHoldSeconds: 60 })
      .createBulkCertificate(pki.issue(['y.example']).certPem, pki.intermediatePem, CONFIG_ID)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlyError);
    expect((err as FastlyError).message).toMatch(new RegExp(`^Fastly create bulk certificate held back: .* until ${resetIso.replace(/\./g, '\\.')}`));
    expect(limited.requests).toHaveLength(1);
    expect(slept).toEqual([]);
  });
});

describe('FastlyTls: a key upload that got no answer', () => {
  afterEach(() => fake.clearFaults());

  it('finds the key that landed instead of sending it again', async () => {
    fake.inject({ type: 'hang', afterProcessing: true, method: 'POST', path: '/tls/private_keys' });
    const leaf = pki.issue(['landed.example']);
    const key = await client({ timeoutMs: 300 }).uploadPrivateKey(leaf.keyPem, 'landed');
    expect(key.id).toBe([...fake.keys.keys()][0]);
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(fake.requests.filter((r) => r.method === 'GET' && r.path === '/tls/private_keys').length).toBeGreaterThan(0);
  });

  it('sends it again only once Fastly lists no such key', async () => {
    fake.inject({ type: 'hang', method: 'POST', path: '/tls/private_keys' });
    const leaf = pki.issue(['lost.example']);
    const key = await client({ timeoutMs: 300 }).uploadPrivateKey(leaf.keyPem, 'lost');
    expect(fake.keys.size).toBe(1);
    expect(key.id).toBe([...fake.keys.keys()][0]);
    expect(fake.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'POST']);
  });
});
