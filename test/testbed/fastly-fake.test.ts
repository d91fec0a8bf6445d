/**
 * Contract tests of the Fastly fake: every answer deserialises through the
 * official client's models with the fields AutoTLS reads, and errors come back
 * with the statuses the client surfaces.
 */
import { createRequire } from 'node:module';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JSON_API, startFastlyFake, type FastlyFake } from './fastly-fake.js';
import { createTestPki, type Leaf, type TestPki } from '../unit/storage/pki.js';

const require = createRequire(import.meta.url);
interface Model {
  constructFromObject(data: unknown): Record<string, unknown>;
}
const model = (name: string): Model => (require(`fastly/dist/model/${name}.js`) as { default: Model }).default;
const TlsPrivateKeyResponse = model('TlsPrivateKeyResponse');
const TlsPrivateKeysResponse = model('TlsPrivateKeysResponse');
const TlsBulkCertificateResponse = model('TlsBulkCertificateResponse');
const TlsBulkCertificatesResponse = model('TlsBulkCertificatesResponse');

const TOKEN = 'fake-contract-token';
let fake: FastlyFake;
let pki: TestPki;
let leaf: Leaf;

beforeAll(async () => {
  fake = await startFastlyFake({ token: TOKEN, defaultPageSize: 20 });
  pki = createTestPki();
  leaf = pki.issue(['example.com', '*.example.com'], { keyType: 'rsa' });
});
afterAll(async () => {
  await fake.stop();
  pki.cleanup();
});
beforeEach(() => fake.reset());

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: {
      Accept: JSON_API,
      ...(body === undefined ? {} : { 'Content-Type': JSON_API }),
      ...(token === null ? {} : { 'Fastly-Key': token }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), headers: res.headers, json: text ? (JSON.parse(text) as unknown) : undefined };
}

const keyBody = (key: string, name = 'example.com private key') => ({ data: { type: 'tls_private_key', attributes: { key, name } } });
const certBody = (l: Leaf, config = 'cfg1') => ({
  data: {
    type: 'tls_bulk_certificate',
    attributes: { cert_blob: l.certPem, intermediates_blob: l.intermediatesPem, allow_untrusted_root: true },
    relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: config }] } },
  },
});
const errorStatus = (json: unknown) => (json as { errors: Array<{ status: string; title: string; detail: string }> }).errors[0];

