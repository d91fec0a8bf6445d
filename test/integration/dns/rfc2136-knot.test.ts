// The RFC2136 provider against a real Knot DNS (test/testbed/knot.ts), the second server beside
// BIND (rfc2136.test.ts): the shared contract, what Knot then serves, the DNS-01 publisher's
// propagation check with Knot as the zone's authoritative server, and Knot's refusals.
//
// Zones of this file's own knotd (one per file, started in beforeAll, ~0.5 s):
//   k1.test  the TSIG key may update TXT records at any name (acl: action update, update-type TXT)
//   k2.test  served, but no acl lets the key update it
//   k3.test  the key may update TXT only at _acme-challenge and _acme-challenge.www
//            (update-owner: name, update-owner-match: equal): the operator example of docs/plugins.md
//
// Knot answers differently from BIND: a request no acl rule allows (k2, a name outside k3's list)
// gets NOTAUTH with TSIG error BADKEY, the same answer as for a key it does not know (BIND: REFUSED
// for its update-policy); a signed query for a zone whose acl does not name the key, too.
// Without knotd (and without TESTBED_REQUIRE_KNOT=1) every test here is skipped, and global setup
// names them.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { dnsQuery, nsupdate, queryTxt } from '../../testbed/dns.js';
import { needsKnot, startKnot, type KnotService } from '../../testbed/knot.js';
import { Dns01Publisher } from '../../../src/dns/dns01.js';
import { DnsLookup } from '../../../src/dns/lookup.js';
import { PropagationChecker } from '../../../src/dns/propagation.js';
import { Rfc2136Provider } from '../../../src/dns/rfc2136.js';
import { DnsProviderError } from '../../../src/dns/provider.js';
import { describeDnsProviderContract } from '../../dns/contract.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const ZONE = 'k1.test';
const NO_UPDATE_ZONE = 'k2.test';
const OWNER_ZONE = 'k3.test';
const run = randomBytes(3).toString('hex');

let server: KnotService | undefined;
let starting: Promise<KnotService> | undefined;
/** One knotd for the whole file (the contract's setup and the tests below). */
const knot = (): Promise<KnotService> =>
  (starting ??= startKnot({
    dir: tb.dir,
    zones: [
      { name: ZONE, update: 'txt' },
      { name: NO_UPDATE_ZONE, update: 'none' },
      { name: OWNER_ZONE, update: { owners: ['_acme-challenge', '_acme-challenge.www'] } },
    ],
  }).then((s) => (server = s)));
afterAll(async () => {
  await server?.stop();
});

const provider = (k: KnotService, overrides: { tsigSecret?: string; tsigKeyName?: string } = {}): Rfc2136Provider =>
  new Rfc2136Provider(
    {
      nameserver: `${k.host}:${k.port}`,
      tsigKeyName: overrides.tsigKeyName ?? k.tsigKeyName,
      tsigSecret: overrides.tsigSecret ?? k.tsigSecret,
      tsigAlgorithm: `${k.tsigAlgorithm}.`, // as lego writes it
      timeoutMs: 2_000,
    },
    logger,
  );

