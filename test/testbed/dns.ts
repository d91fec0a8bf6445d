// Small DNS helpers for the testbed: a UDP query with dns-packet, and RFC 2136
// updates through `nsupdate -y` (TSIG), both against the testbed's BIND.
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { requireBinary, run } from './process.js';

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export interface DnsAnswer {
  rcode: string;
  answers: dnsPacket.Answer[];
}

/** One UDP query to `host:port`; rejects on timeout. */
export function dnsQuery(host: string, port: number, name: string, type: dnsPacket.RecordType, timeoutMs = 1000): Promise<DnsAnswer> {
  return new Promise((resolve, reject) => {
    const id = randomInt(0, 65536);
    const query = dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type, name, class: 'IN' }] });
    const sock = createSocket('udp4');
    const timer = setTimeout(() => { sock.close(); reject(new Error(`DNS query ${name} ${type} to ${host}:${port} timed out`)); }, timeoutMs);
    sock.on('error', (err) => { clearTimeout(timer); sock.close(); reject(err); });
    sock.on('message', (msg) => {
      let packet: dnsPacket.DecodedPacket;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return;
      }
      if (packet.id !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve({ rcode: RCODES[(packet.flags ?? 0) & 0xf] ?? `RCODE${(packet.flags ?? 0) & 0xf}`, answers: packet.answers ?? [] });
    });
    sock.send(query, port, host);
  });
}

/** TXT strings at `name` (each record's chunks joined). */
export async function queryTxt(host: string, port: number, name: string): Promise<string[]> {
  const res = await dnsQuery(host, port, name, 'TXT');
  const out: string[] = [];
  for (const a of res.answers) {
    if (a.type !== 'TXT') continue;
    const data = a.data;
    const chunks = Array.isArray(data) ? data : [data];
    out.push(chunks.map((c) => (Buffer.isBuffer(c) ? c.toString('utf8') : String(c))).join(''));
  }
  return out;
}

export interface TsigServer {
  host: string;
  port: number;
  tsigKeyName: string;
  tsigSecret: string;
  tsigAlgorithm: string;
}

/**
 * Sends one RFC 2136 update (TSIG-signed) with `nsupdate`. `commands` are nsupdate
 * lines without `server`, `key` and `send` (added here), e.g.
 * `update add _acme-challenge.z01.test. 60 TXT "abc"`. One call = one update
 * message, so every name must be in the same zone. The key goes through stdin
 * (like `nsupdate -y <alg>:<name>:<secret>`, but not visible in ps or errors).
 */
export async function nsupdate(server: TsigServer, commands: string[], zone?: string): Promise<void> {
  const bin = requireBinary('nsupdate', 'apt-get install -y bind9-dnsutils');
  const script = [
    `server ${server.host} ${server.port}`,
    `key ${server.tsigAlgorithm}:${server.tsigKeyName} ${server.tsigSecret}`,
    ...(zone ? [`zone ${zone}`] : []),
    ...commands,
    'send',
    '',
  ].join('\n');
  await run(bin, [], { input: script, timeoutMs: 20_000 });
}