describe('Fastly fake: private keys', () => {
  it('POST answers 201 with a document the TlsPrivateKeyResponse model reads', async () => {
    const res = await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    expect(res.status).toBe(201);
    expect(res.contentType).toBe(JSON_API);
    const m = TlsPrivateKeyResponse.constructFromObject(res.json) as {
      data: { id: string; type: string; attributes: Record<string, unknown> };
    };
    expect(m.data.type).toBe('tls_private_key');
    expect(typeof m.data.id).toBe('string');
    expect(m.data.attributes).toMatchObject({ name: 'example.com private key', key_length: 2048, key_type: 'RSA', replace: false });
    expect(m.data.attributes.public_key_sha1).toMatch(/^[0-9a-f]{40}$/);
    expect(m.data.attributes.created_at).toBeInstanceOf(Date);
    expect(m.data.attributes.updated_at).toBeInstanceOf(Date);
    expect(JSON.stringify(res.json)).not.toContain('PRIVATE KEY');
  });

  it('reports an EC key as ECDSA with its curve size', async () => {
    const ec = pki.issue(['ec.example'], { keyType: 'ec' });
    const res = await api('POST', '/tls/private_keys', keyBody(ec.keyPem));
    expect((res.json as { data: { attributes: unknown } }).data.attributes).toMatchObject({ key_type: 'ECDSA', key_length: 256 });
  });

  it('POST refuses a malformed PEM (400) and a duplicate key (409 "Key already exists")', async () => {
    const bad = await api('POST', '/tls/private_keys', keyBody('-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n'));
    expect(bad.status).toBe(400);
    expect(errorStatus(bad.json)).toMatchObject({ status: '400' });
    await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const dup = await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    expect(dup.status).toBe(409);
    expect(errorStatus(dup.json)).toMatchObject({ status: '409', detail: 'Key already exists' });
    const wrongType = await api('POST', '/tls/private_keys', { data: { type: 'tls_certificate', attributes: { key: leaf.keyPem } } });
    expect(wrongType.status).toBe(409);
    const notJsonApi = await api('POST', '/tls/private_keys', 'not json');
    expect(notJsonApi.status).toBe(400);
  });

  it('GET lists with pagination links and meta, read by TlsPrivateKeysResponse', async () => {
    for (let i = 0; i < 3; i++) await api('POST', '/tls/private_keys', keyBody(pki.issue([`k${i}.example`], { keyType: 'ec' }).keyPem, `k${i}`));
    const res = await api('GET', '/tls/private_keys?page%5Bnumber%5D=2&page%5Bsize%5D=2');
    expect(res.status).toBe(200);
    const m = TlsPrivateKeysResponse.constructFromObject(res.json) as {
      data: Array<{ id: string; attributes: { name: string } }>;
      links: Record<string, string | null>;
      meta: Record<string, number>;
    };
    expect(m.data.map((d) => d.attributes.name)).toEqual(['k2']);
    expect(m.meta).toEqual({ current_page: 2, per_page: 2, record_count: 3, total_pages: 2 });
    expect(m.links.next).toBeNull();
    expect(m.links.prev).toContain('page%5Bnumber%5D=1');
    expect(m.links.first).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/tls\/private_keys\?/);
  });

  it('filter[in_use]=false lists only keys no certificate uses; other values are refused', async () => {
    const used = await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const spare = pki.issue(['spare.example'], { keyType: 'ec' });
    const unused = await api('POST', '/tls/private_keys', keyBody(spare.keyPem, 'spare'));
    await api('POST', '/tls/bulk/certificates', certBody(leaf));
    const res = await api('GET', '/tls/private_keys?filter%5Bin_use%5D=false');
    const ids = (res.json as { data: Array<{ id: string }> }).data.map((d) => d.id);
    expect(ids).toEqual([(unused.json as { data: { id: string } }).data.id]);
    expect(ids).not.toContain((used.json as { data: { id: string } }).data.id);
    expect((await api('GET', '/tls/private_keys?filter%5Bin_use%5D=true')).status).toBe(400);
  });

  it('GET and DELETE by id; a key in use cannot be deleted; unknown ids are 404', async () => {
    const created = await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const id = (created.json as { data: { id: string } }).data.id;
    const got = await api('GET', `/tls/private_keys/${id}`);
    expect(got.status).toBe(200);
    expect((TlsPrivateKeyResponse.constructFromObject(got.json) as { data: { id: string } }).data.id).toBe(id);
    await api('POST', '/tls/bulk/certificates', certBody(leaf));
    const refused = await api('DELETE', `/tls/private_keys/${id}`);
    expect(refused.status).toBe(409);
    fake.certs.clear();
    const deleted = await api('DELETE', `/tls/private_keys/${id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.json).toBeUndefined();
    expect((await api('GET', `/tls/private_keys/${id}`)).status).toBe(404);
    expect((await api('DELETE', `/tls/private_keys/${id}`)).status).toBe(404);
  });
});

describe('Fastly fake: bulk certificates', () => {
  it('POST answers 201 with attributes and relationships taken from the certificate', async () => {
    await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const res = await api('POST', '/tls/bulk/certificates', certBody(leaf, 'cfgA'));
    expect(res.status).toBe(201);
    expect(res.contentType).toBe(JSON_API);
    const m = TlsBulkCertificateResponse.constructFromObject(res.json) as {
      data: {
        id: string;
        type: string;
        attributes: { not_after: Date; not_before: Date; created_at: Date; updated_at: Date; replace: boolean };
        relationships: { tls_domains: { data: Array<{ type: string; id: string }> }; tls_configurations: { data: Array<{ type: string; id: string }> } };
      };
    };
    const x509 = new X509Certificate(leaf.certPem);
    expect(m.data.type).toBe('tls_bulk_certificate');
    expect(m.data.attributes.not_after.getTime()).toBe(new Date(x509.validTo).getTime());
    expect(m.data.attributes.not_before.getTime()).toBe(new Date(x509.validFrom).getTime());
    expect(m.data.attributes.created_at).toBeInstanceOf(Date);
    expect(m.data.attributes.updated_at).toBeInstanceOf(Date);
    expect(m.data.attributes.replace).toBe(false);
    expect(m.data.relationships.tls_domains.data).toEqual([
      { type: 'tls_domain', id: 'example.com' },
      { type: 'tls_domain', id: '*.example.com' },
    ]);
    expect(m.data.relationships.tls_configurations.data).toEqual([{ type: 'tls_configuration', id: 'cfgA' }]);
  });

  it('POST refuses a certificate without an uploaded key (422), a malformed PEM (400), a broken chain (400) and a duplicate (409)', async () => {
    expect((await api('POST', '/tls/bulk/certificates', certBody(leaf))).status).toBe(422);
    await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const malformed = await api('POST', '/tls/bulk/certificates', certBody({ ...leaf, certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }));
    expect(malformed.status).toBe(400);
    const noPem = await api('POST', '/tls/bulk/certificates', certBody({ ...leaf, certPem: 'hello' }));
    expect(noPem.status).toBe(400);
    const brokenChain = await api('POST', '/tls/bulk/certificates', certBody({ ...leaf, intermediatesPem: leaf.certPem }));
    expect(brokenChain.status).toBe(400);
    expect((await api('POST', '/tls/bulk/certificates', certBody(leaf))).status).toBe(201);
    expect((await api('POST', '/tls/bulk/certificates', certBody(leaf))).status).toBe(409);
  });

  it('GET filters by filter[tls_domain.id] and paginates; TlsBulkCertificatesResponse reads it', async () => {
    for (const d of ['one.example', 'two.example', 'three.example']) {
      const l = pki.issue([d, `*.${d}`], { keyType: 'ec' });
      await api('POST', '/tls/private_keys', keyBody(l.keyPem));
      await api('POST', '/tls/bulk/certificates', certBody(l));
    }
    const filtered = await api('GET', `/tls/bulk/certificates?filter%5Btls_domain.id%5D=${encodeURIComponent('*.two.example')}`);
    const m = TlsBulkCertificatesResponse.constructFromObject(filtered.json) as {
      data: Array<{ relationships: { tls_domains: { data: Array<{ id: string }> } } }>;
      meta: Record<string, number>;
    };
    expect(m.data).toHaveLength(1);
    expect(m.data[0]?.relationships.tls_domains.data.map((d) => d.id)).toEqual(['two.example', '*.two.example']);
    expect(m.meta.record_count).toBe(1);
    const page = await api('GET', '/tls/bulk/certificates?page%5Bsize%5D=2&page%5Bnumber%5D=2');
    expect((page.json as { data: unknown[]; meta: { total_pages: number } }).data).toHaveLength(1);
    expect((page.json as { meta: { total_pages: number } }).meta.total_pages).toBe(2);
    const newestFirst = await api('GET', '/tls/bulk/certificates?sort=-created_at');
    expect((newestFirst.json as { data: unknown[] }).data).toHaveLength(3);
  });

  it('GET, PATCH (replace in place) and DELETE by id', async () => {
    await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const created = await api('POST', '/tls/bulk/certificates', certBody(leaf, 'cfgB'));
    const id = (created.json as { data: { id: string } }).data.id;
    expect((await api('GET', `/tls/bulk/certificates/${id}`)).status).toBe(200);

    const next = pki.issue(['example.com', '*.example.com'], { days: 200, keyType: 'ec' });
    const patchBody = { data: { type: 'tls_bulk_certificate', id, attributes: { cert_blob: next.certPem, intermediates_blob: next.intermediatesPem, allow_untrusted_root: true } } };
    expect((await api('PATCH', `/tls/bulk/certificates/${id}`, patchBody)).status).toBe(422);
    await api('POST', '/tls/private_keys', keyBody(next.keyPem));
    const patched = await api('PATCH', `/tls/bulk/certificates/${id}`, patchBody);
    expect(patched.status).toBe(200);
    const m = TlsBulkCertificateResponse.constructFromObject(patched.json) as {
      data: { id: string; attributes: { not_after: Date }; relationships: { tls_configurations: { data: Array<{ id: string }> } } };
    };
    expect(m.data.id).toBe(id);
    expect(m.data.attributes.not_after.getTime()).toBe(new Date(new X509Certificate(next.certPem).validTo).getTime());
    expect(m.data.relationships.tls_configurations.data.map((c) => c.id)).toEqual(['cfgB']);
    expect(fake.certs.size).toBe(1);

    expect((await api('DELETE', `/tls/bulk/certificates/${id}`)).status).toBe(204);
    expect((await api('GET', `/tls/bulk/certificates/${id}`)).status).toBe(404);
  });

  it('refuses an untrusted root unless allow_untrusted_root is true', async () => {
    await api('POST', '/tls/private_keys', keyBody(leaf.keyPem));
    const body = certBody(leaf);
    body.data.attributes.allow_untrusted_root = false;
    expect((await api('POST', '/tls/bulk/certificates', body)).status).toBe(400);
  });

  it('only accepts known TLS configurations when started with a list', async () => {
    const strict = await startFastlyFake({ token: TOKEN, configurationIds: ['known'] });
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${strict.url}${path}`, { method: 'POST', headers: { 'Fastly-Key': TOKEN, 'Content-Type': JSON_API }, body: JSON.stringify(body) });
      await post('/tls/private_keys', keyBody(leaf.keyPem));
      expect((await post('/tls/bulk/certificates', certBody(leaf, 'unknown'))).status).toBe(400);
      expect((await post('/tls/bulk/certificates', certBody(leaf, 'known'))).status).toBe(201);
    } finally {
      await strict.stop();
    }
  });
});

