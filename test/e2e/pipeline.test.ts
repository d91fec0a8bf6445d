// The certificate pipeline end to end (rfc2136 + BIND + Pebble + file secrets +
// SQLite + the Fastly and Slack fakes), driven over HTTP. Zones z06–z15.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fetchPebbleRoot, splitPem } from '../testbed/helpers.js';
import { challengeRecords, startHarness, TLS_CONFIGURATION_ID, type Harness } from './harness.js';

const FIRST = ['z06.test', 'z07.test', 'z08.test', 'z09.test', 'z10.test'];
let h: Harness;
let root: X509Certificate;

beforeAll(async () => {
  h = await startHarness();
  root = new X509Certificate(await fetchPebbleRoot(inject('testbed').pebble));
});
afterAll(async () => {
  await h?.stop();
});

async function secret(domain: string, kind: string): Promise<string | undefined> {
  return h.components.secrets.get(`pem-secret/${domain}/${kind}`);
}

async function ordersFor(domain: string): Promise<number> {
  return h.components.database.client.acmeOrder.count({ where: { domain } });
}

function leafOf(fullchain: string): X509Certificate {
  return new X509Certificate(splitPem(fullchain)[0] as string);
}

describe('first issuance over HTTP', () => {
  it('issues, stores, uploads, records and notifies for 5 eligible domains', async () => {
    for (const d of FIRST) await h.addDomain(d);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.status).toBe('succeeded');
    expect(doc.results.map((r) => r.domain).sort()).toEqual(FIRST);
    expect(doc.results.every((r) => r.outcome === 'issued')).toBe(true);

    for (const domain of FIRST) {
      // A certificate chaining to Pebble's root, covering d and *.d.
      const fullchain = await secret(domain, 'fullchain');
      expect(fullchain).toBeDefined();
      const certs = splitPem(fullchain as string).map((p) => new X509Certificate(p));
      const leaf = certs[0] as X509Certificate;
      expect(leaf.subjectAltName).toContain(`DNS:${domain}`);
      expect(leaf.subjectAltName).toContain(`DNS:*.${domain}`);
      const top = certs[certs.length - 1] as X509Certificate;
      expect(top.checkIssued(root) ? top.verify(root.publicKey) : top.fingerprint256 === root.fingerprint256).toBe(true);
      expect(await secret(domain, 'private_key')).toMatch(/PRIVATE KEY/);
      expect(await secret(domain, 'csr')).toMatch(/CERTIFICATE REQUEST/);

      // Fastly: a key and a bulk certificate for the domain, in our TLS configuration.
      const bulk = [...h.shared.fastly.certs.values()].filter((c) => c.domains.includes(domain));
      expect(bulk).toHaveLength(1);
      expect(bulk[0]?.configurationIds).toContain(TLS_CONFIGURATION_ID);

      // Database: a tls row and the domains row updated as the seed did.
      const row = await h.components.database.client.domain.findUniqueOrThrow({ where: { name: domain } });
      expect(row.tlsIssuer).toBe('Lets Encrypt');
      expect(row.lastUpdatedBy).toBe('tlstool');
      expect(row.tlsExpDate?.getTime()).toBe(new Date(leaf.validTo).getTime());
      const tls = await h.components.database.client.tls.findUniqueOrThrow({ where: { id: row.tlsId as number } });
      expect(tls.fastlyId).toBe(bulk[0]?.id);

      // No challenge record left behind.
      expect(await challengeRecords(domain)).toEqual([]);
      expect(await ordersFor(domain)).toBe(1);
    }
    // One Slack summary for the run, naming every domain (issue 13: per-domain lines folded in).
    const texts = h.shared.slack.delivered().map((p) => JSON.stringify(p.body));
    for (const domain of FIRST) expect(texts.some((t) => t.includes(domain))).toBe(true);
  });

  it('answers nothing-to-do on the next /process and orders nothing', async () => {
    const before = await h.components.database.client.acmeOrder.count();
    const fastlyCalls = h.shared.fastly.requests.length;
    const { status, doc } = await h.run('/process');
    expect(status).toBe(200);
    expect(doc.status).toBe('nothing-to-do');
    expect(doc.results).toEqual([]);
    expect(await h.components.database.client.acmeOrder.count()).toBe(before);
    expect(h.shared.fastly.requests.length).toBe(fastlyCalls);
  });
});

