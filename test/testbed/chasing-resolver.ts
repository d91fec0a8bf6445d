// A tiny recursive-resolver stand-in for the testbed (UDP + TCP on one
// ephemeral loopback port, dns-packet). Every query is forwarded to one
// upstream (the testbed's BIND); when the answer ends in a CNAME whose target
// holds no record of the requested type in that answer, the chain is followed
// (at most `maxHops` aliases) by asking the upstream about the target, and the
// client gets the whole chain plus the target's records, as a real resolver
// (Let's Encrypt's Unbound) returns them.
//
// Why: BIND with `recursion no` stops at a CNAME that leaves the zone, and
// Pebble asks its `-dnsserver` directly, so CNAME-delegated DNS-01 challenges
// (_acme-challenge.a.test CNAME x.validation.test) only validate through this.
//
// Loops, chains over `maxHops`, upstream errors and timeouts answer SERVFAIL.
// No cache, no DNSSEC, no iteration from the root: one upstream only.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import { normalizeName, parseServer, query, type DnsServer } from '../../src/dns/wire.js';

export interface ChasingResolverOptions {
  /** host:port of the server every question is forwarded to (e.g. BIND). */
  upstream: string;
  /** Longest CNAME chain followed. Default 10. */
  maxHops?: number;
  /** Timeout of one upstream query. Default 2 s. */
  timeoutMs?: number;
}

export interface ResolverQuery {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  rcode: string;
  /** Upstream queries this client query took (1 without chasing). */
  upstreamQueries: number;
}

export interface ChasingResolver {
  host: '127.0.0.1';
  port: number;
  /** host:port, e.g. for `pebble -dnsserver` or DNS_RESOLVERS. */
  address: string;
  /** Every client query answered, in order. */
  queries: ResolverQuery[];
  stop(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

export interface Resolution {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  upstreamQueries: number;
}

/**
 * Where the CNAME chain starting at `start` ends inside `answers`, and how many
 * aliases it took; `loop` when a name repeats.
 */
function walkChain(answers: readonly Answer[], start: string): { end: string; hops: number; loop: boolean } {
  const seen = new Set([start]);
  let end = start;
  for (;;) {
    const alias = answers.find((a) => a.type === 'CNAME' && normalizeName(a.name) === end);
    if (!alias || alias.type !== 'CNAME') return { end, hops: seen.size - 1, loop: false };
    const target = normalizeName(alias.data);
    if (seen.has(target)) return { end: target, hops: seen.size, loop: true };
    seen.add(target);
    end = target;
  }
}

/** Resolves one question through `upstream`, chasing CNAMEs across zones. */
export async function resolveChasing(
  question: Question,
  upstream: DnsServer,
  options: { maxHops?: number; timeoutMs?: number } = {},
): Promise<Resolution> {
  const maxHops = options.maxHops ?? 10;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const qname = normalizeName(question.name);
  const answers: Answer[] = [];
  let upstreamQueries = 0;
  let name = qname;
  const servfail = (): Resolution => ({ rcode: RCODE.SERVFAIL, answers: [], authorities: [], upstreamQueries });
  for (;;) {
    upstreamQueries++;
    let response;
    try {
      response = await query(upstream, name, question.type, { timeoutMs });
    } catch {
      return servfail();
    }
    const rcode = (response.packet.flags ?? 0) & 0xf;
    if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return servfail();
    answers.push(...(response.packet.answers ?? []));
    const authorities = response.packet.authorities ?? [];
    const chain = walkChain(answers, qname);
    if (chain.loop || chain.hops > maxHops) return servfail();
    const found = answers.some((a) => a.type === question.type && normalizeName(a.name) === chain.end);
    const done =
      found ||
      chain.end === name || // the last answer was not (or no longer) an alias
      question.type === 'CNAME' ||
      rcode === RCODE.NXDOMAIN;
    // NODATA and NXDOMAIN (also at the end of a chain) keep the upstream's SOA in the authority section.
    if (done) return { rcode, answers, authorities: found ? [] : authorities, upstreamQueries };
    name = chain.end;
  }
}

function udpLimit(packet: DecodedPacket): number {
  const opt = packet.additionals?.find((a) => a.type === 'OPT');
  return opt && opt.type === 'OPT' ? Math.max(512, opt.udpPayloadSize) : 512;
}

export async function startChasingResolver(options: ChasingResolverOptions): Promise<ChasingResolver> {
  const upstream = parseServer(options.upstream);
  const queries: ResolverQuery[] = [];

  async function respond(raw: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let request: DecodedPacket;
    try {
      request = dnsPacket.decode(raw);
    } catch {
      return undefined;
    }
    const question = request.questions?.[0];
    const rd = (request.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const hasOpt = request.additionals?.some((a) => a.type === 'OPT') ?? false;
    const base: Packet = {
      type: 'response',
      id: request.id ?? 0,
      questions: question ? [question] : [],
      ...(hasOpt ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] } : {}),
    };
    if (!question || (request.flags ?? 0) & 0x7800) {
      return dnsPacket.encode({ ...base, flags: rd | dnsPacket.RECURSION_AVAILABLE | 4 /* NOTIMP */ });
    }
    let resolution: Resolution;
    try {
      resolution = await resolveChasing(question, upstream, options);
    } catch {
      resolution = { rcode: RCODE.SERVFAIL, answers: [], authorities: [], upstreamQueries: 0 };
    }
    queries.push({
      name: normalizeName(question.name),
      type: question.type,
      transport,
      rcode: RCODE_NAMES[resolution.rcode] ?? String(resolution.rcode),
      upstreamQueries: resolution.upstreamQueries,
    });
    const packet: Packet = {
      ...base,
      flags: rd | dnsPacket.RECURSION_AVAILABLE | resolution.rcode,
      answers: resolution.answers,
      authorities: resolution.authorities,
    };
    let encoded = dnsPacket.encode(packet);
    if (transport === 'udp' && encoded.length > udpLimit(request)) {
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
          const message = Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
          buffered = buffered.subarray(2 + message.length);
          void respond(message, 'tcp').then((out) => {
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
      if (attempt >= 20) throw new Error('chasing resolver: could not bind the same UDP and TCP port');
      continue;
    }
    udp.on('error', () => undefined);
    udp.on('message', (message, rinfo) => {
      void respond(message, 'udp').then((out) => {
        if (out) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    return {
      host: '127.0.0.1',
      port,
      address: `127.0.0.1:${port}`,
      queries,
      stop: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}
