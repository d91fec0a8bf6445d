// The propagation check against real servers: BIND 9 (authoritative) behind a
// real caching resolver, Unbound (test/testbed/unbound.ts).
//
// - Issue 14 item 6: DNS_RESOLVERS only find the authoritative nameservers; the
//   TXT is asked of those. A resolver that was asked about
//   `_acme-challenge.<domain>` before the record existed keeps the NXDOMAIN for
//   the zone's negative TTL (RFC 2308; 60 s here, 900 s on Route 53), so a TXT
//   query through it does not see the record within the wait. Unbound keeps
//   such answers per query type, so the test asks the TXT once before
//   publishing, as an earlier attempt or any other client does (resolvers that
//   cache NXDOMAIN for every type, as RFC 8020 allows, need not even that).
// - Issue 14 item 5: one answering address per nameserver. The nameserver of
//   v6ns.test has an A on 127.0.0.1 (BIND) and an AAAA, ::1, where nothing
//   listens (BIND runs IPv4 only): the unreachable IPv6 address of an IPv4-only
//   host. Loopback only, so no packet leaves the machine (a routable "dead"
//   address such as 100::1 would go out through this host's IPv6 default route).
// Zone z59.test of the shared BIND; v6ns.test on a BIND of this file.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import '../../testbed/context.js';
import { Dns01Publisher } from '../../../src/dns/dns01.js';
import { DnsLookup } from '../../../src/dns/lookup.js';
import { PropagationChecker } from '../../../src/dns/propagation.js';
import { Rfc2136Provider } from '../../../src/dns/rfc2136.js';
import { formatServer, query, txtValuesAt } from '../../../src/dns/wire.js';
import { nsupdate } from '../../testbed/dns.js';
import { startBind, type BindService } from '../../testbed/services.js';
import { startUnbound, type UnboundService } from '../../testbed/unbound.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });
const run = randomBytes(3).toString('hex');

interface Bed {
  host: string;
  port: number;
  tsigKeyName: string;
  tsigSecret: string;
}

function publisherFor(bind: Bed, resolver: UnboundService, timeoutMs: number): { publisher: Dns01Publisher; lookup: DnsLookup } {
  const provider = new Rfc2136Provider(
    { nameserver: `${bind.host}:${bind.port}`, tsigKeyName: bind.tsigKeyName, tsigSecret: bind.tsigSecret, tsigAlgorithm: 'hmac-sha256.', timeoutMs: 2_000 },
    logger,
  );
  // DNS_RESOLVERS = Unbound. The NS hosts' addresses are asked on BIND's port (53 in production).
  const lookup = new DnsLookup({ resolvers: [{ host: resolver.host, port: resolver.port }], nameserverPort: bind.port, queryTimeoutMs: 1_000 }, logger);
  const propagation = new PropagationChecker({ enabled: true, timeoutMs, queryTimeoutMs: 1_000 }, lookup, logger);
  return { publisher: new Dns01Publisher(provider, lookup, propagation, logger), lookup };
}

describe('propagation check behind a caching resolver (Unbound in front of BIND)', () => {
  let unbound: UnboundService;
  let v6bind: BindService;

  beforeAll(async () => {
    v6bind = await startBind({ dir: tb.dir, zones: ['v6ns.test'], records: { 'v6ns.test': ['ns1 IN AAAA ::1'] } });
    unbound = await startUnbound({ dir: tb.dir, stubZones: { 'z59.test': `${tb.dns.host}:${tb.dns.port}`, 'v6ns.test': `${v6bind.host}:${v6bind.port}` } });
  }, 60_000);
  afterAll(async () => {
    await unbound?.stop();
    await v6bind?.stop();
  });

  it('asks the authoritative server for the TXT, not the resolver that cached "no such name" (item 6)', async () => {
    const domain = `neg-${run}.z59.test`;
    const fqdn = `_acme-challenge.${domain}`;
    // The domain exists (as real ones do): names below it that do not exist are NXDOMAIN,
    // not caught by the testbed zone's `*` wildcard.
    await nsupdate(tb.dns, [`update add ${domain}. 60 TXT "the-domain-exists"`], 'z59.test');
    const { publisher } = publisherFor(tb.dns, unbound, 5_000);
    const before = await query({ host: unbound.host, port: unbound.port }, fqdn, 'TXT', { timeoutMs: 1_000 });
    expect(before.rcode).toBe('NXDOMAIN'); // now in Unbound's cache for 60 s
    const started = performance.now();
    const published = await publisher.publish(domain, 'z59.test', ['apex-digest', 'wildcard-digest']);
    const elapsed = performance.now() - started;
    try {
      // Unbound still answers NXDOMAIN from its cache...
      const cached = await query({ host: unbound.host, port: unbound.port }, fqdn, 'TXT', { timeoutMs: 1_000 });
      expect(cached.rcode).toBe('NXDOMAIN');
      // ...while BIND, which the CA asks, has both values, and publish saw them there.
      const auth = await query({ host: tb.dns.host, port: tb.dns.port }, fqdn, 'TXT', { timeoutMs: 1_000 });
      expect(txtValuesAt(auth.packet.answers, fqdn).sort()).toEqual(['apex-digest', 'wildcard-digest']);
      expect(elapsed).toBeLessThan(2_000);
    } finally {
      await publisher.cleanup(published);
      await nsupdate(tb.dns, [`update delete ${domain}. TXT`], 'z59.test');
    }
  });

  it('needs one answering address per nameserver: an AAAA where nothing answers does not fail the wait (item 5)', async () => {
    const domain = `v6-${run}.v6ns.test`;
    const { publisher, lookup } = publisherFor(v6bind, unbound, 5_000);
    const nameservers = await lookup.serversFor(`_acme-challenge.${domain}`);
    expect(nameservers).toEqual([
      { name: 'ns1.v6ns.test', addresses: expect.arrayContaining([{ host: '127.0.0.1', port: v6bind.port }, { host: '::1', port: v6bind.port }]) as unknown },
    ]);
    const started = performance.now();
    const published = await publisher.publish(domain, 'v6ns.test', ['only-over-ipv4']);
    expect(performance.now() - started).toBeLessThan(1_500); // well below the dead address's 1 s query timeout per poll
    expect(published.values).toEqual(['only-over-ipv4']);

    // The reproduction is real: counting every address as a server of its own, as the check
    // did before, the wait fails on ::1 although BIND on 127.0.0.1 has the value.
    const everyAddress = new DnsLookup({ resolvers: [] }, logger, {
      findAuthoritative: async (name) => (await lookup.serversFor(name)).flatMap((ns) => ns.addresses.map((a) => ({ name: formatServer(a), addresses: [a] }))),
    });
    const strict = new PropagationChecker({ enabled: true, timeoutMs: 1_500, queryTimeoutMs: 500 }, everyAddress, logger);
    await expect(strict.waitForTxt(published.fqdn, ['only-over-ipv4'])).rejects.toThrow(`[::1]:${v6bind.port} is missing "only-over-ipv4"`);
    await publisher.cleanup(published);
  });
});
