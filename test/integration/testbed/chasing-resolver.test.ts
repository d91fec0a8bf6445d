// The chasing resolver (test/testbed/chasing-resolver.ts) in front of the
// testbed's BIND: CNAMEs that leave a zone are followed, as a recursive
// resolver does. Names under chase.z15.test and chase-*.validation.test only.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../../testbed/context.js';
import { dnsQuery, nsupdate } from '../../testbed/dns.js';
import { startChasingResolver, type ChasingResolver } from '../../testbed/chasing-resolver.js';
import { query, txtValuesAt } from '../../../src/dns/wire.js';
import { closedPort } from '../../e2e/harness.js';

const tb = inject('testbed');
const bind = { ...tb.dns };
const Z = 'chase.z15.test';
const V = 'validation.test';
let resolver: ChasingResolver;

// a.chase.z15.test → chase-a.validation.test (TXT "at-the-end")
// hop chain across zones, h0 (z15) → h1 (validation) → h2 (z15) → h3 (validation, TXT)
// loop1.chase.z15.test ⇄ loop2.chase.z15.test; gone.chase.z15.test → none.chase-a.validation.test (NXDOMAIN)
// long0 … long11: 11 aliases, one more than allowed
const zoneAdds = [
  `update add a.${Z}. 60 CNAME chase-a.${V}.`,
  `update add h0.${Z}. 60 CNAME chase-h1.${V}.`,
  `update add h2.${Z}. 60 CNAME chase-h3.${V}.`,
  `update add loop1.${Z}. 60 CNAME loop2.${Z}.`,
  `update add loop2.${Z}. 60 CNAME loop1.${Z}.`,
  // below an existing name, so the zone's wildcard (* A) does not make it exist
  `update add gone.${Z}. 60 CNAME none.chase-a.${V}.`,
  ...Array.from({ length: 11 }, (_, i) => `update add long${i}.${Z}. 60 CNAME long${i + 1}.${Z}.`),
  `update add long11.${Z}. 60 TXT "too-far"`,
];
const validationAdds = [
  `update add chase-a.${V}. 60 TXT "at-the-end"`,
  `update add chase-a.${V}. 60 TXT "second"`,
  `update add chase-h1.${V}. 60 CNAME h2.${Z}.`,
  `update add chase-h3.${V}. 60 TXT "three-hops"`,
];
const deletes = (adds: string[]): string[] => [...new Set(adds.map((c) => c.split(' ')[2] ?? ''))].map((n) => `update delete ${n}`);

beforeAll(async () => {
  await Promise.all([nsupdate(bind, zoneAdds, 'z15.test'), nsupdate(bind, validationAdds, V)]);
  resolver = await startChasingResolver({ upstream: `${bind.host}:${bind.port}` });
});
afterAll(async () => {
  await resolver?.stop();
  await Promise.all([nsupdate(bind, deletes(zoneAdds), 'z15.test'), nsupdate(bind, deletes(validationAdds), V)]);
});

const server = (): { host: string; port: number } => ({ host: resolver.host, port: resolver.port });

describe('chasing resolver', () => {
  it('BIND alone stops at the CNAME that leaves the zone', async () => {
    const direct = await dnsQuery(bind.host, bind.port, `a.${Z}`, 'TXT');
    expect(direct.answers.map((a) => a.type)).toEqual(['CNAME']);
  });

  it('follows the CNAME into the other zone and returns the chain plus the TXT, over UDP and TCP', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const res = await query(server(), `a.${Z}`, 'TXT', { timeoutMs: 2_000, transport });
      expect(res.rcode).toBe('NOERROR');
      expect(res.authoritative).toBe(false);
      expect(res.packet.answers?.map((a) => `${a.type} ${a.name}`)).toEqual([`CNAME a.${Z}`, `TXT chase-a.${V}`, `TXT chase-a.${V}`]);
      // What a DNS-01 validator reads: the TXT values reached from the name asked.
      expect(txtValuesAt(res.packet.answers, `chase-a.${V}`).sort()).toEqual(['at-the-end', 'second']);
    }
    expect(resolver.queries.filter((q) => q.name === `a.${Z}`).map((q) => [q.transport, q.upstreamQueries])).toEqual([
      ['udp', 2],
      ['tcp', 2],
    ]);
  });

  it('follows a chain that crosses zones several times', async () => {
    const res = await query(server(), `h0.${Z}`, 'TXT', { timeoutMs: 2_000 });
    expect(res.packet.answers?.map((a) => a.name)).toEqual([`h0.${Z}`, `chase-h1.${V}`, `h2.${Z}`, `chase-h3.${V}`]);
    expect(txtValuesAt(res.packet.answers, `chase-h3.${V}`)).toEqual(['three-hops']);
  });

  it('answers a CNAME question and a name that is no alias without chasing', async () => {
    const cname = await query(server(), `a.${Z}`, 'CNAME', { timeoutMs: 2_000 });
    expect(cname.packet.answers).toMatchObject([{ type: 'CNAME', name: `a.${Z}`, data: `chase-a.${V}` }]);
    const soa = await query(server(), 'z15.test', 'SOA', { timeoutMs: 2_000 });
    expect(soa.packet.answers?.map((a) => a.type)).toEqual(['SOA']);
    const nodata = await query(server(), `chase-a.${V}`, 'CNAME', { timeoutMs: 2_000 });
    expect(nodata.rcode).toBe('NOERROR');
    expect(nodata.packet.answers).toEqual([]);
    expect(nodata.packet.authorities?.[0]).toMatchObject({ type: 'SOA', name: V });
  });

  it('returns NXDOMAIN with the chain when the target does not exist', async () => {
    const res = await query(server(), `gone.${Z}`, 'TXT', { timeoutMs: 2_000 });
    expect(res.rcode).toBe('NXDOMAIN');
    expect(res.packet.answers?.map((a) => a.type)).toEqual(['CNAME']);
    expect(res.packet.authorities?.[0]).toMatchObject({ type: 'SOA', name: V });
  });

  it('answers SERVFAIL for a loop, a chain over 10 hops and an upstream that does not answer', async () => {
    expect((await query(server(), `loop1.${Z}`, 'TXT', { timeoutMs: 2_000 })).rcode).toBe('SERVFAIL');
    expect((await query(server(), `long0.${Z}`, 'TXT', { timeoutMs: 2_000 })).rcode).toBe('SERVFAIL');
    expect(txtValuesAt((await query(server(), `long1.${Z}`, 'TXT', { timeoutMs: 2_000 })).packet.answers, `long11.${Z}`)).toEqual(['too-far']);
    const dead = await startChasingResolver({ upstream: `127.0.0.1:${await closedPort()}`, timeoutMs: 200 });
    try {
      expect((await query({ host: dead.host, port: dead.port }, `a.${Z}`, 'TXT', { timeoutMs: 2_000 })).rcode).toBe('SERVFAIL');
    } finally {
      await dead.stop();
    }
  });
});
