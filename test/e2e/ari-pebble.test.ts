// ARI (RFC 9773) and profiles against the real CA: Pebble 2.7.0 with Let's
// Encrypt's three profiles (test/testbed/services.ts PEBBLE_PROFILES). Through
// the public contract: HTTP (/process), the CLI (`autotls ari refresh`) and the
// database rows; Pebble's own renewalInfo is read by the test itself.
// Skipped on Debian's Pebble 2.4.0 (no ARI, no profiles). Names p27-*.z19.test.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, inject } from 'vitest';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { needsPebble27, pebbleRenewalInfo, splitPem } from '../testbed/helpers.js';
import { ACCOUNT_SECRET, challengeRecords, issueReplaceable, startHarness, type Harness } from './harness.js';
import { ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ZONE = 'z19.test';

/** not_before and not_after of the domain's current `tls` row (contract section 4). */
async function tlsRow(h: Harness, domain: string): Promise<{ notBefore: Date; notAfter: Date }> {
  const db = h.components.database.client;
  const d = await db.domain.findUniqueOrThrow({ where: { name: domain } });
  const tls = await db.tls.findUniqueOrThrow({ where: { id: d.tlsId as number } });
  return { notBefore: tls.notBefore as Date, notAfter: tls.notAfter as Date };
}

const stateOf = (h: Harness, domain: string) => h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name: domain } } });

