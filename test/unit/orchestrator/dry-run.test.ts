// DryRun (src/orchestrator/dry-run.ts) over the in-memory harness: the plan per
// domain, the read-only checks, and proof that nothing was written.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { DryRun, dryRunFailed, type DryRunDeps, type DryRunReport } from '../../../src/orchestrator/dry-run.js';
import type { BulkCertificate, FastlyTls } from '../../../src/storage/fastly.js';
import type { DnsProvider } from '../../../src/dns/provider.js';
import { MemoryDnsProvider } from '../../dns/memory.js';
import { MemoryFastly } from '../../fakes/memory-fastly.js';
import { CONFIGURATION_ID, harnessPerTest, PEM_BASE, type Harness } from './harness.js';

const harness = harnessPerTest();
const DAY = 86_400_000;
const ACCOUNT_SECRET = 'acme/account-key';

function dryRunOf(h: Harness, overrides: Partial<DryRunDeps> = {}, settings: Partial<DryRunDeps['settings']> = {}): DryRun {
  return new DryRun({
    repository: h.repository,
    state: h.state,
    dns: new MemoryDnsProvider(['Z1']),
    secrets: h.world.secrets,
    fastly: h.world.fastly,
    issuer: async () => h.world.ca,
    budget: async () => h.budget,
    probe: h.world.probe,
    clock: h.world.clock,
    logger: createLogger({ level: 'silent' }),
    settings: {
      maxDomainsPerRun: 10,
      concurrency: 2,
      excludedDomains: [],
      windowDays: 30,
      windowExplicit: false,
      continuous: false,
      pemSecretBasePath: PEM_BASE,
      accountKeySecretName: ACCOUNT_SECRET,
      directoryUrl: 'https://ca.test/directory',
      fastlyConfigurationId: CONFIGURATION_ID,
      ...settings,
    },
    ...overrides,
  });
}

/** Everything a run writes: run rows, orders, domain state and records, secrets, Fastly, DNS. */
async function footprint(h: Harness, dns?: MemoryDnsProvider) {
  const count = async (table: string) => Number((await h.db.$queryRawUnsafe<Array<{ n: bigint | number }>>(`SELECT COUNT(*) AS n FROM "${table}"`))[0]?.n);
  return {
    runs: await count('autotls_runs'),
    results: await count('autotls_run_results'),
    orders: await count('autotls_acme_orders'),
    tls: await count('tls'),
    state: JSON.stringify(await h.db.domainState.findMany({ orderBy: { domainId: 'asc' } })),
    domains: JSON.stringify(await h.db.domain.findMany({ orderBy: { id: 'asc' } })),
    secretWrites: h.world.secrets.ops.put + h.world.secrets.ops.delete,
    fastlyWrites: h.world.fastly.calls.filter((c) => c.write).length,
    dnsWrites: h.world.dns.writes + (dns?.calls.length ?? 0),
  };
}

function plan(report: DryRunReport, domain: string) {
  const found = report.plan.find((p) => p.domain === domain);
  if (!found) throw new Error(`${domain} not in the plan: ${JSON.stringify(report.plan)}`);
  return found;
}