describe('renewal', () => {
  it('replaces the bulk certificate in place and deletes the orphaned key', async () => {
    const domain = 'z06.test';
    const db = h.components.database.client;
    const bulkBefore = [...h.shared.fastly.certs.values()].find((c) => c.domains.includes(domain));
    const oldKeyId = bulkBefore?.keyId as string;
    const certCount = h.shared.fastly.certs.size;
    await db.domain.update({ where: { name: domain }, data: { tlsExpDate: new Date(Date.now() + 5 * 86_400_000) } });

    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({ domain, outcome: 'renewed' });

    const patches = h.shared.fastly.requests.filter((r) => r.method === 'PATCH' && r.path === `/tls/bulk/certificates/${bulkBefore?.id}`);
    expect(patches).toHaveLength(1);
    expect(h.shared.fastly.certs.size).toBe(certCount);
    expect(h.shared.fastly.requests.some((r) => r.method === 'DELETE' && r.path.startsWith('/tls/bulk/certificates'))).toBe(false);
    expect(h.shared.fastly.keys.has(oldKeyId)).toBe(false);
    const bulkAfter = h.shared.fastly.certs.get(bulkBefore?.id as string);
    expect(bulkAfter?.keyId).not.toBe(oldKeyId);
    expect(await ordersFor(domain)).toBe(2);
    expect(await challengeRecords(domain)).toEqual([]);
  });
});

describe('Fastly failure', () => {
  it('keeps the stored certificate and uploads it on the next run without a new order', async () => {
    const domain = 'z11.test';
    await h.addDomain(domain);
    h.shared.fastly.inject({ type: 'status', status: 503, path: '/tls/bulk/certificates', method: 'POST', times: Infinity });
    const failed = await h.run('/process');
    expect(failed.status).toBe(502);
    expect(failed.doc.results[0]).toMatchObject({ domain, outcome: 'failed' });
    const stored = await secret(domain, 'fullchain');
    expect(stored).toBeDefined();
    const serial = leafOf(stored as string).serialNumber;

    h.shared.fastly.clearFaults();
    const retried = await h.run('/process');
    expect(retried.status, JSON.stringify(retried.doc)).toBe(200);
    expect(retried.doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
    expect(await ordersFor(domain)).toBe(1);
    const uploaded = [...h.shared.fastly.certs.values()].find((c) => c.domains.includes(domain));
    expect(uploaded).toBeDefined();
    expect(new X509Certificate(uploaded?.certPem as string).serialNumber).toBe(serial);
    expect(await challengeRecords(domain)).toEqual([]);
  });
});

describe('testmode', () => {
  it('makes no Fastly call and records the certificate as the seed did', async () => {
    const domain = 'z12.test';
    await h.addDomain(domain);
    const calls = h.shared.fastly.requests.length;
    const { status, doc } = await h.run(`/single/${domain}?testmode=test`);
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.testmode).toBe(true);
    expect(doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
    expect(h.shared.fastly.requests.length).toBe(calls);
    const row = await h.components.database.client.domain.findUniqueOrThrow({ where: { name: domain } });
    expect(row.tlsIssuer).toBe('Lets Encrypt');
    const tls = await h.components.database.client.tls.findUniqueOrThrow({ where: { id: row.tlsId as number } });
    expect(tls.fastlyId).toBe(`FAKE-${domain}`);
    expect(await secret(domain, 'fullchain')).toBeDefined();
  });
});

describe('/single', () => {
  it('answers 404 JSON for a domain that is not in the table', async () => {
    const res = await h.request('/single/unknown.test');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'Domain unknown.test not available for TLS' });
  });
});
