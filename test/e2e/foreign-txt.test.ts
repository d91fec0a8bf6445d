// A foreign TXT value at `_acme-challenge.<domain>` survives issuance (issue 14,
// item 3; contract section 5: "AutoTLS adds and removes only its own values").
// Over HTTP (/process) on the real testbed: rfc2136 into BIND, Pebble validating
// against BIND. Another ACME client's validation token sits at the name before
// the run; Pebble must validate our values beside it, and it must still be
// there, alone, afterwards. Zone z60.test.
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { nsupdate, queryTxt, splitPem } from '../testbed/helpers.js';
import { Rfc2136Provider } from '../../src/dns/rfc2136.js';
import type { DnsProvider } from '../../src/dns/provider.js';
import { challengeRecords, startHarness, type Harness } from './harness.js';

const tb = inject('testbed');
const DOMAIN = 'z60.test';
const NAME = `_acme-challenge.${DOMAIN}`;
const FOREIGN = 'another-acme-clients-validation-in-progress';

/** The real rfc2136 provider, noting what BIND serves right after each of our writes. */
class Observing implements DnsProvider {
  readonly name = 'rfc2136';
  readonly servedAfterAdd: string[][] = [];
  constructor(private readonly inner: DnsProvider) {}
  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    await this.inner.addTxt(zone, fqdn, values);
    this.servedAfterAdd.push(await queryTxt(tb.dns.host, tb.dns.port, fqdn));
  }
  removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    return this.inner.removeTxt(zone, fqdn, values);
  }
  listTxt(zone: string, fqdn: string): Promise<string[]> {
    return this.inner.listTxt(zone, fqdn);
  }
  findZone(fqdn: string): Promise<string | undefined> {
    return this.inner.findZone(fqdn);
  }
}

let h: Harness;
let dns: Observing;

beforeAll(async () => {
  await nsupdate(tb.dns, [`update add ${NAME}. 300 TXT "${FOREIGN}"`], DOMAIN);
  dns = new Observing(
    new Rfc2136Provider(
      { nameserver: `${tb.dns.host}:${tb.dns.port}`, tsigKeyName: tb.dns.tsigKeyName, tsigSecret: tb.dns.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
      pino({ level: 'silent' }),
    ),
  );
  h = await startHarness({ compose: { overrides: { dns } } });
});
afterAll(async () => {
  await h?.stop();
  await nsupdate(tb.dns, [`update delete ${NAME}. TXT`], DOMAIN);
});

describe('a foreign TXT value at _acme-challenge.<domain>', () => {
  it('survives issuance: our two values are added beside it, validated, and removed; it stays', async () => {
    expect(await challengeRecords(DOMAIN)).toEqual([FOREIGN]);
    await h.addDomain(DOMAIN);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.results).toHaveLength(1);
    expect(doc.results[0]).toMatchObject({ domain: DOMAIN, outcome: 'issued', errors: [] });

    const fullchain = await h.components.secrets.get(`pem-secret/${DOMAIN}/fullchain`);
    const leaf = new X509Certificate(splitPem(fullchain ?? '')[0] ?? '');
    expect(leaf.subjectAltName).toContain(`DNS:${DOMAIN}`);
    expect(leaf.subjectAltName).toContain(`DNS:*.${DOMAIN}`);

    // While Pebble validated: the foreign value and both of ours, in one RRset.
    expect(dns.servedAfterAdd).toHaveLength(1);
    const served = dns.servedAfterAdd[0] ?? [];
    expect(served).toHaveLength(3);
    expect(served).toContain(FOREIGN);
    // Afterwards: only the foreign value, untouched.
    expect(await challengeRecords(DOMAIN)).toEqual([FOREIGN]);
  });
});
