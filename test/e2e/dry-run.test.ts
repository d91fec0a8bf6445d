// `process --dry-run` and `/process?dryrun=1` on the real testbed (rfc2136 +
// BIND + Pebble + file secrets + SQLite + the Fastly fake): the plan and the
// checks, the answer validated against docs/openapi.json, and proof that
// nothing was ordered, written, published or uploaded. Names under z60.test
// (dry-*.z60.test), which no other test uses.
//
// "No write" is proven from each counterpart's own record, besides the database:
// - Pebble: this file's own Pebble (so its log holds only this file's requests);
//   after the set-up, its log shows no request but reads and the account lookup
//   (`POST /sign-me-up` with onlyReturnExisting), and no "There are now N accounts"
//   or "Added order" line (wfe/wfe.go, v2.7.0, logs each handler call and each new
//   account and order);
// - BIND: its log (named -g logs every dynamic update: "updating zone 'z60.test/IN':
//   ...") has no new update for z60.test, and the zone's SOA serial (bumped by every
//   update) is unchanged;
// - the secrets store: no file added, removed or modified (path, mtime, size);
// - the Fastly fake: its request log has only GETs, and its keys and certificates are unchanged.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DryRunReport } from '../../src/orchestrator/dry-run.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { startPebble, type PebbleService } from '../testbed/services.js';
import { dnsQuery, hasPebble27, needsPebble27 } from '../testbed/helpers.js';
import { uploadCertificateToFastly } from './fastly-upload.js';
import { ACCOUNT_SECRET, challengeRecords, createDeployment, startHarness, stopDeployment, TLS_CONFIGURATION_ID, type Harness, type SharedDeployment } from './harness.js';
import { loadOpenApi, ResponseValidator, type Json } from './openapi-spec.js';
import { ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';
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
let shared: SharedDeployment;
let pebble: PebbleService;
let pki: TestPki;
let sharedCertificateId: string;
const validator = new ResponseValidator(loadOpenApi());

beforeAll(async () => {
  ensureBuilt();
  const tb = inject('testbed');
  // Our own Pebble, validating against the testbed's BIND (z60.test lives there).
  pebble = await startPebble({ dir: tb.dir, dnsServer: `${tb.dns.host}:${tb.dns.port}` });
  shared = await createDeployment('sqlite', { registerAccount: false });
  const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'dry-run@example.test' });
  await new FileSecretsStore(shared.secretsDir).put(ACCOUNT_SECRET, JSON.stringify(account.accountKeyJwk));
  h = await startHarness({ shared, env: { LE_DIRECTORY_URL: pebble.directoryUrl } });
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
  sharedCertificateId = (await uploadCertificateToFastly(h.shared.fastly.url, pki, [SHARED, 'other-site.example'])).certId;
  await h.addDomain(SHARED, ZONE);
  // The records this file reads do record writes: the set-up's issuance is in both logs.
  expect(bindUpdates().length).toBeGreaterThan(0);
  expect(readFileSync(pebble.logPath, 'utf8')).toMatch(/Added order "[^"]+" to the db/);
  expect(pebbleWrites(readFileSync(pebble.logPath, 'utf8'))).toEqual(expect.arrayContaining(['POST /order-plz', 'POST /finalize-order/', expect.stringMatching(/Added order/)]));
}, 180_000);
afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
  await pebble?.stop();
  pki?.cleanup();
});

/** The testbed BIND's own log (named -g: everything on stderr, test/testbed/services.ts startBind). */
function bindLogPath(): string {
  const tb = inject('testbed');
  for (const sub of readdirSync(tb.dir)) {
    const path = join(tb.dir, sub, `named-${tb.dns.port}.log`);
    if (sub.startsWith('bind-') && existsSync(path)) return path;
  }
  throw new Error(`no named-${tb.dns.port}.log under ${tb.dir}`);
}

/** BIND's log lines about dynamic updates of z60.test (applied "updating zone ..." or refused "update ... denied"). */
function bindUpdates(): string[] {
  return readFileSync(bindLogPath(), 'utf8').split('\n').filter((l) => /(updating zone|update) 'z60\.test\/IN'/.test(l));
}

async function soaSerial(): Promise<number> {
  const tb = inject('testbed');
  const answer = await dnsQuery(tb.dns.host, tb.dns.port, ZONE, 'SOA');
  const soa = answer.answers.find((a) => a.type === 'SOA');
  return (soa?.data as { serial: number }).serial;
}

/** Pebble's handler calls (wfe.go: "<METHOD> <path> -> calling handler()") and the lines it logs for each new account and order. */
function pebbleWrites(log: string): string[] {
  const lines = log.split('\n');
  const calls = lines.flatMap((l) => /(\w+) (\S+) -> calling handler\(\)/.exec(l)?.slice(1, 3).join(' ') ?? []);
  // GET and HEAD only read; POST /sign-me-up is the account lookup (onlyReturnExisting), and
  // a registration would also log "There are now N accounts in memory".
  const posts = calls.filter((c) => !/^(GET|HEAD) /.test(c) && c !== 'POST /sign-me-up');
  return [...posts, ...lines.filter((l) => /There are now \d+ accounts in memory|Added order|is fully authorized|revoke/i.test(l))];
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
    bindUpdates: bindUpdates(),
    soaSerial: await soaSerial(),
  };
}

