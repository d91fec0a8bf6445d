// The CA rejects a challenge: the DNS provider publishes wrong TXT values for
// ONE domain (test/dns/faulty.ts around the real rfc2136 provider), the others
// are published correctly. Driven over HTTP through the harness. Zones z13–z15.
//
// DNS_PROPAGATION_CHECK=false: our own check waits for the expected values and
// would stop before the CA is asked; here the CA itself must say no.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { queryTxt } from '../testbed/helpers.js';
import { withWrongTxtValues, wrongValue, type FaultyDnsProvider } from '../dns/faulty.js';
import { Rfc2136Provider } from '../../src/dns/rfc2136.js';
import { challengeName } from '../../src/dns/dns01.js';
import type { DnsProvider } from '../../src/dns/provider.js';
import { challengeRecords, startHarness, type Harness } from './harness.js';

const tb = inject('testbed');
const BAD = 'z13.test';
const GOOD = ['z14.test', 'z15.test'];
const DOMAINS = [BAD, ...GOOD];

/** Publishes wrong values at one record name only; every other name goes to the real provider. */
class WrongForOneName implements DnsProvider {
  readonly name: string;
  readonly faulty: FaultyDnsProvider;
  /** What BIND served at the bad name right after each wrong write. */
  readonly servedAtBadName: string[][] = [];

  constructor(
    private readonly inner: DnsProvider,
    private readonly badFqdn: string,
  ) {
    this.faulty = withWrongTxtValues(inner);
    this.name = `wrong-for-one(${inner.name})`;
  }

  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    if (fqdn.toLowerCase() !== this.badFqdn) return this.inner.addTxt(zone, fqdn, values);
    await this.faulty.addTxt(zone, fqdn, values);
    this.servedAtBadName.push(await queryTxt(tb.dns.host, tb.dns.port, fqdn));
  }

  removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    if (fqdn.toLowerCase() !== this.badFqdn) return this.inner.removeTxt(zone, fqdn, values);
    return this.faulty.removeTxt(zone, fqdn, values);
  }

  listTxt(zone: string, fqdn: string): Promise<string[]> {
    return this.inner.listTxt(zone, fqdn);
  }

  findZone(fqdn: string): Promise<string | undefined> {
    return this.inner.findZone(fqdn);
  }
}

let h: Harness;
let dns: WrongForOneName;

beforeAll(async () => {
  const real = new Rfc2136Provider(
    { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKeyName: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
    pino({ level: 'silent' }),
  );
  dns = new WrongForOneName(real, challengeName(BAD));
  h = await startHarness({ env: { DNS_PROPAGATION_CHECK: 'false' }, compose: { overrides: { dns } } });
});
afterAll(async () => {
  await h?.stop();
});

const orders = (domain: string): Promise<number> => h.components.database.client.acmeOrder.count({ where: { domain } });

describe('wrong TXT values published for one domain', () => {
  it('fails that domain with the CA reason, issues the others and leaves no challenge record', async () => {
    for (const d of DOMAINS) await h.addDomain(d);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(502);
    expect(doc.status).toBe('partial');
    expect(doc.results.map((r) => r.domain).sort()).toEqual(DOMAINS);

    // The wrong values really were what DNS served, for the bad name only.
    const requested = dns.faulty.requested.get(challengeName(BAD));
    expect(requested).toHaveLength(2);
    expect([...dns.faulty.requested.keys()]).toEqual([challengeName(BAD)]);
    expect(dns.servedAtBadName).toHaveLength(1);
    expect(dns.servedAtBadName[0]?.sort()).toEqual((requested ?? []).map(wrongValue).sort());

    const bad = doc.results.find((r) => r.domain === BAD);
    expect(bad?.outcome).toBe('failed');
    expect(bad?.errors.join('\n')).toMatch(/Correct value not found for DNS challenge/);
    expect(bad?.errors.join('\n')).toMatch(/unauthorized/);
    for (const d of GOOD) {
      expect(doc.results.find((r) => r.domain === d), d).toMatchObject({ outcome: 'issued', errors: [] });
      expect(await h.components.secrets.get(`pem-secret/${d}/fullchain`)).toMatch(/BEGIN CERTIFICATE/);
    }
    for (const d of DOMAINS) expect(await challengeRecords(d), d).toEqual([]);

    // Nothing stored or uploaded for the failed domain; its failure is recorded with a backoff.
    expect(await h.components.secrets.get(`pem-secret/${BAD}/fullchain`)).toBeUndefined();
    expect([...h.shared.fastly.certs.values()].some((c) => c.domains.includes(BAD))).toBe(false);
    const row = await h.components.database.client.domain.findUniqueOrThrow({ where: { name: BAD }, include: { state: true } });
    expect(row.tlsIssuer).toBeNull();
    expect(row.state?.failureCount).toBe(1);
    expect(row.state?.backoffUntil?.getTime()).toBeGreaterThan(Date.now());
    expect(row.state?.lastError).toMatch(/Correct value not found/);
    expect(await orders(BAD)).toBe(1);
  });

  it('reports the failed domain deferred on the next /process, without ordering', async () => {
    const before = await h.components.database.client.acmeOrder.count();
    const writes = dns.faulty.requested.size + dns.servedAtBadName.length;
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({ domain: BAD, outcome: 'deferred', errors: [] });
    expect(doc.results[0]?.messages.join('\n')).toMatch(/backoff/i);
    expect(await h.components.database.client.acmeOrder.count()).toBe(before);
    expect(dns.faulty.requested.size + dns.servedAtBadName.length).toBe(writes);
    const state = await h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name: BAD } } });
    expect(state.failureCount).toBe(1);
  });
});
