// The certificate pipeline end to end through PowerDNS: DNS_PROVIDER=pdns against
// a real pdns_server (test/testbed/pdns.ts), and a second Pebble whose DNS-01
// validation asks that PowerDNS, so what the pdns plugin writes through the HTTP
// API is what the CA sees. /process over HTTP, SQLite, the file secrets store, the
// Fastly and Slack fakes. The zones (p1, p2 .e2epdns.test) exist only in this
// file's PowerDNS; zone_id is the PowerDNS zone name.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { startPebble, type PebbleService } from '../testbed/services.js';
import { startPdns, type PdnsService } from '../testbed/pdns.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { processIssuesEveryDomain } from './issued-everywhere.js';
import { ACCOUNT_SECRET, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';

const tb = inject('testbed');
const DOMAINS = ['p1.e2epdns.test', 'p2.e2epdns.test'];

let pdns: PdnsService;
let pebble: PebbleService;
let shared: SharedDeployment;
let h: Harness;

/** Every TXT RRset under _acme-challenge left in a zone, read from the API (whole zone: disabled ones too). */
async function challengeSets(zone: string): Promise<string[]> {
  const doc = (await (await pdns.api(`/servers/localhost/zones/${zone}.`)).json()) as { rrsets: { name: string; type: string }[] };
  return doc.rrsets.filter((r) => r.type === 'TXT' && r.name.startsWith('_acme-challenge')).map((r) => r.name);
}

beforeAll(async () => {
  pdns = await startPdns({ dir: tb.dir, zones: DOMAINS });
  pebble = await startPebble({ dir: tb.dir, dnsServer: pdns.address });
  shared = await createDeployment('sqlite', { registerAccount: false });
  const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'e2epdns@example.test' });
  await new FileSecretsStore(shared.secretsDir).put(ACCOUNT_SECRET, JSON.stringify(account.accountKeyJwk));
  h = await startHarness({
    shared,
    env: {
      DNS_PROVIDER: 'pdns',
      PDNS_API_URL: pdns.apiUrl,
      PDNS_API_KEY: pdns.apiKey,
      // The propagation check asks this PowerDNS, which answers for its zones authoritatively.
      DNS_RESOLVERS: pdns.address,
      LE_DIRECTORY_URL: pebble.directoryUrl,
    },
  });
});
afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
  await pebble?.stop();
  await pdns?.stop();
});

describe('pdns (PowerDNS) end to end', () => {
  it('is wired by DNS_PROVIDER=pdns, and the API key is a secret the logs never show', () => {
    expect(h.components.dns.name).toBe('pdns');
    expect(h.components.settings.dns.pdns).toEqual({ apiUrl: pdns.apiUrl, apiKey: pdns.apiKey, serverName: 'localhost' });
  });

  it('issues through PowerDNS for every domain, cleans the challenge records up, and logs no key', async () => {
    for (const d of DOMAINS) await h.addDomain(d, d);
    await processIssuesEveryDomain(h, shared, pebble, DOMAINS);
    for (const domain of DOMAINS) {
      expect(await challengeSets(domain), domain).toEqual([]);
    }
    // PowerDNS served what the plugin wrote: the server's log shows the PATCHes.
    expect((await pdns.log()).match(/"PATCH \/api\/v1\/servers\/localhost\/zones\/p[12]\.e2epdns\.test\. HTTP\/1\.1" 204/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    expect(h.logLines.join('\n')).not.toContain(pdns.apiKey);
  });
});
