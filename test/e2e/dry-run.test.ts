// `process --dry-run` and `/process?dryrun=1` on the real testbed (rfc2136 +
// BIND + Pebble + file secrets + SQLite + the Fastly fake): the plan and the
// checks, the answer validated against docs/openapi.json, and proof that
// nothing was ordered, written, published or uploaded. Names under z60.test
// (dry-*.z60.test), which no other test uses.
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DryRunReport } from '../../src/orchestrator/dry-run.js';
import { challengeRecords, FASTLY_TOKEN, startHarness, TLS_CONFIGURATION_ID, type Harness } from './harness.js';
import { loadOpenApi, ResponseValidator, type Json } from './openapi-spec.js';
import { ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';
import { JSON_API } from '../testbed/fastly-fake.js';
import { createTestPki, type TestPki } from '../unit/storage/pki.js';

const ZONE = 'z60.test';
const RENEW = 'dry-renew.z60.test';
const FRESH = 'dry-new.z60.test';
const BACKOFF = 'dry-backoff.z60.test';
/** On someone's Fastly certificate that also names another site. */
const SHARED = 'dry-shared.z60.test';
const ALL = [BACKOFF, FRESH, RENEW, SHARED].sort();
const DAY = 86_400_000;

let h: Harness;
let pki: TestPki;
let sharedCertificateId: string;
const validator = new ResponseValidator(loadOpenApi());

beforeAll(async () => {
  ensureBuilt();
  h = await startHarness();
  // RENEW gets a real certificate first (that run writes, as it should), then comes due.
  await h.addDomain(RENEW, ZONE);
  const issued = await h.run(`/single/${RENEW}`);
  expect(issued.status, JSON.stringify(issued.doc)).toBe(200);
  const db = h.components.database.client;
  const row = await db.domain.findUniqueOrThrow({ where: { name: RENEW } });
  await db.domain.update({ where: { id: row.id }, data: { tlsExpDate: new Date(Date.now() + 5 * DAY) } });
  await db.domainState.update({ where: { domainId: row.id }, data: { nextRenewalAt: new Date(Date.now() - 60_000) } });
  await h.addDomain(FRESH, ZONE);
  const backoffId = await h.addDomain(BACKOFF, ZONE);
  await db.domainState.create({ data: { domainId: backoffId, failureCount: 3, backoffUntil: new Date(Date.now() + DAY), lastError: 'earlier failure' } });
  pki = createTestPki();
  sharedCertificateId = await uploadSharedCertificate();
  await h.addDomain(SHARED, ZONE);
}, 180_000);
afterAll(async () => {
  await h?.stop();
  pki?.cleanup();
});

/** A certificate for SHARED and another site, uploaded through Fastly's API (as test/e2e/fastly-shared-certificate.test.ts does). */
async function uploadSharedCertificate(): Promise<string> {
  const leaf = pki.issue([SHARED, 'other-site.example']);
  const post = async (path: string, body: unknown): Promise<string> => {
    const res = await fetch(`${h.shared.fastly.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': JSON_API, Accept: JSON_API, 'Fastly-Key': FASTLY_TOKEN },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { data: { id: string } }).data.id;
  };
  await post('/tls/private_keys', { data: { type: 'tls_private_key', attributes: { key: leaf.keyPem, name: 'shared private key' } } });
  return post('/tls/bulk/certificates', {
    data: {
      type: 'tls_bulk_certificate',
      attributes: { cert_blob: leaf.certPem, intermediates_blob: leaf.intermediatesPem, allow_untrusted_root: true },
      relationships: { tls_configurations: { data: [{ type: 'tls_configuration', id: TLS_CONFIGURATION_ID }] } },
    },
  });
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? files(path) : [`${path} ${statSync(path).mtimeMs} ${statSync(path).size}`];
  });
}

/** Everything a run would change: database rows, secrets files, Fastly's records, BIND's challenge TXT. */
async function footprint() {
  const db = h.components.database.client;
  return {
    runs: await db.run.count(),
    orders: await db.acmeOrder.count(),
    tls: await db.tls.count(),
    state: JSON.stringify(await db.domainState.findMany({ orderBy: { domainId: 'asc' } })),
    domains: JSON.stringify(await db.domain.findMany({ orderBy: { id: 'asc' } })),
    secrets: files(h.shared.secretsDir).sort(),
    fastlyKeys: [...h.shared.fastly.keys.keys()].sort(),
    fastlyCerts: JSON.stringify([...h.shared.fastly.certs.values()].map((c) => [c.id, c.fingerprint256, c.updatedAt])),
    txt: await Promise.all(ALL.map((d) => challengeRecords(d))),
  };
}

describe('GET|POST /process?dryrun=1', () => {
  it('answers the plan and the checks (valid against the OpenAPI document) and writes nothing', async () => {
    const before = await footprint();
    const requestsBefore = h.shared.fastly.requests.length;
    const ownCertificate = [...h.shared.fastly.certs.values()].find((c) => c.domains.includes(RENEW));

    for (const method of ['GET', 'POST']) {
      const res = await h.request('/process?dryrun=1', { method });
      const body = (await res.json()) as Json;
      expect(validator.check('/process', method, res.status, res.headers, body).problems).toEqual([]);
      expect(res.status).toBe(200);
      expect(res.headers.get('location')).toBeNull();
      const report = body as unknown as DryRunReport;
      expect(report).toMatchObject({ dryRun: true, testmode: false, continuous: false });
      expect(report.checks.map((c) => [c.name, c.status]), JSON.stringify(report.checks)).toEqual([
        ['selection', 'ok'],
        ['secrets', 'ok'],
        ['ca', 'ok'],
        ['dns', 'ok'],
        ['fastly', 'ok'],
      ]);
      expect(report.checks.find((c) => c.name === 'fastly')?.message).toContain(`TLS configuration ${TLS_CONFIGURATION_ID}`);
      const byDomain = Object.fromEntries(report.plan.map((p) => [p.domain, p]));
      expect(Object.keys(byDomain).sort()).toEqual(ALL);
      expect(byDomain[RENEW]).toMatchObject({ plan: 'renewal', fastly: { action: 'replace', certificateId: ownCertificate?.id } });
      expect(byDomain[FRESH]).toMatchObject({ status: 'new', plan: 'new', replaces: null, fastly: { action: 'create' } });
      expect(byDomain[BACKOFF]).toMatchObject({ status: 'backoff', plan: 'backoff' });
      expect(byDomain[SHARED]).toMatchObject({
        plan: 'new',
        fastly: { action: 'own-certificate', certificateId: null, sharedCertificateIds: [sharedCertificateId], detail: `own certificate beside shared ${sharedCertificateId}` },
      });
    }

    // Fastly was only read: the configuration and the certificates of each planned domain.
    const seen = h.shared.fastly.requests.slice(requestsBefore);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(seen.some((r) => r.path === `/tls/configurations/${TLS_CONFIGURATION_ID}`)).toBe(true);
    expect(await footprint()).toEqual(before);
  });

  it('refuses an unknown dryrun value with 400 and runs nothing', async () => {
    const runs = await h.components.database.client.run.count();
    for (const value of ['maybe', '']) {
      const res = await h.request(`/process?dryrun=${value}`);
      const body = (await res.json()) as Json;
      expect(validator.check('/process', 'GET', res.status, res.headers, body).problems).toEqual([]);
      expect(res.status, value).toBe(400);
      expect(body).toEqual({ error: 'Query parameter dryrun must be 1 (or true, yes) or 0 (or false, no)' });
    }
    expect(await h.components.database.client.run.count()).toBe(runs);
  });
});

describe('npx autotls process --dry-run', () => {
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...h.env, LOG_LEVEL: 'warn', ...extra }, h.shared.dir);

  it('prints the table and the checks, exits 0, and writes nothing', async () => {
    const before = await footprint();
    const requestsBefore = h.shared.fastly.requests.length;
    const [text, json] = await Promise.all([cli(['process', '--dry-run']), cli(['process', '--dry-run', '--json'])]);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toMatch(/DOMAIN\s+STATUS\s+PLAN\s+FASTLY/);
    expect(text.stdout).toMatch(new RegExp(`${FRESH.replace(/\./g, '\\.')}\\s+new\\s+new\\s+create`));
    expect(text.stdout).toContain('replace in place');
    expect(text.stdout).toContain(`own certificate beside shared ${sharedCertificateId}`);
    expect(text.stdout).toContain('Checks:');
    expect(json.code, show(json)).toBe(0);
    const report = jsonOf<DryRunReport>(json);
    expect(report.dryRun).toBe(true);
    expect(report.plan.map((p) => p.domain).sort()).toEqual(ALL);
    expect(h.shared.fastly.requests.slice(requestsBefore).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(await footprint()).toEqual(before);
  }, 120_000);

  it('exits 1 naming the step and the cause: an unknown TLS configuration (404), a refused token (401), a wrong TSIG secret', async () => {
    const [config, token, tsig] = await Promise.all([
      cli(['process', '--dry-run'], { FASTLY_TLS_CONFIGURATION_ID: 'no-such-config' }),
      cli(['process', '--dry-run', '--json'], { FASTLY_API_TOKEN: 'wrong-token-0123456789' }),
      cli(['process', '--dry-run', '--json'], { RFC2136_TSIG_SECRET: Buffer.alloc(32, 7).toString('base64') }),
    ]);
    expect(config.code, show(config)).toBe(1);
    expect(config.stdout).toContain('checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID: TLS configuration no-such-config does not exist (HTTP 404)');
    expect(config.stderr).toContain('Dry run: 1 check(s) failed');
    expect(token.code, show(token)).toBe(1);
    expect(jsonOf<DryRunReport>(token).checks.find((c) => c.name === 'fastly')?.message).toContain('Fastly refused the token (HTTP 401)');
    expect(tsig.code, show(tsig)).toBe(1);
    const dns = jsonOf<DryRunReport>(tsig).checks.find((c) => c.name === 'dns');
    expect(dns).toMatchObject({ status: 'failed' });
    expect(dns?.message).toMatch(/checking the DNS provider \(rfc2136\) credentials for zone z60\.test: .*TSIG/);
  }, 120_000);

  it('exits 1 when the account key secret is missing, or the key has no account at the CA', async () => {
    const unknownKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const [missing, unknown] = await Promise.all([
      cli(['process', '--dry-run', '--json'], { LE_ACCOUNT_KEY_SECRET_NAME: 'acme/no-such-key' }),
      cli(['process', '--dry-run', '--json'], { LE_ACCOUNT_KEY_SECRET_NAME: '', LE_ACCOUNT_KEY_SECRET: unknownKey }),
    ]);
    expect(missing.code, show(missing)).toBe(1);
    const missingChecks = Object.fromEntries(jsonOf<DryRunReport>(missing).checks.map((c) => [c.name, c]));
    expect(missingChecks.secrets).toMatchObject({ status: 'failed', message: expect.stringContaining('the ACME account key secret acme/no-such-key does not exist') });
    expect(missingChecks.ca).toMatchObject({ status: 'failed', message: expect.stringContaining('looking up the ACME account at ') });
    expect(unknown.code, show(unknown)).toBe(1);
    const unknownChecks = Object.fromEntries(jsonOf<DryRunReport>(unknown).checks.map((c) => [c.name, c]));
    expect(unknownChecks.secrets?.status).toBe('ok');
    expect(unknownChecks.ca, JSON.stringify(unknownChecks.ca)).toMatchObject({ status: 'failed' });
  }, 120_000);
});