needsKnot.describe('RFC2136 provider against Knot DNS', () => {
  describeDnsProviderContract('rfc2136 (Knot DNS)', async () => {
    const k = await knot();
    return {
      provider: provider(k),
      zone: ZONE,
      fqdnBase: ZONE,
      cleanup: async () => undefined,
      // Another key-holder's record, written with BIND's nsupdate (plain RFC 2136 over TSIG).
      addForeignTxt: (fqdn, value) => nsupdate(k, [`update add ${fqdn}. 300 TXT "${value}"`], ZONE),
    };
  });

  describe('what Knot serves and refuses', () => {
    let k: KnotService;
    beforeAll(async () => {
      k = await knot();
    });

    it('writes what Knot then serves at once: one RRset, both values, gone after removal', async () => {
      const fqdn = `_acme-challenge.served-${run}.${ZONE}`;
      expect(await queryTxt(k.host, k.port, fqdn)).toEqual([]);
      await provider(k).addTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
      expect((await queryTxt(k.host, k.port, fqdn)).sort()).toEqual(['apex-digest', 'wildcard-digest']);
      await provider(k).removeTxt(ZONE, fqdn, ['apex-digest', 'wildcard-digest']);
      expect(await queryTxt(k.host, k.port, fqdn)).toEqual([]);
    });

    it('publishes through the DNS-01 publisher: the propagation check finds Knot as the zone\'s nameserver and sees both values', async () => {
      // DNS_RESOLVERS = Knot itself: it answers the NS query authoritatively (AA), so it is the one server asked for the TXT.
      const lookup = new DnsLookup({ resolvers: [{ host: k.host, port: k.port }], nameserverPort: k.port, queryTimeoutMs: 1_000 }, logger);
      expect(await lookup.serversFor(`_acme-challenge.prop-${run}.${ZONE}`)).toEqual([
        { name: `${k.host}:${k.port}`, addresses: [{ host: k.host, port: k.port }] },
      ]);
      const propagation = new PropagationChecker({ enabled: true, timeoutMs: 5_000, queryTimeoutMs: 1_000 }, lookup, logger);
      const publisher = new Dns01Publisher(provider(k), lookup, propagation, logger);
      const domain = `prop-${run}.${ZONE}`;
      const started = performance.now();
      const published = await publisher.publish(domain, ZONE, ['apex-digest', 'wildcard-digest']);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(published.fqdn).toBe(`_acme-challenge.${domain}`);
      expect((await lookup.txt({ host: k.host, port: k.port }, published.fqdn)).sort()).toEqual(['apex-digest', 'wildcard-digest']);
      await publisher.cleanup(published);
      expect(await queryTxt(k.host, k.port, published.fqdn)).toEqual([]);
    });

    it('proves the key with a signed query (the dry run\'s verifyAccess) for a zone whose acl names it', async () => {
      await expect(provider(k).verifyAccess(ZONE)).resolves.toBeUndefined();
      await expect(provider(k).verifyAccess(NO_UPDATE_ZONE)).rejects.toThrow(/signed query for zone k2\.test .*answered NOTAUTH, TSIG BADKEY/);
    });

    it('reports a wrong TSIG secret clearly (BADSIG), without the secret, and without retrying', async () => {
      const wrong = Buffer.alloc(32, 1).toString('base64');
      const fqdn = `_acme-challenge.badsig-${run}.${ZONE}`;
      const started = performance.now();
      const error = await provider(k, { tsigSecret: wrong }).addTxt(ZONE, fqdn, ['x']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DnsProviderError);
      expect((error as Error).message).toMatch(/^RFC2136 update of _acme-challenge\.badsig-\w+\.k1\.test: TSIG BADSIG with key "acme-key" .*RFC2136_TSIG_SECRET/);
      expect((error as Error).message).not.toContain(wrong);
      expect((error as Error).message).not.toContain(k.tsigSecret);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(await queryTxt(k.host, k.port, fqdn)).toEqual([]);
    });

    it('reports an unknown key name as NOTAUTH/BADKEY, naming the key', async () => {
      await expect(provider(k, { tsigKeyName: 'no-such-key' }).addTxt(ZONE, `_acme-challenge.badkey-${run}.${ZONE}`, ['x'])).rejects.toThrow(
        /answered NOTAUTH, TSIG BADKEY: the server does not know key "no-such-key", or its ACL/,
      );
    });

    it('refuses an update in a zone whose acl does not allow the key (NOTAUTH, TSIG BADKEY), naming the ACL, once', async () => {
      const fqdn = `_acme-challenge.${NO_UPDATE_ZONE}`;
      const started = performance.now();
      const error = await provider(k).addTxt(NO_UPDATE_ZONE, fqdn, ['x']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DnsProviderError);
      expect((error as Error).message).toBe(
        `RFC2136 update of ${fqdn} at ${k.host}:${k.port}: answered NOTAUTH, TSIG BADKEY: the server does not know key "acme-key", ` +
          `or its ACL does not allow that key to update this name in zone ${NO_UPDATE_ZONE} (Knot DNS answers both this way); check RFC2136_TSIG_KEY and ` +
          `RFC2136_TSIG_ALGORITHM, and the server's ACL for ${NO_UPDATE_ZONE} (Knot: an acl with this key, action: update, update-type: TXT; BIND: update-policy)`,
      );
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(await queryTxt(k.host, k.port, fqdn)).toEqual([]);
    });

    it('lets the key write only at the names its acl lists (update-owner), and refuses the others', async () => {
      const allowed = [`_acme-challenge.${OWNER_ZONE}`, `_acme-challenge.www.${OWNER_ZONE}`];
      for (const fqdn of allowed) {
        await provider(k).addTxt(OWNER_ZONE, fqdn, [`ok-${run}`]);
        expect(await queryTxt(k.host, k.port, fqdn)).toEqual([`ok-${run}`]);
      }
      const outside = `_acme-challenge.other.${OWNER_ZONE}`;
      await expect(provider(k).addTxt(OWNER_ZONE, outside, ['x'])).rejects.toThrow(/answered NOTAUTH, TSIG BADKEY: .*ACL does not allow that key to update this name in zone k3\.test/);
      expect(await queryTxt(k.host, k.port, outside)).toEqual([]);
      for (const fqdn of allowed) {
        await provider(k).removeTxt(OWNER_ZONE, fqdn, [`ok-${run}`]);
        expect(await queryTxt(k.host, k.port, fqdn)).toEqual([]);
      }
    });

    it('lets the key write TXT records only (update-type): an A record with the same key is refused', async () => {
      // Another client with the key (BIND's nsupdate): the plugin itself only ever writes TXT.
      await expect(nsupdate(k, [`update add a-${run}.${ZONE}. 60 A 192.0.2.1`], ZONE)).rejects.toThrow(/NOTAUTH/);
      expect((await dnsQuery(k.host, k.port, `a-${run}.${ZONE}`, 'A')).rcode).toBe('NXDOMAIN');
    });

    it('answers NOTAUTH for a zone Knot does not serve, without retrying', async () => {
      const started = performance.now();
      await expect(provider(k).addTxt('not-served.test', '_acme-challenge.not-served.test', ['x'])).rejects.toThrow(
        /was answered NOTAUTH by 127\.0\.0\.1:\d+ \(the server is not authoritative for the zone/,
      );
      expect(performance.now() - started).toBeLessThan(1_000);
    });
  });
});
