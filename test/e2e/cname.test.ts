// CNAME-delegated DNS-01 end to end, over HTTP: `_acme-challenge.cn.z14.test`
// is a CNAME to `cn.validation.test`, so the TXT record is written only in
// validation.test, never in z14.test (the domain's zone_id).
//
// BIND (`recursion no`) does not follow a CNAME out of the zone and Pebble asks
// its DNS server directly, so a second Pebble validates through the chasing
// resolver (test/testbed/chasing-resolver.ts), as Let's Encrypt does through
// Unbound. DNS_RESOLVERS points at BIND: the publisher follows the CNAME there
// and, BIND being authoritative for validation.test, asks it for the TXT (a
// resolver is only used to find the authoritative servers, issue 14 item 6).
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { dnsQuery, fetchPebbleRoot, nsupdate, queryTxt, splitPem } from '../testbed/helpers.js';
import { startPebble, type PebbleService } from '../testbed/services.js';
import { startChasingResolver, type ChasingResolver } from '../testbed/chasing-resolver.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { Rfc2136Provider } from '../../src/dns/rfc2136.js';
import type { DnsProvider } from '../../src/dns/provider.js';
import { startHarness, type Harness } from './harness.js';

const tb = inject('testbed');
const DOMAIN = 'cn.z14.test';
const ZONE = 'z14.test';
const ALIAS = `_acme-challenge.${DOMAIN}`;
const TARGET = 'cn.validation.test';
const ACCOUNT = 'acme/cname-e2e-account';

interface Call {
  op: 'addTxt' | 'removeTxt' | 'listTxt';
  zone: string;
  fqdn: string;
}

/** The real rfc2136 provider, recording every call and what BIND serves right after each write. */
class RecordingProvider implements DnsProvider {
  readonly name: string;
  readonly calls: Call[] = [];
  readonly atPublish: Array<{ values: string[]; target: string[]; aliasAnswers: Array<{ type: string; name: string }> }> = [];

  constructor(private readonly inner: DnsProvider) {
    this.name = `recording(${inner.name})`;
  }

  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    this.calls.push({ op: 'addTxt', zone, fqdn });
    await this.inner.addTxt(zone, fqdn, values);
    const alias = await dnsQuery(tb.dns.host, tb.dns.port, ALIAS, 'TXT');
    this.atPublish.push({
      values: [...values],
      target: await queryTxt(tb.dns.host, tb.dns.port, TARGET),
      aliasAnswers: alias.answers.map((a) => ({ type: a.type, name: a.name })),
    });
  }

  removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    this.calls.push({ op: 'removeTxt', zone, fqdn });
    return this.inner.removeTxt(zone, fqdn, values);
  }

  listTxt(zone: string, fqdn: string): Promise<string[]> {
    this.calls.push({ op: 'listTxt', zone, fqdn });
    return this.inner.listTxt(zone, fqdn);
  }

  findZone(fqdn: string): Promise<string | undefined> {
    return this.inner.findZone(fqdn);
  }
}

let h: Harness;
let resolver: ChasingResolver;
let pebble: PebbleService;
let dns: RecordingProvider;

beforeAll(async () => {
  await nsupdate(tb.dns, [`update add ${ALIAS}. 60 CNAME ${TARGET}.`], ZONE);
  resolver = await startChasingResolver({ upstream: `${tb.dns.host}:${tb.dns.port}` });
  pebble = await startPebble({ dir: tb.dir, dnsServer: resolver.address });
  dns = new RecordingProvider(
    new Rfc2136Provider(
      { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKeyName: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
      pino({ level: 'silent' }),
    ),
  );
  h = await startHarness({
    registerAccount: false,
    env: { LE_DIRECTORY_URL: pebble.directoryUrl, LE_ACCOUNT_KEY_SECRET_NAME: ACCOUNT, DNS_RESOLVERS: `${tb.dns.host}:${tb.dns.port}` },
    compose: { overrides: { dns } },
  });
  const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'cname-e2e@example.test' });
  await h.components.secrets.put(ACCOUNT, JSON.stringify(account.accountKeyJwk));
});
afterAll(async () => {
  await h?.stop();
  await pebble?.stop();
  await resolver?.stop();
  await nsupdate(tb.dns, [`update delete ${ALIAS}. CNAME`], ZONE);
});

describe('CNAME-delegated _acme-challenge', () => {
  it('issues with the TXT record written only at the CNAME target, in validation.test', async () => {
    await h.addDomain(DOMAIN, ZONE);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({ domain: DOMAIN, outcome: 'issued', errors: [] });

    // A certificate from the second Pebble, covering d and *.d.
    const fullchain = await h.components.secrets.get(`pem-secret/${DOMAIN}/fullchain`);
    const certs = splitPem(fullchain ?? '').map((p) => new X509Certificate(p));
    const leaf = certs[0] as X509Certificate;
    expect(leaf.subjectAltName).toContain(`DNS:${DOMAIN}`);
    expect(leaf.subjectAltName).toContain(`DNS:*.${DOMAIN}`);
    const root = new X509Certificate(await fetchPebbleRoot(pebble));
    const top = certs[certs.length - 1] as X509Certificate;
    expect(top.checkIssued(root) && top.verify(root.publicKey)).toBe(true);
    const row = await h.components.database.client.domain.findUniqueOrThrow({ where: { name: DOMAIN } });
    expect(row.tlsIssuer).toBe('Lets Encrypt');

    // Every write and removal went to the CNAME target in validation.test; nothing to z14.test.
    expect(dns.calls.length).toBeGreaterThan(0);
    expect(dns.calls.filter((c) => c.zone !== 'validation.test' || c.fqdn !== TARGET)).toEqual([]);
    expect(dns.calls.filter((c) => c.op === 'addTxt')).toHaveLength(1);
    expect(dns.calls.at(-1)).toEqual({ op: 'removeTxt', zone: 'validation.test', fqdn: TARGET });

    // While published: BIND served both values at the target, and only the CNAME at the alias.
    expect(dns.atPublish).toHaveLength(1);
    const seen = dns.atPublish[0];
    expect(seen?.values).toHaveLength(2);
    expect(seen?.target.sort()).toEqual(seen?.values.sort());
    expect(seen?.aliasAnswers).toEqual([{ type: 'CNAME', name: ALIAS }]);

    // Pebble asked the resolver for the alias, which followed the CNAME (two upstream queries).
    const pebbleQueries = resolver.queries.filter((q) => q.name === ALIAS && q.type === 'TXT');
    expect(pebbleQueries.length).toBeGreaterThan(0);
    expect(pebbleQueries.every((q) => q.rcode === 'NOERROR' && q.upstreamQueries === 2)).toBe(true);

    // Nothing left: no TXT at the target, none at the alias; the CNAME itself is ours to remove.
    expect(await queryTxt(tb.dns.host, tb.dns.port, TARGET)).toEqual([]);
    const after = await dnsQuery(tb.dns.host, tb.dns.port, ALIAS, 'TXT');
    expect(after.answers.filter((a) => a.type === 'TXT')).toEqual([]);
  });
});
