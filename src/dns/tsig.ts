/**
 * TSIG (RFC 8945): HMAC signatures on DNS messages, used to authenticate
 * RFC2136 updates and to check that the answer really comes from the server.
 *
 * Works on wire-format bytes: the message is encoded (with dns-packet) first,
 * then signed. The MAC covers, in this order (RFC 8945 §4.3.3):
 *   - for an answer, the request MAC (2-byte length + MAC),
 *   - the message as it was before the TSIG RR was added (original id, ARCOUNT
 *     without the TSIG RR),
 *   - the TSIG variables: key name and algorithm name in canonical wire form
 *     (lower case, uncompressed), class ANY, TTL 0, time signed (48 bits),
 *     fudge, error, other length and other data.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The TSIG algorithms AutoTLS signs with: the one table that the configuration
 * (RFC2136_TSIG_ALGORITHM) and the RFC2136 provider both read. HMAC-MD5 is left
 * out on purpose: RFC 8945 §6 lists it as "Implementation: MAY, Use: MUST NOT".
 */
const HASHES = {
  'hmac-sha1': 'sha1',
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
} as const;

export type TsigAlgorithm = keyof typeof HASHES;

/** The supported algorithms, in lego's spelling (`hmac-sha256.`), for messages and docs. */
export const SUPPORTED_TSIG_ALGORITHMS: readonly string[] = Object.keys(HASHES).map((name) => `${name}.`);

export const TSIG_TYPE = 250;
const CLASS_ANY = 255;
export const DEFAULT_FUDGE_SECONDS = 300;