async function issueOne(h: Harness, domain: string): Promise<void> {
  await h.addDomain(domain, ZONE);
  const { status, doc } = await h.run(`/single/${domain}`);
  expect(status, JSON.stringify(doc)).toBe(200);
  expect(doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
}

needsPebble27.describe('profiles (ACME_PROFILE)', () => {
  const harnesses: Harness[] = [];
  afterAll(async () => {
    await Promise.all(harnesses.map((h) => h.stop()));
  });
  const withProfile = async (profile: string): Promise<Harness> => {
    const h = await startHarness({ env: { ACME_PROFILE: profile } });
    harnesses.push(h);
    return h;
  };

  // Without ACME_PROFILE no profile is sent; Let's Encrypt then uses classic, while
  // Pebble 2.7.0 picks one of its profiles at random (wfe.go, "in true pebble chaos
  // fashion"), so only named profiles have a lifetime to assert here.
  needsPebble27.it('shortlived issues a 160-hour certificate, tlsserver a 45-day one, classic a 90-day one', async () => {
    const [short, server, classic] = await Promise.all([withProfile('shortlived'), withProfile('tlsserver'), withProfile('classic')]);
    await Promise.all([issueOne(short, 'p27-short.z19.test'), issueOne(server, 'p27-server.z19.test'), issueOne(classic, 'p27-classic.z19.test')]);
    const lifetime = async (h: Harness, d: string) => {
      const row = await tlsRow(h, d);
      return row.notAfter.getTime() - row.notBefore.getTime();
    };
    // Pebble's validity period is notAfter - notBefore, to within a second (X.509 times have second precision).
    expect(Math.abs((await lifetime(short, 'p27-short.z19.test')) - 160 * HOUR)).toBeLessThanOrEqual(1000);
    expect(Math.abs((await lifetime(server, 'p27-server.z19.test')) - 45 * DAY)).toBeLessThanOrEqual(1000);
    expect(Math.abs((await lifetime(classic, 'p27-classic.z19.test')) - 90 * DAY)).toBeLessThanOrEqual(1000);
    // The run document says the same.
    const secrets = new FileSecretsStore(short.shared.secretsDir);
    const leaf = new X509Certificate(splitPem((await secrets.get('pem-secret/p27-short.z19.test/fullchain')) ?? '')[0] ?? '');
    expect(new Date(leaf.validTo).getTime() - new Date(leaf.validFrom).getTime()).toBeLessThanOrEqual(160 * HOUR);
    // A short-lived certificate also gets its renewal time from the CA's window.
    const st = await stateOf(short, 'p27-short.z19.test');
    const window = await pebbleRenewalInfo(inject('testbed').pebble, st.certId as string);
    expect(st.nextRenewalAt!.getTime()).toBeGreaterThanOrEqual(window.start.getTime());
    expect(st.nextRenewalAt!.getTime()).toBeLessThanOrEqual(window.end.getTime());
  });

  needsPebble27.it('an unknown profile is refused, naming it and the profiles on offer; nothing is ordered', async () => {
    const h = await withProfile('longlived');
    const domain = 'p27-bogus.z19.test';
    await h.addDomain(domain, ZONE);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(502);
    const result = doc.results.find((r) => r.domain === domain);
    expect(result?.outcome).toBe('failed');
    const error = result?.errors.join(' ') ?? '';
    expect(error).toContain('"longlived"');
    for (const offered of ['classic', 'shortlived', 'tlsserver']) expect(error).toContain(offered);
    expect(await h.components.database.client.acmeOrder.count({ where: { domain } })).toBe(0);
    expect(await challengeRecords(domain)).toEqual([]);
  });
});

needsPebble27.describe('ARI from the real CA', () => {
  let h: Harness;
  beforeAll(async () => {
    ensureBuilt();
    // classic: a 90-day certificate whose window Pebble puts around day 60.
    h = await startHarness({ env: { CONCURRENCY: '2', ACME_PROFILE: 'classic' } });
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
  });

  const cli = (args: string[]) => runCli(args, { ...h.env, LOG_LEVEL: 'warn' }, h.shared.dir);

  needsPebble27.it("records a next renewal inside the CA's window, and asks again after its Retry-After (6 hours, not stretched)", async () => {
    const domain = 'p27-window.z19.test';
    const before = Date.now();
    await issueOne(h, domain);
    const st = await stateOf(h, domain);
    expect(st.certId).toBeTruthy();
    const window = await pebbleRenewalInfo(inject('testbed').pebble, st.certId as string);
    // Pebble 2.7.0: a 2-day window around two thirds of the 90-day lifetime.
    expect(window.end.getTime() - window.start.getTime()).toBeGreaterThan(0);
    expect(window.start.getTime()).toBeGreaterThan(before + 55 * DAY);
    expect(st.nextRenewalAt!.getTime()).toBeGreaterThanOrEqual(window.start.getTime());
    expect(st.nextRenewalAt!.getTime()).toBeLessThanOrEqual(window.end.getTime());
    expect(window.retryAfterSeconds).toBe(21_600);
    expect(st.ariCheckAfter!.getTime()).toBeGreaterThanOrEqual(before + 6 * HOUR);
    expect(st.ariCheckAfter!.getTime()).toBeLessThanOrEqual(Date.now() + 6 * HOUR);

    // `autotls status` shows the same renewal time.
    const status = await cli(['status', '--json']);
    expect(status.code, show(status)).toBe(0);
    const row = jsonOf<Array<{ domain: string; nextRenewal: string }>>(status).find((r) => r.domain === domain);
    expect(new Date(row?.nextRenewal ?? 0)).toEqual(st.nextRenewalAt);
  });

  needsPebble27.it('after a revocation at the CA, `autotls ari refresh` then /process renews exactly that domain, with `replaces`', async () => {
    const revoked = await issueReplaceable(h, 'p27-revoked', ZONE);
    const kept = 'p27-kept.z19.test';
    await issueOne(h, kept);
    const old = await stateOf(h, revoked);
    const keptBefore = await stateOf(h, kept);

    // Revoke at the CA with the account key (RFC 8555 §7.6), as an operator or the CA would.
    const secrets = new FileSecretsStore(h.shared.secretsDir);
    const jwk = JSON.parse((await secrets.get(ACCOUNT_SECRET)) as string) as Record<string, unknown>;
    const accountKey = createPrivateKey({ key: jwk as never, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }).toString();
    const client = new acme.Client({ directoryUrl: inject('testbed').pebble.directoryUrl, accountKey });
    await client.createAccount({ onlyReturnExisting: true });
    const leafPem = splitPem((await secrets.get(`pem-secret/${revoked}/fullchain`)) as string)[0] as string;
    await client.revokeCertificate(leafPem, { reason: 4 /* superseded */ });
    // The CA now says: renew now (a window in the past).
    const window = await pebbleRenewalInfo(inject('testbed').pebble, old.certId as string);
    expect(window.end.getTime()).toBeLessThan(Date.now());

    // Until ARI is asked again (after Retry-After), a run does not know.
    const quiet = await h.run('/process');
    expect(quiet.doc.results.filter((r) => [revoked, kept].includes(r.domain))).toEqual([]);

    const refreshed = await cli(['ari', 'refresh', '--all', '--json']);
    expect(refreshed.code, show(refreshed)).toBe(0);
    const summary = jsonOf<{ checked: number; moved: number; results: Array<{ domain: string; status: string; after: string }> }>(refreshed);
    const byDomain = new Map(summary.results.map((r) => [r.domain, r]));
    expect(byDomain.get(revoked)).toMatchObject({ status: 'moved' });
    expect(new Date(byDomain.get(revoked)?.after ?? 0).getTime()).toBeLessThanOrEqual(Date.now());
    expect(byDomain.get(kept)).toMatchObject({ status: 'unchanged' });
    expect((await stateOf(h, kept)).nextRenewalAt).toEqual(keptBefore.nextRenewalAt);

    // The text form, for one domain, says what it found.
    const text = await cli(['ari', 'refresh', revoked]);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toContain('Asked the CA about 1 certificate(s)');
    expect(text.stdout).toMatch(new RegExp(`${revoked.replace(/\./g, '\\.')}\\s+(moved|unchanged)`));

    const renewal = await h.run('/process');
    expect(renewal.status, JSON.stringify(renewal.doc)).toBe(200);
    const mine = renewal.doc.results.filter((r) => r.domain.startsWith('p27-'));
    expect(mine.map((r) => [r.domain, r.outcome])).toEqual([[revoked, 'renewed']]);
    expect(mine[0]?.messages.join(' ')).toContain('as an ARI replacement');

    // The order named the revoked certificate in `replaces`, and the CA accepted it as such.
    const orders = await h.components.database.client.acmeOrder.findMany({ where: { domain: revoked }, orderBy: { id: 'asc' } });
    expect(orders.at(-1)).toMatchObject({ replaces: old.certId, exempt: true });
    const renewed = await stateOf(h, revoked);
    expect(renewed.certId).not.toBe(old.certId);
    // Pebble linked the orders: a second replacement of the same certificate is refused
    // (409 conflict, wfe.go validateReplacementOrder).
    await expect(client.createOrder({ identifiers: [{ type: 'dns', value: revoked }], replaces: old.certId } as never)).rejects.toThrow(/already has a replacement order/);
    // The new certificate's window lies ahead again.
    const next = await pebbleRenewalInfo(inject('testbed').pebble, renewed.certId as string);
    expect(renewed.nextRenewalAt!.getTime()).toBeGreaterThanOrEqual(next.start.getTime());
    expect(renewed.nextRenewalAt!.getTime()).toBeLessThanOrEqual(next.end.getTime());
    expect(await challengeRecords(revoked)).toEqual([]);
  });

  needsPebble27.it('`autotls ari refresh` for a domain without a certificate fails (exit 1), naming it', async () => {
    await h.addDomain('p27-none.z19.test', ZONE);
    const [none, unknown] = await Promise.all([cli(['ari', 'refresh', 'p27-none.z19.test']), cli(['ari', 'refresh', 'p27-nowhere.z19.test'])]);
    expect(none.code, show(none)).toBe(1);
    expect(none.stderr).toContain('p27-none.z19.test has no certificate to ask ARI about');
    expect(unknown.code, show(unknown)).toBe(1);
    expect(unknown.stderr).toContain('Domain p27-nowhere.z19.test not found');
  });
});

describe('ari-pebble', () => {
  // Keeps the file non-empty for vitest when everything above is skipped on Pebble 2.4.0.
  needsPebble27.it('runs only on Pebble 2.7.0', () => {
    expect(inject('testbed').pebble.version).toBe('2.7.0');
  });
});
