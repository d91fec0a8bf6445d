// A small authoritative DNS server for tests (UDP and TCP on the same ephemeral
// loopback port, dns-packet). It answers from whatever `source` returns for the
// queried name: the zone containing it and that zone's records. Used in-process
// by unit tests (an in-memory zone) and by test/testbed/route53-dns.ts (moto).
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';

export interface ZoneData {
  /** Apex, lower case, no trailing dot. */
  zone: string;
  /** Every record of the zone; names lower case without trailing dot. */
  records: Answer[];
}

/** The zone that contains `qname`, or undefined when this server is not authoritative for it. */
export type ZoneSource = (qname: string) => Promise<ZoneData | undefined>;

export interface DnsServerOptions {
  source: ZoneSource;
  /** Called for each query before it is answered; return an rcode to fail it, or 'drop' to not answer. */
  intercept?: (question: Question, transport: 'udp' | 'tcp') => 'drop' | 'SERVFAIL' | 'REFUSED' | undefined;
}

export interface RunningDnsServer {
  host: string;
  port: number;
  /** Queries answered so far (name and type). */
  queries: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }>;
  stop(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

function header(query: DecodedPacket, rcode: number, authoritative: boolean): number {
  const opcode = (query.flags ?? 0) & 0x7800;
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  return opcode | rd | (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode;
}

/**
 * Builds the authoritative answer to one query. CNAMEs are chased, also into
 * other zones this server serves (like a resolver would; BIND with `recursion
 * no` stops at the zone boundary), so a CA pointed here sees delegated records.
 */
export async function answer(query: DecodedPacket, source: ZoneSource): Promise<dnsPacket.Packet> {
  const question = query.questions?.[0];
  const base = { type: 'response' as const, id: query.id ?? 0, questions: question ? [question] : [] };
  if (!question) return { ...base, flags: header(query, 1, false) };
  let name = norm(question.name);
  let zone = await source(name);
  if (!zone) return { ...base, flags: header(query, RCODE.REFUSED, false) };
  const answers: Answer[] = [];
  for (let hop = 0; hop < 10 && zone; hop++) {
    const records: Answer[] = zone.records;
    const here = records.filter((r) => r.name === name);
    const cname = here.find((r) => r.type === 'CNAME');
    if (cname && cname.type === 'CNAME' && question.type !== 'CNAME') {
      answers.push(cname);
      name = norm(cname.data);
      if (name !== zone.zone && !name.endsWith(`.${zone.zone}`)) zone = await source(name);
      continue;
    }
    const matching = here.filter((r) => r.type === question.type);
    if (matching.length > 0) {
      answers.push(...matching);
      break;
    }
    if (answers.length > 0) break; // an alias whose target has no such record: NOERROR with the chain
    const exists = here.length > 0 || records.some((r) => r.name.endsWith(`.${name}`));
    const soa = records.filter((r) => r.type === 'SOA' && r.name === zone?.zone);
    return { ...base, flags: header(query, exists ? RCODE.NOERROR : RCODE.NXDOMAIN, true), authorities: soa };
  }
  return { ...base, flags: header(query, RCODE.NOERROR, true), answers };
}

function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  return opt && opt.type === 'OPT' ? Math.max(512, opt.udpPayloadSize) : 512;
}

export async function startDnsServer(options: DnsServerOptions): Promise<RunningDnsServer> {
  const queries: RunningDnsServer['queries'] = [];

  async function respond(raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(raw);
    } catch {
      return undefined;
    }
    const question = query.questions?.[0];
    if (question) {
      queries.push({ name: norm(question.name), type: question.type, transport });
      const verdict = options.intercept?.(question, transport);
      if (verdict === 'drop') return undefined;
      if (verdict) {
        return dnsPacket.encode({ type: 'response', id: query.id, questions: [question], flags: header(query, RCODE[verdict], false) });
      }
    }
    let packet: dnsPacket.Packet;
    try {
      packet = await answer(query, options.source);
    } catch {
      packet = { type: 'response', id: query.id, questions: query.questions, flags: header(query, RCODE.SERVFAIL, false) };
    }
    let encoded = dnsPacket.encode(packet);
    if (transport === 'udp' && encoded.length > udpLimit(query)) {
      encoded = dnsPacket.encode({ ...packet, answers: [], authorities: [], flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE });
    }
    return encoded;
  }

  // Same port for UDP and TCP: take an ephemeral UDP port, then try TCP on it.
  for (let attempt = 0; ; attempt++) {
    const udp: Socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve());
    });
    const port = udp.address().port;
    const sockets = new Set<TcpSocket>();
    const tcp: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
          buffered = buffered.subarray(2 + message.length);
          void respond(Buffer.from(message), 'tcp').then((out) => {
            if (!out || socket.destroyed) return;
            const frame = Buffer.alloc(2 + out.length);
            frame.writeUInt16BE(out.length, 0);
            out.copy(frame, 2);
            socket.write(frame);
          });
        }
      });
    });
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!listening) {
      udp.close();
      if (attempt >= 20) throw new Error('could not bind the same UDP and TCP port');
      continue;
    }
    udp.on('message', (message, rinfo) => {
      void respond(message, 'udp').then((out) => {
        if (out) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    return {
      host: '127.0.0.1',
      port,
      queries,
      stop: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}

/** An in-memory zone set: `set(name, type, data[])` and `remove(name)` change what the server answers at once. */
export class MemoryZones {
  private readonly zones = new Map<string, Answer[]>();

  constructor(zoneNames: string[]) {
    for (const z of zoneNames.map(norm)) {
      this.zones.set(z, [
        { type: 'SOA', name: z, ttl: 60, data: { mname: `ns1.${z}`, rname: `hostmaster.${z}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } },
        { type: 'NS', name: z, ttl: 60, data: `ns1.${z}` },
      ]);
    }
  }

  readonly source: ZoneSource = async (qname) => {
    const zone = [...this.zones.keys()].filter((z) => qname === z || qname.endsWith(`.${z}`)).sort((a, b) => b.length - a.length)[0];
    return zone ? { zone, records: this.zones.get(zone) ?? [] } : undefined;
  };

  private zoneOf(name: string): Answer[] {
    const n = norm(name);
    const zone = [...this.zones.keys()].filter((z) => n === z || n.endsWith(`.${z}`)).sort((a, b) => b.length - a.length)[0];
    if (!zone) throw new Error(`MemoryZones: no zone for ${name}`);
    return this.zones.get(zone) ?? [];
  }

  setTxt(name: string, values: string[]): void {
    this.remove(name, 'TXT');
    this.zoneOf(name).push(...values.map((v): Answer => ({ type: 'TXT', name: norm(name), ttl: 60, data: [Buffer.from(v)] })));
  }

  setCname(name: string, target: string): void {
    this.remove(name, 'CNAME');
    this.zoneOf(name).push({ type: 'CNAME', name: norm(name), ttl: 60, data: norm(target) });
  }

  remove(name: string, type?: string): void {
    const records = this.zoneOf(name);
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i];
      if (r && r.name === norm(name) && (type === undefined || r.type === type)) records.splice(i, 1);
    }
  }
}