/** TSIG error codes (RFC 8945 §3, the extended RCODEs carried in the TSIG RR). */
export const TSIG_ERRORS: Readonly<Record<number, string>> = {
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

export interface TsigKey {
  /** Key name, lower case, without the trailing dot. */
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

export class TsigError extends Error {
  constructor(
    /** BADSIG, BADKEY, BADTIME, BADTRUNC, FORMERR or UNSIGNED. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TsigError';
  }
}

/** The algorithm a spelling names (`hmac-sha256.`, `HMAC-SHA256`, `hmac-sha256`), or undefined when unsupported. */
export function findTsigAlgorithm(text: string): TsigAlgorithm | undefined {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  return Object.hasOwn(HASHES, name) ? (name as TsigAlgorithm) : undefined;
}

/** Accepts lego/BIND spellings: `hmac-sha256.`, `HMAC-SHA256`, `hmac-sha256`. */
export function parseTsigAlgorithm(text: string): TsigAlgorithm {
  const algorithm = findTsigAlgorithm(text);
  if (algorithm) return algorithm;
  throw new Error(`Unsupported TSIG algorithm "${text}": use one of ${SUPPORTED_TSIG_ALGORITHMS.join(', ')}`);
}

/** Builds a key; the secret is base64 as `tsig-keygen` prints it. Errors never contain the secret. */
export function createTsigKey(name: string, secretBase64: string, algorithm: string = 'hmac-sha256.'): TsigKey {
  const keyName = name.trim().toLowerCase().replace(/\.$/, '');
  if (!keyName) throw new Error('TSIG key name is empty');
  const compact = secretBase64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new Error(`TSIG secret of key "${keyName}" is not valid base64`);
  const secret = Buffer.from(compact, 'base64');
  if (secret.length === 0) throw new Error(`TSIG secret of key "${keyName}" is empty`);
  return { name: keyName, algorithm: parseTsigAlgorithm(algorithm), secret };
}

/** Canonical wire form of a name (RFC 4034 §6.2): lower case, uncompressed. */
export function encodeCanonicalName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length > 63) throw new Error(`DNS label too long in "${name}"`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The fields of a TSIG RR that take part in the MAC, plus the MAC itself. */
export interface TsigRecord {
  keyName: string;
  algorithm: string;
  /** Seconds since the epoch. */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

function uint48(value: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(value, 0, 6);
  return b;
}

function uint16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}

function tsigVariables(r: Omit<TsigRecord, 'mac' | 'originalId'>): Buffer {
  return Buffer.concat([
    encodeCanonicalName(r.keyName),
    uint16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    encodeCanonicalName(r.algorithm),
    uint48(r.timeSigned),
    uint16(r.fudge),
    uint16(r.error),
    uint16(r.otherData.length),
    r.otherData,
  ]);
}

function computeMac(key: TsigKey, unsignedMessage: Buffer, variables: Buffer, requestMac: Buffer | undefined): Buffer {
  const hmac = createHmac(HASHES[key.algorithm], key.secret);
  if (requestMac) hmac.update(uint16(requestMac.length)).update(requestMac);
  return hmac.update(unsignedMessage).update(variables).digest();
}

export interface SignOptions {
  /** Seconds since the epoch; defaults to now. */
  timeSigned?: number;
  fudge?: number;
  /** When signing an answer: the MAC of the request it answers. */
  requestMac?: Buffer;
  error?: number;
  otherData?: Buffer;
}

export interface SignedMessage {
  message: Buffer;
  mac: Buffer;
}

/** Appends a TSIG RR to a wire-format message (which must not already carry one). */
export function signMessage(message: Buffer, key: TsigKey, options: SignOptions = {}): SignedMessage {
  if (message.length < 12) throw new Error('DNS message shorter than its header');
  const record: Omit<TsigRecord, 'mac'> = {
    keyName: key.name,
    algorithm: key.algorithm,
    timeSigned: options.timeSigned ?? Math.floor(Date.now() / 1000),
    fudge: options.fudge ?? DEFAULT_FUDGE_SECONDS,
    originalId: message.readUInt16BE(0),
    error: options.error ?? 0,
    otherData: options.otherData ?? Buffer.alloc(0),
  };
  const mac = computeMac(key, message, tsigVariables(record), options.requestMac);
  const rdata = Buffer.concat([
    encodeCanonicalName(record.algorithm),
    uint48(record.timeSigned),
    uint16(record.fudge),
    uint16(mac.length),
    mac,
    uint16(record.originalId),
    uint16(record.error),
    uint16(record.otherData.length),
    record.otherData,
  ]);
  const rr = Buffer.concat([
    encodeCanonicalName(key.name),
    uint16(TSIG_TYPE),
    uint16(CLASS_ANY),
    Buffer.alloc(4),
    uint16(rdata.length),
    rdata,
  ]);
  const signed = Buffer.concat([message, rr]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

// --- Reading wire format -------------------------------------------------

function need(buf: Buffer, end: number): void {
  if (end > buf.length) throw new TsigError('FORMERR', 'DNS message truncated');
}

function skipName(buf: Buffer, offset: number): number {
  for (let o = offset; ; ) {
    need(buf, o + 1);
    const len = buf[o] ?? 0;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) {
      need(buf, o + 2);
      return o + 2;
    }
    if ((len & 0xc0) !== 0) throw new TsigError('FORMERR', 'bad label in DNS message');
    o += 1 + len;
  }
}

function readName(buf: Buffer, offset: number): string {
  const labels: string[] = [];
  let o = offset;
  for (let jumps = 0; jumps < 64; ) {
    need(buf, o + 1);
    const len = buf[o] ?? 0;
    if (len === 0) return labels.join('.').toLowerCase();
    if ((len & 0xc0) === 0xc0) {
      need(buf, o + 2);
      o = buf.readUInt16BE(o) & 0x3fff;
      jumps++;
      continue;
    }
    need(buf, o + 1 + len);
    labels.push(buf.toString('utf8', o + 1, o + 1 + len));
    o += 1 + len;
  }
  throw new TsigError('FORMERR', 'compression loop in DNS message');
}

export interface LocatedTsig {
  /** Byte offset where the TSIG RR starts; the unsigned message is everything before. */
  offset: number;
  record: TsigRecord;
}

/** Finds the TSIG RR, which must be the last record of the additional section. */
export function findTsig(message: Buffer): LocatedTsig | undefined {
  need(message, 12);
  const counts = [4, 6, 8, 10].map((o) => message.readUInt16BE(o));
  const [qd = 0, an = 0, ns = 0, ar = 0] = counts;
  if (ar === 0) return undefined;
  let o = 12;
  for (let i = 0; i < qd; i++) o = skipName(message, o) + 4;
  const records = an + ns + ar;
  for (let i = 0; i < records; i++) {
    const start = o;
    o = skipName(message, o);
    need(message, o + 10);
    const type = message.readUInt16BE(o);
    const rdlength = message.readUInt16BE(o + 8);
    const rdataStart = o + 10;
    o = rdataStart + rdlength;
    need(message, o);
    if (type !== TSIG_TYPE) continue;
    if (i !== records - 1) throw new TsigError('FORMERR', 'TSIG record is not the last record of the message');
    return { offset: start, record: parseTsigRdata(message, readName(message, start), rdataStart, o) };
  }
  return undefined;
}

function parseTsigRdata(buf: Buffer, keyName: string, start: number, end: number): TsigRecord {
  const algorithm = readName(buf, start);
  let o = skipName(buf, start);
  need(buf, o + 10);
  const timeSigned = buf.readUIntBE(o, 6);
  const fudge = buf.readUInt16BE(o + 6);
  const macSize = buf.readUInt16BE(o + 8);
  o += 10;
  need(buf, o + macSize + 6);
  const mac = Buffer.from(buf.subarray(o, o + macSize));
  o += macSize;
  const originalId = buf.readUInt16BE(o);
  const error = buf.readUInt16BE(o + 2);
  const otherLength = buf.readUInt16BE(o + 4);
  o += 6;
  need(buf, o + otherLength);
  const otherData = Buffer.from(buf.subarray(o, o + otherLength));
  if (o + otherLength !== end) throw new TsigError('FORMERR', 'TSIG record length does not match its content');
  return { keyName, algorithm, timeSigned, fudge, mac, originalId, error, otherData };
}

export interface VerifyOptions {
  /** For an answer: the MAC of our request. */
  requestMac?: Buffer;
  /** Seconds since the epoch; defaults to now. */
  now?: number;
}

/**
 * Checks the TSIG RR of a message and returns it. Throws `TsigError` when the
 * message is unsigned, signed with another key or algorithm, carries a TSIG
 * error from the other side (BADSIG, BADKEY, BADTIME), or fails the check here.
 */
export function verifyMessage(message: Buffer, key: TsigKey, options: VerifyOptions = {}): TsigRecord {
  const located = findTsig(message);
  if (!located) throw new TsigError('UNSIGNED', 'the DNS message carries no TSIG signature');
  const { record, offset } = located;
  if (record.keyName !== key.name) {
    throw new TsigError('BADKEY', `the DNS message is signed with key "${record.keyName}", expected "${key.name}"`);
  }
  if (record.algorithm !== key.algorithm) {
    throw new TsigError('BADKEY', `the DNS message is signed with ${record.algorithm}, expected ${key.algorithm}`);
  }
  if (record.error !== 0) {
    const code = TSIG_ERRORS[record.error] ?? `TSIG error ${record.error}`;
    throw new TsigError(code, `the server rejected our TSIG signature: ${code}`);
  }
  const unsigned = Buffer.from(message.subarray(0, offset));
  unsigned.writeUInt16BE(record.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const expected = computeMac(key, unsigned, tsigVariables(record), options.requestMac);
  // RFC 8945 §5.2.2.1: a truncated MAC must keep at least half the hash and 10 bytes.
  const minimum = Math.max(10, Math.ceil(expected.length / 2));
  if (record.mac.length > expected.length || record.mac.length < minimum) {
    throw new TsigError('FORMERR', `TSIG MAC has an invalid length (${record.mac.length} bytes)`);
  }
  if (!timingSafeEqual(record.mac, expected.subarray(0, record.mac.length))) {
    throw new TsigError('BADSIG', 'the TSIG signature of the DNS message does not verify');
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - record.timeSigned) > record.fudge) {
    throw new TsigError('BADTIME', `the TSIG time differs from ours by ${Math.abs(now - record.timeSigned)} s`);
  }
  return record;
}