describe('Fastly fake: authentication, recording and faults', () => {
  it('answers 401 without a valid Fastly-Key, and records every request', async () => {
    const missing = await api('GET', '/tls/private_keys', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ msg: 'Provided credentials are missing or invalid' });
    expect((await api('GET', '/tls/private_keys', undefined, 'wrong')).status).toBe(401);
    expect(fake.requests.map((r) => r.authenticated)).toEqual([false, false]);
    expect(fake.requests[0]).toMatchObject({ method: 'GET', path: '/tls/private_keys', query: {} });
  });

  it('answers 404 for unknown paths and 405 for unknown methods', async () => {
    expect((await api('GET', '/service')).status).toBe(404);
    expect((await api('PUT', '/tls/private_keys')).status).toBe(405);
  });

  it('injects 429 with Retry-After and 5xx for the next N matching requests', async () => {
    fake.inject({ type: 'status', status: 429, retryAfter: 3, path: '/tls/private_keys', times: 2 });
    fake.inject({ type: 'status', status: 503, path: /^\/tls\/bulk/ });
    const r1 = await api('GET', '/tls/private_keys');
    expect(r1.status).toBe(429);
    expect(r1.headers.get('retry-after')).toBe('3');
    expect((await api('GET', '/tls/bulk/certificates')).status).toBe(503);
    expect((await api('GET', '/tls/bulk/certificates')).status).toBe(200);
    expect((await api('GET', '/tls/private_keys')).status).toBe(429);
    expect((await api('GET', '/tls/private_keys')).status).toBe(200);
  });

  it('injects latency, a hang (stop() still returns) and a connection reset', async () => {
    fake.inject({ type: 'latency', ms: 150 });
    const started = Date.now();
    expect((await api('GET', '/tls/private_keys')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    fake.inject({ type: 'reset' });
    await expect(api('GET', '/tls/private_keys')).rejects.toThrow();

    const other = await startFastlyFake({ token: TOKEN });
    other.inject({ type: 'hang' });
    const controller = new AbortController();
    const pending = fetch(`${other.url}/tls/private_keys`, { headers: { 'Fastly-Key': TOKEN }, signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(other.requests).toHaveLength(1);
    await other.stop();
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('Fastly fake: what Fastly documents about shared names and serving', () => {
  async function upload(l: Leaf): Promise<string> {
    await api('POST', '/tls/private_keys', keyBody(l.keyPem, 'k'));
    const res = await api('POST', '/tls/bulk/certificates', certBody(l));
    expect(res.status).toBe(201);
    return (res.json as { data: { id: string } }).data.id;
  }

  it('a replacement with fewer names disables the missing ones (PATCH is accepted)', async () => {
    const shared = pki.issue(['d1.test', 'other.example']);
    const id = await upload(shared);
    expect(fake.servingCertificate('other.example')?.id).toBe(id);
    const narrower = pki.issue(['d1.test']);
    await api('POST', '/tls/private_keys', keyBody(narrower.keyPem, 'k2'));
    const res = await api('PATCH', `/tls/bulk/certificates/${id}`, { data: { ...certBody(narrower).data, id } });
    expect(res.status).toBe(200);
    expect(fake.certs.get(id)?.domains).toEqual(['d1.test']);
    expect(fake.certs.get(id)?.disabledDomains).toEqual(['other.example']);
    expect(fake.servingCertificate('d1.test')?.id).toBe(id);
    expect(fake.servingCertificate('other.example')).toBeUndefined(); // TLS for it is off
  });

  it('two certificates naming one host: the most recently uploaded serves it; an exact name beats a wildcard', async () => {
    const shared = await upload(pki.issue(['d1.test', 'other.example']));
    const wildcard = await upload(pki.issue(['*.d1.test']));
    const own = await upload(pki.issue(['d1.test', '*.d1.test']));
    expect(fake.servingCertificate('d1.test')?.id).toBe(own);
    expect(fake.servingCertificate('www.d1.test')?.id).toBe(own);
    expect(fake.servingCertificate('other.example')?.id).toBe(shared);
    // A later upload of the shared one takes d1.test back.
    const sharedAgain = pki.issue(['d1.test', 'other.example']);
    await api('POST', '/tls/private_keys', keyBody(sharedAgain.keyPem, 'k3'));
    await api('PATCH', `/tls/bulk/certificates/${shared}`, { data: { ...certBody(sharedAgain).data, id: shared } });
    expect(fake.servingCertificate('d1.test')?.id).toBe(shared);
    expect(fake.servingCertificate('www.d1.test')?.id).toBe(own); // exact *.d1.test entry on both: own is newer than the wildcard-only one
    expect(wildcard).toBeDefined();
  });
});

describe('Fastly fake: rate limit', () => {
  it('sends Fastly-RateLimit-Remaining/Reset on writes, not on reads; answers 429 when the allowance is used up; the window resets', async () => {
    let clock = Date.parse('2026-12-01T10:00:00Z');
    const limited = await startFastlyFake({ token: TOKEN, rateLimit: 2, now: () => clock });
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${limited.url}${path}`, {
        method,
        headers: { Accept: JSON_API, 'Content-Type': JSON_API, 'Fastly-Key': TOKEN },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    try {
      const reset = String(Date.parse('2026-12-01T11:00:00Z') / 1000);
      const first = await call('POST', '/tls/private_keys', keyBody(pki.issue(['r1.example']).keyPem));
      expect(first.status).toBe(201);
      expect(first.headers.get('fastly-ratelimit-remaining')).toBe('1');
      expect(first.headers.get('fastly-ratelimit-reset')).toBe(reset);
      const read = await call('GET', '/tls/private_keys');
      expect(read.status).toBe(200);
      expect(read.headers.get('fastly-ratelimit-remaining')).toBeNull();
      // A refused write counts too: it is a request.
      const bad = await call('POST', '/tls/private_keys', keyBody('not a key'));
      expect(bad.status).toBe(400);
      expect(bad.headers.get('fastly-ratelimit-remaining')).toBe('0');
      const over = await call('POST', '/tls/private_keys', keyBody(pki.issue(['r2.example']).keyPem));
      expect(over.status).toBe(429);
      expect(over.headers.get('fastly-ratelimit-remaining')).toBe('0');
      expect(over.headers.get('fastly-ratelimit-reset')).toBe(reset);
      expect(over.headers.get('retry-after')).toBeNull();
      expect(limited.keys.size).toBe(1);
      // Reads are not limited.
      expect((await call('GET', '/tls/bulk/certificates')).status).toBe(200);
      clock = Date.parse('2026-12-01T11:00:00Z');
      const again = await call('POST', '/tls/private_keys', keyBody(pki.issue(['r3.example']).keyPem));
      expect(again.status).toBe(201);
      expect(again.headers.get('fastly-ratelimit-remaining')).toBe('1');
      expect(again.headers.get('fastly-ratelimit-reset')).toBe(String(Date.parse('2026-12-01T12:00:00Z') / 1000));
    } finally {
      await limited.stop();
    }
  });

  it('a hang after processing carries the write out but never answers', async () => {
    const other = await startFastlyFake({ token: TOKEN });
    other.inject({ type: 'hang', afterProcessing: true, method: 'POST' });
    const controller = new AbortController();
    const pending = fetch(`${other.url}/tls/private_keys`, {
      method: 'POST',
      headers: { 'Content-Type': JSON_API, 'Fastly-Key': TOKEN },
      body: JSON.stringify(keyBody(pki.issue(['h.example']).keyPem)),
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    expect(other.keys.size).toBe(1);
    controller.abort();
    await other.stop();
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('GET /tls/configurations/{id} (the dry run reads it)', () => {
  const TlsConfigurationResponse = model('TlsConfigurationResponse');

  it('answers a Platform TLS configuration the official model reads, 404 for an unknown id, 401 without the token', async () => {
    const restricted = await startFastlyFake({ token: TOKEN, configurationIds: ['cfg1'] });
    try {
      const get = (id: string, token: string | null = TOKEN) =>
        fetch(`${restricted.url}/tls/configurations/${id}`, { headers: { Accept: JSON_API, ...(token === null ? {} : { 'Fastly-Key': token }) } });
      const ok = await get('cfg1');
      expect(ok.status).toBe(200);
      const parsed = TlsConfigurationResponse.constructFromObject(await ok.json()) as { data?: { id?: string; type?: string; attributes?: { bulk?: boolean; default?: boolean } } };
      expect(parsed.data).toMatchObject({ id: 'cfg1', type: 'tls_configuration', attributes: { bulk: true, default: false } });
      const unknown = await get('nope');
      expect(unknown.status).toBe(404);
      expect(errorStatus(await unknown.json())).toMatchObject({ status: '404', detail: 'Record not found' });
      expect((await get('cfg1', null)).status).toBe(401);
      expect(restricted.requests.every((r) => r.method === 'GET')).toBe(true);
    } finally {
      await restricted.stop();
    }
  });
});