/**
 * Runs `work` and proves that nothing was written: the footprint above is
 * unchanged, the Fastly fake saw only GETs, and Pebble's log since then shows
 * reads and account lookups only (with at least one lookup: the CA was asked).
 */
async function expectNoWrite(work: () => Promise<void>, options: { caAsked?: boolean } = {}): Promise<void> {
  const before = await footprint();
  const requestsBefore = h.shared.fastly.requests.length;
  const pebbleBefore = readFileSync(pebble.logPath, 'utf8').length;
  await work();
  const fastlySeen = h.shared.fastly.requests.slice(requestsBefore);
  expect(fastlySeen.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual([]);
  const pebbleSeen = readFileSync(pebble.logPath, 'utf8').slice(pebbleBefore);
  expect(pebbleWrites(pebbleSeen)).toEqual([]);
  if (options.caAsked ?? true) expect(pebbleSeen).toContain('POST /sign-me-up -> calling handler()');
  expect(await footprint()).toEqual(before);
}

describe('GET|POST /process?dryrun=1', () => {
  it('answers the plan and the checks (valid against the OpenAPI document) and writes nothing', async () => {
    await expectNoWrite(async () => {
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
        if (hasPebble27()) expect(report.checks.find((c) => c.name === 'ca')?.message).toContain('profile classic is on offer (classic, shortlived, tlsserver)');
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
  });

  it('answers 502 naming each failure: a refused Fastly token; a missing TLS configuration and a TSIG secret BIND rejects together; nothing written', async () => {
    const wrongTsig = Buffer.alloc(32, 7).toString('base64');
    const cases: Array<{ env: Record<string, string>; failed: Record<string, string> }> = [
      { env: { FASTLY_API_TOKEN: 'wrong-token-0123456789' }, failed: { fastly: 'Fastly refused the token (HTTP 401)' } },
      {
        env: { FASTLY_TLS_CONFIGURATION_ID: 'no-such-config', RFC2136_TSIG_SECRET: wrongTsig },
        failed: {
          fastly: 'checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID: TLS configuration no-such-config does not exist (HTTP 404)',
          dns: 'checking the DNS provider (rfc2136) credentials for zone z60.test: ',
        },
      },
    ];
    await expectNoWrite(async () => {
      for (const { env, failed } of cases) {
        // Another instance of this deployment with the bad setting (same database, secrets and fakes).
        const bindLogBefore = readFileSync(bindLogPath(), 'utf8').length;
        const bad = await startHarness({ shared, env: { ...h.env, ...env } });
        try {
          const res = await bad.request('/process?dryrun=1');
          const body = (await res.json()) as Json;
          expect(res.status, JSON.stringify(body)).toBe(502);
          expect(validator.check('/process', 'GET', res.status, res.headers, body).problems).toEqual([]);
          expect(res.headers.get('location')).toBeNull();
          const report = body as unknown as DryRunReport;
          expect(report.dryRun).toBe(true);
          const failedChecks = Object.fromEntries(report.checks.filter((c) => c.status === 'failed').map((c) => [c.name, c.message]));
          expect(Object.keys(failedChecks).sort(), JSON.stringify(report.checks)).toEqual(Object.keys(failed).sort());
          for (const [name, text] of Object.entries(failed)) expect(failedChecks[name]).toContain(text);
          if (failed.dns) {
            expect(failedChecks.dns).toMatch(/TSIG .*RFC2136_TSIG_SECRET/);
            // BIND's own record of the rejection: a signed query (a read), refused for its signature.
            expect(readFileSync(bindLogPath(), 'utf8').slice(bindLogBefore)).toMatch(/request has invalid signature: TSIG acme-key: tsig verify failure \(BADSIG\)/);
          }
          // The plan is still answered: what would be done once the configuration is fixed.
          expect(report.plan.map((p) => p.domain).sort()).toEqual(ALL);
        } finally {
          await bad.stop();
        }
      }
    });
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
    await expectNoWrite(async () => {
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
    });
  }, 120_000);

  it('exits 1 naming the step and the cause: an unknown TLS configuration (404), a refused token (401), a wrong TSIG secret', async () => {
    await expectNoWrite(async () => {
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
    });
  }, 120_000);

  needsPebble27.it('exits 1 when ACME_PROFILE is a profile the CA does not offer, naming the variable and the profiles on offer', async () => {
    await expectNoWrite(async () => {
      const result = await cli(['process', '--dry-run', '--json'], { ACME_PROFILE: 'longlived' });
      expect(result.code, show(result)).toBe(1);
      expect(jsonOf<DryRunReport>(result).checks.find((c) => c.name === 'ca')).toMatchObject({
        status: 'failed',
        message: `looking up the ACME account at ${pebble.directoryUrl}: the account exists (onlyReturnExisting), but ACME_PROFILE=longlived is not on offer; the CA offers: classic, shortlived, tlsserver`,
      });
    });
  }, 120_000);

  it('exits 1 when the account key secret is missing, or the key has no account at the CA', async () => {
    await expectNoWrite(async () => {
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
    });
  }, 120_000);
});
