/**
 * DNS on the wire: talking to one given server (`host:port`) over UDP or TCP,
 * with a timeout on every exchange. Used by the RFC2136 provider (updates and
 * queries to the primary), the propagation check and CNAME resolution, which
 * all need to ask a specific server rather than the system resolver.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
import { formatHostPort, splitHostPort, type HostPort } from '../util/host-port.js';

export type DnsServer = HostPort;

/** Parses `host`, `host:port`, `[v6]:port` or a bare IPv6 address (the configuration's own parser). */
export function parseServer(text: string, defaultPort = 53): DnsServer {
  const value = splitHostPort(text, defaultPort);
  if ('problem' in value) {
    throw new Error(value.problem === 'port' ? `Invalid port in DNS server "${text}"` : `Invalid DNS server "${text}": expected host:port`);
  }
  return value;
}

export function formatServer(server: DnsServer): string {
  return formatHostPort(server);
}

/** Lower case, no trailing dot: the one form names are compared in. */
export function normalizeName(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') && n.length > 1 ? n.slice(0, -1) : n;
}

/** `name` equals `zone` or lies below it. */
export function isInZone(name: string, zone: string): boolean {
  const n = normalizeName(name);
  const z = normalizeName(zone);
  return n === z || n.endsWith(`.${z}`);
}

/** The name itself, then each parent up to (and including) the top-level label. */
export function ancestorsOf(name: string): string[] {
  const labels = normalizeName(name).split('.').filter(Boolean);
  return labels.map((_, i) => labels.slice(i).join('.'));
}

export const RCODES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};

export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`;
}

/** A network-level failure: timeout, refused connection, truncated stream. Always transient. */
export class DnsTransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsTransportError';
  }
}

export function newMessageId(): number {
  return randomInt(0, 0x10000);
}

/**
 * The one way an exchange ends: the first answer or error wins, the timer is
 * cleared and the socket closed; after `timeoutMs` it ends as a timeout.
 */
function settleOnce(
  resolve: (answer: Buffer) => void,
  reject: (error: Error) => void,
  close: () => void,
  timeoutMs: number,
  what: string,
): (error: Error | undefined, answer?: Buffer) => void {
  let settled = false;
  const finish = (error: Error | undefined, answer?: Buffer): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    close();
    if (error) reject(error);
    else resolve(answer ?? Buffer.alloc(0));
  };
  const timer = setTimeout(() => finish(new DnsTransportError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  return finish;
}

/** Sends one message over TCP (RFC 1035 §4.2.2 length framing) and returns the answer with the same id. */
export function exchangeTcp(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const id = message.readUInt16BE(0);
  return new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    const finish = settleOnce(resolve, reject, () => socket.destroy(), timeoutMs, `DNS over TCP to ${formatServer(server)}`);
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + message.length);
      frame.writeUInt16BE(message.length, 0);
      message.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // A server may, in principle, send more than one message; take the one with our id.
      while (received.length >= 2) {
        const length = received.readUInt16BE(0);
        if (received.length < 2 + length) return;
        const answer = received.subarray(2, 2 + length);
        received = received.subarray(2 + length);
        if (answer.length >= 12 && answer.readUInt16BE(0) === id) {
          finish(undefined, Buffer.from(answer));
          return;
        }
      }
    });
    socket.on('error', (error) =>
      finish(new DnsTransportError(`DNS over TCP to ${formatServer(server)} failed: ${error.message}`, { cause: error })),
    );
    socket.on('close', () =>
      finish(new DnsTransportError(`DNS over TCP to ${formatServer(server)}: connection closed before an answer`)),
    );
  });
}

/** Sends one datagram and returns the first answer with the same id from that server. */
export function exchangeUdp(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const id = message.readUInt16BE(0);
  return new Promise<Buffer>((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const finish = settleOnce(resolve, reject, () => socket.close(), timeoutMs, `DNS over UDP to ${formatServer(server)}`);
    socket.on('message', (answer: Buffer) => {
      if (answer.length >= 12 && answer.readUInt16BE(0) === id) finish(undefined, answer);
    });
    socket.on('error', (error) =>
      finish(new DnsTransportError(`DNS over UDP to ${formatServer(server)} failed: ${error.message}`, { cause: error })),
    );
    socket.send(message, server.port, server.host, (error) => {
      if (error) finish(new DnsTransportError(`DNS over UDP to ${formatServer(server)} failed: ${error.message}`, { cause: error }));
    });
  });
}

export interface DnsResponse {
  rcode: string;
  authoritative: boolean;
  packet: DecodedPacket;
  raw: Buffer;
}

export function decodeResponse(raw: Buffer): DnsResponse {
  const flags = raw.readUInt16BE(2);
  return {
    rcode: rcodeName(flags & 0xf),
    authoritative: (flags & dnsPacket.AUTHORITATIVE_ANSWER) !== 0,
    packet: dnsPacket.decode(raw),
    raw,
  };
}

export interface QueryOptions {
  timeoutMs: number;
  /** `udp` falls back to TCP when the answer is truncated. Default `udp`. */
  transport?: 'udp' | 'tcp';
}

/** Asks one server one question (recursion desired, so it also works against resolvers). */
export async function query(server: DnsServer, name: string, type: RecordType, options: QueryOptions): Promise<DnsResponse> {
  const message = dnsPacket.encode({
    type: 'query',
    id: newMessageId(),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name: normalizeName(name), class: 'IN' }],
  });
  if (options.transport !== 'tcp') {
    const raw = await exchangeUdp(server, message, options.timeoutMs);
    if ((raw.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) === 0) return decodeResponse(raw);
  }
  return decodeResponse(await exchangeTcp(server, message, options.timeoutMs));
}

/** Joins the character-strings of one TXT record into its value. */
export function txtValue(data: unknown): string {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join('');
}

/** Splits a TXT value into character-strings of at most 255 bytes. */
export function txtChunks(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks;
}

/**
 * TXT values at `name` in an answer section, following CNAMEs inside the answer
 * (a recursive resolver answers a TXT query for an alias with the chain).
 */
export function txtValuesAt(answers: readonly Answer[] | undefined, name: string): string[] {
  const names = new Set([normalizeName(name)]);
  const list = answers ?? [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const a of list) {
      if (a.type === 'CNAME' && names.has(normalizeName(a.name)) && !names.has(normalizeName(a.data))) {
        names.add(normalizeName(a.data));
        grew = true;
      }
    }
  }
  const values: string[] = [];
  for (const a of list) if (a.type === 'TXT' && names.has(normalizeName(a.name))) values.push(txtValue(a.data));
  return values;
}

/**
 * A TXT value in presentation format (RFC 1035 §5.1), as Route 53 and Cloudflare take it:
 * each ≤255-byte piece quoted, `"` and `\` escaped, pieces space-separated.
 */