describe('DryRun', () => {
  it('plans new, renewal (replace in place), own certificate beside a shared one, and backoff; writes nothing', async () => {
    const h = await harness();
    await h.world.secrets.put(ACCOUNT_SECRET, '{"kty":"EC"}');
    // renew.test gets a certificate through the real flow, then comes due.
    await h.addDomain('renew.test');
    expect((await (await h.orchestrator.startProcess(false)).done).results).toMatchObject([{ domain: 'renew.test', outcome: 'issued' }]);
    h.world.clock.advance(80 * DAY);
    await h.addDomain('fresh.test');
    await h.addDomain('shared.test');
    const backedOff = await h.addDomain('backoff.test');
    await h.db.domainState.create({ data: { domainId: backedOff.id, failureCount: 2, backoffUntil: new Date(h.world.clock.now().getTime() + DAY) } });

    const sharedCertificate: BulkCertificate = {
      id: 'cert-shared',
      notAfter: new Date(h.world.clock.now().getTime() + 30 * DAY),
      notBefore: new Date(h.world.clock.now().getTime() - DAY),
      createdAt: new Date(h.world.clock.now().getTime() - DAY),
      domains: ['shared.test', 'other.test'],
      configurationIds: [CONFIGURATION_ID],
    };
    const memory = h.world.fastly;
    const fastly: FastlyTls = Object.assign(Object.create(memory) as MemoryFastly, {
      listBulkCertificatesForDomain: async (domain: string) => (domain === 'shared.test' ? [sharedCertificate] : memory.listBulkCertificatesForDomain(domain)),
    });
    const dns = new MemoryDnsProvider(['Z1']);
    const before = await footprint(h, dns);
    const writesBefore = memory.writes().length;

    const report = await dryRunOf(h, { fastly, dns }).run({ testmode: false });

    expect(report.dryRun).toBe(true);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['selection', 'ok'],
      ['secrets', 'ok'],
      ['ca', 'ok'],
      ['dns', 'ok'],
      ['fastly', 'ok'],
    ]);
    expect(dryRunFailed(report)).toBe(false);
    const ownId = [...memory.certs.values()].find((c) => c.domains.includes('renew.test'))?.id;
    const renewState = await h.stateOf('renew.test');
    expect(plan(report, 'renew.test')).toMatchObject({
      status: 'renew',
      plan: 'renewal',
      replaces: renewState?.certId ?? null,
      fastly: { action: 'replace', certificateId: ownId, detail: `replace in place ${ownId}` },
    });
    expect(plan(report, 'fresh.test')).toMatchObject({ status: 'new', plan: 'new', replaces: null, fastly: { action: 'create' } });
    expect(plan(report, 'shared.test')).toMatchObject({
      plan: 'new',
      fastly: { action: 'own-certificate', sharedCertificateIds: ['cert-shared'], detail: 'own certificate beside shared cert-shared' },
    });
    expect(plan(report, 'backoff.test')).toMatchObject({ status: 'backoff', plan: 'backoff', fastly: { action: 'none' } });

    expect(await footprint(h, dns)).toEqual(before);
    expect(memory.writes()).toHaveLength(writesBefore);
  });

  it('selects what /process selects: the same cap and order', async () => {
    const h = await harness();
    for (const d of ['a.test', 'b.test', 'c.test']) await h.addDomain(d);
    const report = await dryRunOf(h, {}, { maxDomainsPerRun: 2 }).run({ testmode: true });
    const selected = (await h.repository.selectDue({ limit: 2, excluded: [], windowDays: 30 })).map((c) => c.name);
    expect(report.plan.map((p) => p.domain)).toEqual(selected);
    expect(report.plan).toHaveLength(2);
    // Testmode: nothing would be uploaded, and Fastly is not required.
    expect(report.plan.every((p) => p.fastly.action === 'none')).toBe(true);
    expect(report.testmode).toBe(true);
  });

  it('continuous: takes the new domains only up to the budget headroom, as a wake does', async () => {
    const h = await harness({ orderBudget: 1 });
    for (const d of ['a.test', 'b.test', 'c.test']) await h.addDomain(d);
    const report = await dryRunOf(h, {}, { continuous: true, maxDomainsPerRun: 10 }).run({ testmode: true });
    expect(report.continuous).toBe(true);
    expect(report.plan).toHaveLength(1);
    expect(report.checks[0]?.message).toContain("1 new order(s) left in the order budget's 3-hour window");
  });

  it('reports each failed check with its step and cause, and the CLI verdict fails', async () => {
    const h = await harness();
    await h.addDomain('fail.test');
    const brokenDns: DnsProvider = {
      name: 'route53',
      addTxt: () => Promise.reject(new Error('must not write')),
      removeTxt: () => Promise.reject(new Error('must not write')),
      listTxt: () => Promise.reject(new Error('Route53 ListResourceRecordSets: AccessDenied')),
      findZone: async () => undefined,
    };
    const fastly = new MemoryFastly({ clock: h.world.clock, configurationIds: ['other-config'] });
    const report = await dryRunOf(h, {
      dns: brokenDns,
      fastly,
      issuer: () => Promise.reject(new Error('no ACME account exists for this key')),
    }).run({ testmode: false });
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.secrets).toMatchObject({ status: 'failed', message: expect.stringContaining(`the ACME account key secret ${ACCOUNT_SECRET} does not exist`) });
    expect(byName.ca).toMatchObject({ status: 'failed', message: 'looking up the ACME account at https://ca.test/directory: no ACME account exists for this key' });
    expect(byName.dns).toMatchObject({
      status: 'failed',
      message: 'checking the DNS provider (route53) credentials for zone Z1: Route53 ListResourceRecordSets: AccessDenied',
    });
    expect(byName.fastly).toMatchObject({
      status: 'failed',
      message: `checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID: TLS configuration ${CONFIGURATION_ID} does not exist (HTTP 404); check FASTLY_TLS_CONFIGURATION_ID`,
    });
    expect(dryRunFailed(report)).toBe(true);
    expect(fastly.writes()).toEqual([]);
  });

  it('names a refused Fastly token (401), a configuration that is not for Platform TLS, and a missing Fastly configuration', async () => {
    const h = await harness();
    const refusing = Object.assign(Object.create(h.world.fastly) as MemoryFastly, {
      getTlsConfiguration: () => Promise.reject(Object.assign(new Error('Fastly get TLS configuration failed: HTTP 401'), { status: 401 })),
    });
    const refused = await dryRunOf(h, { fastly: refusing }).run({ testmode: false });
    expect(refused.checks.find((c) => c.name === 'fastly')?.message).toBe(
      'checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID: Fastly refused the token (HTTP 401); check FASTLY_API_TOKEN and its TLS scope',
    );
    const notBulk = Object.assign(Object.create(h.world.fastly) as MemoryFastly, {
      getTlsConfiguration: async (id: string) => ({ id, name: 'HTTP/3 & TLS v1.3', bulk: false, default: true }),
    });
    expect((await dryRunOf(h, { fastly: notBulk }).run({ testmode: false })).checks.find((c) => c.name === 'fastly')).toEqual({
      name: 'fastly',
      status: 'failed',
      message: `checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID: TLS configuration ${CONFIGURATION_ID} (HTTP/3 & TLS v1.3) is not a Platform TLS (bulk) configuration`,
    });
    const unset = await dryRunOf(h, { fastly: undefined }).run({ testmode: false });
    expect(unset.checks.find((c) => c.name === 'fastly')).toMatchObject({ status: 'failed', message: expect.stringContaining('FASTLY_API_TOKEN is not set') });
    const testmode = await dryRunOf(h, { fastly: undefined }).run({ testmode: true });
    expect(testmode.checks.find((c) => c.name === 'fastly')?.status).toBe('skipped');
  });

  it('plans the upload of a stored certificate without probing, and an order (held by its backoff) when the stored one is gone', async () => {
    const h = await harness();
    await h.addDomain('stored.test');
    h.world.fastly.faults.failurePercent = 100;
    expect((await (await h.orchestrator.startProcess(false)).done).results).toMatchObject([{ domain: 'stored.test', outcome: 'failed' }]);
    h.world.fastly.faults.failurePercent = 0;
    const state = await h.stateOf('stored.test');
    expect(state?.phase).toBe('stored');
    let probes = 0;
    const probe: DryRunDeps['probe'] = async (...args) => {
      probes++;
      return h.world.probe(...args);
    };
    const resumed = await dryRunOf(h, { probe }).run({ testmode: false });
    expect(plan(resumed, 'stored.test')).toMatchObject({ plan: 'resume-upload', fastly: { action: 'create' } });
    expect(plan(resumed, 'stored.test').messages).toContain(`Resumes with the stored certificate (serial ${state?.certSerial}); no new order`);
    expect(probes).toBe(0);

    await h.world.secrets.delete(`${PEM_BASE}/stored.test/fullchain`);
    const reordered = await dryRunOf(h, { probe }).run({ testmode: false });
    // The failed upload started a backoff, which a new order (unlike a resume) respects, as DomainFlow.order does.
    expect(plan(reordered, 'stored.test')).toMatchObject({ status: 'new', plan: 'backoff', fastly: { action: 'none' } });
    expect(plan(reordered, 'stored.test').messages[0]).toBe('The stored certificate (phase stored) is missing from the secrets store; orders again');
    expect(probes).toBe(1);
  });

  it('plans to finish an unfinished order only when its order URL and pending key are there', async () => {
    const h = await harness();
    const d = await h.addDomain('ordered.test');
    await h.db.domainState.create({ data: { domainId: d.id, phase: 'ordered' } });
    const withoutOrder = await dryRunOf(h).run({ testmode: false });
    expect(plan(withoutOrder, 'ordered.test')).toMatchObject({ plan: 'new' });
    expect(plan(withoutOrder, 'ordered.test').messages[0]).toContain('cannot be resumed');

    const reservation = await h.budget.reserve('ordered.test', undefined);
    if (!reservation.ok) throw new Error('no budget');
    await h.budget.confirm(reservation.reservationId, 'https://ca.test/order/1', false);
    await h.world.secrets.put(`${PEM_BASE}/ordered.test/pending`, JSON.stringify({ privateKeyPem: 'k', csrPem: 'c' }));
    const resumable = await dryRunOf(h).run({ testmode: false });
    expect(plan(resumable, 'ordered.test')).toMatchObject({ plan: 'resume-order' });
    expect(plan(resumable, 'ordered.test').messages[0]).toContain('https://ca.test/order/1');
  });

  it('checks ACME_PROFILE against the profiles the directory offers, as an order would', async () => {
    const h = await harness();
    await h.addDomain('a.test', { zoneId: 'Z1' });
    const offering = (profiles: Record<string, unknown> | undefined) => async () => Object.assign(Object.create(h.world.ca) as typeof h.world.ca, { profiles: async () => profiles });
    const letsEncrypt = { classic: '90 days', tlsserver: '45 days', shortlived: '160 hours' };
    const caCheck = async (issuerProfiles: Record<string, unknown> | undefined, profile: string | undefined) =>
      (await dryRunOf(h, { issuer: offering(issuerProfiles) }, { profile }).run({ testmode: false })).checks.find((c) => c.name === 'ca');

    expect(await caCheck(letsEncrypt, 'shortlived')).toMatchObject({ status: 'ok', message: expect.stringContaining('profile shortlived is on offer (classic, shortlived, tlsserver)') });
    const unknown = await caCheck(letsEncrypt, 'longlived');
    expect(unknown).toMatchObject({ status: 'failed', message: expect.stringContaining('ACME_PROFILE=longlived is not on offer; the CA offers: classic, shortlived, tlsserver') });
    expect(await caCheck(undefined, 'classic')).toMatchObject({ status: 'ok', message: expect.stringContaining('the CA advertises no profiles, so orders go without ACME_PROFILE=classic') });
    expect(await caCheck(letsEncrypt, undefined)).toMatchObject({ status: 'ok', message: expect.stringContaining('profiles on offer: classic, shortlived, tlsserver') });
    // The in-memory CA has no profiles() at all: nothing to check.
    expect((await dryRunOf(h, {}, { profile: 'classic' }).run({ testmode: false })).checks.find((c) => c.name === 'ca')?.status).toBe('ok');
  });

  it("looks up the fallback CA's account too when one is configured, and names it when that fails", async () => {
    const h = await harness();
    await h.world.secrets.put(ACCOUNT_SECRET, '{"kty":"EC"}');
    await h.addDomain('a.test', { zoneId: 'Z1' });
    const fallbackUrl = 'https://fallback.test/directory';
    const caChecks = (report: DryRunReport) => report.checks.filter((c) => c.name === 'ca');

    const missing = await dryRunOf(h, {
      fallback: { directoryUrl: fallbackUrl, issuer: () => Promise.reject(new Error('fallback CA account key secret acme/fallback (ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME) does not exist')) },
    }).run({ testmode: false });
    expect(caChecks(missing)).toEqual([
      { name: 'ca', status: 'ok', message: 'looking up the ACME account at https://ca.test/directory: the account exists (onlyReturnExisting)' },
      {
        name: 'ca',
        status: 'failed',
        message: `fallback CA (ACME_FALLBACK_DIRECTORY_URL): looking up the ACME account at ${fallbackUrl}: fallback CA account key secret acme/fallback (ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME) does not exist`,
      },
    ]);
    expect(dryRunFailed(missing)).toBe(true);

    // A fallback that does not offer ACME_PROFILE is fine: its orders go without one.
    const offering = async () => Object.assign(Object.create(h.world.ca) as typeof h.world.ca, { profiles: async () => ({ tlsserver: '45 days' }) });
    const withoutProfile = await dryRunOf(h, { fallback: { directoryUrl: fallbackUrl, issuer: offering } }, { profile: 'classic' }).run({ testmode: false });
    expect(caChecks(withoutProfile)[1]).toMatchObject({ status: 'ok', message: expect.stringContaining('ACME_PROFILE=classic is not on offer there, so its orders go without a profile') });
    expect(dryRunFailed(withoutProfile)).toBe(false);
    // Without a fallback, one CA check.
    expect(caChecks(await dryRunOf(h).run({ testmode: false }))).toHaveLength(1);
  });
});
