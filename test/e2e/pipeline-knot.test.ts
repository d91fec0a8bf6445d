// The certificate pipeline end to end through Knot DNS: DNS_PROVIDER=rfc2136 against a real
// knotd (test/testbed/knot.ts) whose acl is the operator example of docs/plugins.md (the key may
// write TXT at _acme-challenge.<zone> and nowhere else), and a second Pebble whose DNS-01
// validation asks that Knot, so what the rfc2136 plugin writes is what the CA sees. /process over
// HTTP, SQLite, the file secrets store, the Fastly and Slack fakes. The zones (k1, k2 .e2eknot.test)
// exist only in this file's Knot; zone_id is the zone name.
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { queryTxt } from '../testbed/dns.js';
import { needsKnot, startKnot, type KnotService } from '../testbed/knot.js';
import { startPebble, type PebbleService } from '../testbed/services.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { processIssuesEveryDomain } from './issued-everywhere.js';
import { ACCOUNT_SECRET, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';

const tb = inject('testbed');
const DOMAINS = ['k1.e2eknot.test', 'k2.e2eknot.test'];

needsKnot.describe('rfc2136 through Knot DNS end to end', () => {
  let knot: KnotService;
  let pebble: PebbleService;
  let shared: SharedDeployment;
  let h: Harness;

  beforeAll(async () => {
    // Apex and wildcard both validate at _acme-challenge.<domain>: that one name is all the key may change.
    knot = await startKnot({ dir: tb.dir, zones: DOMAINS.map((name) => ({ name, update: { owners: ['_acme-challenge'] } })) });
    pebble = await startPebble({ dir: tb.dir, dnsServer: knot.address });
    shared = await createDeployment('sqlite', { registerAccount: false });
    const account = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'e2eknot@example.test' });
    await new FileSecretsStore(shared.secretsDir).put(ACCOUNT_SECRET, JSON.stringify(account.accountKeyJwk));
    h = await startHarness({
      shared,
      env: {
        DNS_PROVIDER: 'rfc2136',
        RFC2136_NAMESERVER: knot.address,
        RFC2136_TSIG_KEY: knot.tsigKeyName,
        RFC2136_TSIG_SECRET: knot.tsigSecret,
        RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
        // The propagation check asks this Knot, which answers for its zones authoritatively.
        DNS_RESOLVERS: knot.address,
        LE_DIRECTORY_URL: pebble.directoryUrl,
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    if (shared) await stopDeployment(shared);
    await pebble?.stop();
    await knot?.stop();
  });

  it('issues through Knot for every domain, cleans the challenge records up, and logs no secret', async () => {
    for (const d of DOMAINS) await h.addDomain(d, d);
    await processIssuesEveryDomain(h, shared, pebble, DOMAINS);
    for (const domain of DOMAINS) {
      expect(await queryTxt(knot.host, knot.port, `_acme-challenge.${domain}`), domain).toEqual([]);
    }
    // Knot applied what the plugin sent: an update adding the values and one removing them, per zone.
    const log = await knot.log();
    for (const domain of DOMAINS) {
      expect(log.match(new RegExp(`\\[${domain.replace(/\./g, '\\.')}\\.\\] DDNS, finished, serial`, 'g'))?.length ?? 0, domain).toBeGreaterThanOrEqual(2);
    }
    expect(h.logLines.join('\n')).not.toContain(knot.tsigSecret);
  });
});