export function quoteTxt(value: string): string {
  const pieces: string[] = [];
  let piece = '';
  for (const ch of value) {
    if (Buffer.byteLength(piece + ch, 'utf8') > 255) {
      pieces.push(piece);
      piece = '';
    }
    piece += ch;
  }
  pieces.push(piece);
  return pieces.map((p) => `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(' ');
}

/**
 * The bytes of one character-string's text (between its quotes), with `\"`,
 * `\\` and three-digit `\NNN` escapes read in `radix`: Route 53 writes octal,
 * RFC 1035 presentation format (PowerDNS) decimal.
 */
export function characterStringBytes(text: string, radix: 8 | 10): Buffer {
  const digits = radix === 8 ? /^[0-7]{3}$/ : /^\d{3}$/;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === '\\' && digits.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), radix) & 0xff);
      i += 3;
    } else if (c === '\\' && i + 1 < text.length) {
      bytes.push(...Buffer.from(text[++i] ?? '', 'utf8'));
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** The one value a quoted TXT presentation (`"a" "b"`) holds; unquoted text stands as it is. */
export function unquoteCharacterStrings(value: string, radix: 8 | 10): string {
  const pieces = [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)];
  if (pieces.length === 0) return value;
  return Buffer.concat(pieces.map((m) => characterStringBytes(m[1] ?? '', radix))).toString('utf8');
}

/** Inverse of quoteTxt; also reads the `\NNN` octal escapes Route 53 uses for other bytes. */
export function unquoteTxt(value: string): string {
  return unquoteCharacterStrings(value, 8);
}
