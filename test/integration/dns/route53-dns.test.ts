// The moto-backed authoritative DNS server (test/testbed/route53-dns.ts): what the
// route53 plugin writes into moto is what DNS clients (and a CA) see. Zones z53, z57, z58.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import * as dnsPacket from 'dns-packet';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import '../../testbed/context.js';
import { queryTxt } from '../../testbed/dns.js';
import { startRoute53Dns, type Route53Dns } from '../../testbed/route53-dns.js';
import { Route53Provider } from '../../../src/dns/route53.js';
import { createChallengePublisher } from '../../../src/dns/index.js';
import { exchangeUdp, query, txtValuesAt } from '../../../src/dns/wire.js';
import { ensureHostedZone, motoRoute53 } from '../../dns/moto.js';

const tb = inject('testbed');
const logger = pino({ level: 'silent' });

describe('route53-dns: DNS served from moto', () => {
  let dns: Route53Dns;
  let zone: string;
  let provider: Route53Provider;
  const server = (): { host: string; port: number } => ({ host: dns.host, port: dns.port });

  beforeAll(async () => {
    dns = await startRoute53Dns({ motoEndpoint: tb.moto.endpoint });
    zone = await ensureHostedZone(tb.moto.endpoint, 'z53.test');
    provider = new Route53Provider(
      { region: 'us-east-1', endpoint: tb.moto.endpoint, accessKeyId: 'testing', secretAccessKey: 'testing', requestsPerSecond: 50 },
      logger,
    );
  });
  afterAll(async () => {
    await dns?.stop();
  });

  it('serves the TXT record set the route53 plugin wrote, over UDP and TCP, and forgets it on removal', async () => {
    const fqdn = '_acme-challenge.served.z53.test';
    const long = 'x'.repeat(300);
    await provider.addTxt(zone, fqdn, ['apex', 'wildcard', long]);
    expect((await queryTxt(dns.host, dns.port, fqdn)).sort()).toEqual(['apex', 'wildcard', long].sort());
    const tcp = await query(server(), fqdn, 'TXT', { timeoutMs: 2_000, transport: 'tcp' });
    expect(tcp.authoritative).toBe(true);
    expect(txtValuesAt(tcp.packet.answers, fqdn).sort()).toEqual(['apex', 'wildcard', long].sort());
    await provider.removeTxt(zone, fqdn, ['apex', 'wildcard', long]);
    expect(await queryTxt(dns.host, dns.port, fqdn)).toEqual([]);
  });

  it('answers NXDOMAIN with the SOA, NODATA for another type, REFUSED outside every hosted zone', async () => {
    const nx = await query(server(), 'nothing-here.z53.test', 'TXT', { timeoutMs: 2_000 });
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.packet.authorities?.[0]).toMatchObject({ type: 'SOA', name: 'z53.test' });
    const soa = await query(server(), 'z53.test', 'SOA', { timeoutMs: 2_000 });
    expect(soa.packet.answers?.[0]).toMatchObject({ type: 'SOA', name: 'z53.test' });
    const ns = await query(server(), 'z53.test', 'NS', { timeoutMs: 2_000 });
    expect(ns.packet.answers?.length).toBeGreaterThan(0);
    const nodata = await query(server(), 'z53.test', 'TXT', { timeoutMs: 2_000 });
    expect(nodata.rcode).toBe('NOERROR');
    expect(nodata.packet.answers).toEqual([]);
    expect((await query(server(), 'example.invalid', 'TXT', { timeoutMs: 2_000 })).rcode).toBe('REFUSED');
  });

  it('answers a query with EDNS (as a CA resolver sends it)', async () => {
    const fqdn = '_acme-challenge.edns.z53.test';
    await provider.addTxt(zone, fqdn, ['with-edns']);
    const message = dnsPacket.encode({
      type: 'query',
      id: 4242,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'TXT', name: fqdn }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    });
    const answer = dnsPacket.decode(await exchangeUdp(server(), message, 2_000));
    expect(txtValuesAt(answer.answers, fqdn)).toEqual(['with-edns']);
    await provider.removeTxt(zone, fqdn, ['with-edns']);
  });

  it('serves CNAMEs, chasing them inside the zone', async () => {
    const client = motoRoute53(tb.moto.endpoint);
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zone,
        ChangeBatch: {
          Changes: [
            { Action: 'UPSERT', ResourceRecordSet: { Name: '_acme-challenge.alias.z53.test', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'target.z53.test.' }] } },
            { Action: 'UPSERT', ResourceRecordSet: { Name: 'target.z53.test', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"via-cname"' }] } },
          ],
        },
      }),
    );
    client.destroy();
    const res = await query(server(), '_acme-challenge.alias.z53.test', 'TXT', { timeoutMs: 2_000 });
    expect(res.packet.answers?.map((a) => a.type)).toEqual(['CNAME', 'TXT']);
    expect(txtValuesAt(res.packet.answers, '_acme-challenge.alias.z53.test')).toEqual(['via-cname']);
    await provider.removeTxt(zone, 'target.z53.test', ['via-cname']);
  });

  it('lets the DNS-01 publisher follow a CNAME from one hosted zone to another and see its write', async () => {
    const source = await ensureHostedZone(tb.moto.endpoint, 'z57.test');
    const target = await ensureHostedZone(tb.moto.endpoint, 'z58.test');
    const client = motoRoute53(tb.moto.endpoint);
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: source,
        ChangeBatch: {
          Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: '_acme-challenge.z57.test', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'delegated.z58.test' }] } }],
        },
      }),
    );
    client.destroy();
    const publisher = createChallengePublisher(
      { resolvers: [dns.address], propagationCheck: true, propagationTimeoutSeconds: 10, provider: 'route53', rfc2136: { nameserver: undefined, tsigKey: undefined, tsigSecret: undefined, tsigAlgorithm: 'hmac-sha256.' }, cloudflare: { apiToken: undefined, apiUrl: '' }, pdns: { apiUrl: undefined, apiKey: undefined, serverName: 'localhost' } },
      provider,
      logger,
    );
    const published = await publisher.publish('z57.test', source, ['d1', 'd2']);
    expect(published).toEqual({ fqdn: 'delegated.z58.test', zone: target, values: ['d1', 'd2'] });
    expect((await queryTxt(dns.host, dns.port, '_acme-challenge.z57.test')).sort()).toEqual(['d1', 'd2']);
    await publisher.cleanup(published);
    expect(await provider.listTxt(target, 'delegated.z58.test')).toEqual([]);
  });
});
