// A tiny authoritative DNS server (UDP + TCP, same ephemeral loopback port)
// that serves what moto's Route53 holds: every query looks up the hosted zone
// containing the name (ListHostedZones) and its records (ListResourceRecordSets)
// afresh, so what the route53 plugin wrote is what a CA pointed here sees.
//
// Serves TXT, CNAME (chased inside the zone), SOA, NS, A, AAAA, MX and CAA;
// NXDOMAIN / NODATA with the zone's SOA in the authority section; REFUSED for
// names in no hosted zone. No wildcards, no alias records, no DNSSEC.
import type { Answer } from 'dns-packet';
import {
  ListHostedZonesCommand,
  ListResourceRecordSetsCommand,
  type HostedZone,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { startDnsServer, type ZoneData } from '../dns/dns-server.js';
import { motoRoute53 } from '../dns/moto.js';
import { characterStringBytes } from '../../src/dns/wire.js';

export interface Route53DnsOptions {
  /** http://127.0.0.1:<port> of moto_server. */
  motoEndpoint: string;
}

export interface Route53Dns {
  host: string;
  port: number;
  /** host:port, e.g. for `pebble -dnsserver`. */
  address: string;
  stop(): Promise<void>;
}

const norm = (name: string): string =>
  name
    .replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .toLowerCase()
    .replace(/\.$/, '');

/** The character-strings of a Route53 TXT value: `"a" "b"` → [a, b], with \" \\ and \NNN unescaped. */
export function txtStrings(value: string): Buffer[] {
  const pieces = [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)];
  if (pieces.length === 0) return [Buffer.from(value)];
  // Route 53 writes other bytes as octal escapes.
  return pieces.map((m) => characterStringBytes(m[1] ?? '', 8));
}

function toAnswers(set: ResourceRecordSet): Answer[] {
  const name = norm(set.Name ?? '');
  const ttl = set.TTL ?? 60;
  const out: Answer[] = [];
  for (const { Value: value = '' } of set.ResourceRecords ?? []) {
    switch (set.Type) {
      case 'TXT':
        out.push({ type: 'TXT', name, ttl, data: txtStrings(value) });
        break;
      case 'CNAME':
        out.push({ type: 'CNAME', name, ttl, data: norm(value) });
        break;
      case 'NS':
        out.push({ type: 'NS', name, ttl, data: norm(value) });
        break;
      case 'A':
      case 'AAAA':
        out.push({ type: set.Type, name, ttl, data: value });
        break;
      case 'MX': {
        const [preference, exchange] = value.split(/\s+/);
        out.push({ type: 'MX', name, ttl, data: { preference: Number(preference), exchange: norm(exchange ?? '') } });
        break;
      }
      case 'CAA': {
        const m = /^(\d+)\s+(\S+)\s+"?(.*?)"?$/.exec(value);
        if (m && (m[2] === 'issue' || m[2] === 'issuewild' || m[2] === 'iodef')) {
          out.push({ type: 'CAA', name, ttl, data: { flags: Number(m[1]), tag: m[2], value: m[3] ?? '' } });
        }
        break;
      }
      case 'SOA': {
        const [mname = '', rname = '', serial, refresh, retry, expire, minimum] = value.split(/\s+/);
        out.push({
          type: 'SOA',
          name,
          ttl,
          data: { mname: norm(mname), rname: norm(rname), serial: Number(serial), refresh: Number(refresh), retry: Number(retry), expire: Number(expire), minimum: Number(minimum) },
        });
        break;
      }
      default:
        break;
    }
  }
  return out;
}

async function allHostedZones(client: Route53Client): Promise<HostedZone[]> {
  const zones: HostedZone[] = [];
  let marker: string | undefined;
  for (let page = 0; page < 50; page++) {
    const out = await client.send(new ListHostedZonesCommand({ Marker: marker }));
    zones.push(...(out.HostedZones ?? []));
    if (!out.IsTruncated || !out.NextMarker) break;
    marker = out.NextMarker;
  }
  return zones;
}

async function allRecords(client: Route53Client, zoneId: string): Promise<Answer[]> {
  const records: Answer[] = [];
  let start: { StartRecordName?: string; StartRecordType?: ResourceRecordSet['Type']; StartRecordIdentifier?: string } = {};
  for (let page = 0; page < 50; page++) {
    const out = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, ...start }));
    for (const set of out.ResourceRecordSets ?? []) records.push(...toAnswers(set));
    if (!out.IsTruncated) break;
    start = { StartRecordName: out.NextRecordName, StartRecordType: out.NextRecordType, StartRecordIdentifier: out.NextRecordIdentifier };
  }
  return records;
}

export async function startRoute53Dns(options: Route53DnsOptions): Promise<Route53Dns> {
  const client = motoRoute53(options.motoEndpoint);
  const source = async (qname: string): Promise<ZoneData | undefined> => {
    const zones = (await allHostedZones(client))
      .filter((z) => !z.Config?.PrivateZone)
      .map((z) => ({ id: z.Id ?? '', name: norm(z.Name ?? '') }))
      .filter((z) => qname === z.name || qname.endsWith(`.${z.name}`))
      .sort((a, b) => b.name.length - a.name.length);
    const zone = zones[0];
    if (!zone) return undefined;
    return { zone: zone.name, records: await allRecords(client, zone.id) };
  };
  const server = await startDnsServer({ source });
  return {
    host: server.host,
    port: server.port,
    address: `${server.host}:${server.port}`,
    stop: async () => {
      await server.stop();
      client.destroy();
    },
  };
}
