/**
 * Just enough DER (X.690) to write X.509 certificates with node:crypto, which can
 * sign but not build certificates, and to read the public key and names out of
 * a CSR (PKCS #10, RFC 2986). Used only by the in-memory CA.
 */
import { sign, type KeyObject } from 'node:crypto';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
export const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
export const octets = (value: Buffer): Buffer => tlv(0x04, value);
export const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]));
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
export const bitString = (value: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.from([unusedBits]), value);

/** A non-negative INTEGER from its magnitude bytes (a 00 is prepended when the high bit is set). */
export function integer(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  return tlv(0x02, (m[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after. */
export function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

/** A Name with one CN (issuer names); `undefined` gives the empty subject of Let's Encrypt's modern profiles. */
export function name(commonName?: string): Buffer {
  if (commonName === undefined) return seq();
  return seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
}

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface TbsInput {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The subject's key, or its SubjectPublicKeyInfo as DER (as read from a CSR). */
  publicKey: KeyObject | Buffer;
  extensions: Buffer[];
}

/** A signed v3 certificate (DER), ECDSA P-256 / SHA-256 by `signingKey`. */
export function certificate(input: TbsInput, signingKey: KeyObject): Buffer {
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(input.serial),
    ECDSA_SHA256,
    input.issuer,
    seq(time(input.notBefore), time(input.notAfter)),
    input.subject,
    Buffer.isBuffer(input.publicKey) ? input.publicKey : input.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...input.extensions)),
  );
  return seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, signingKey)));
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

// ---- reading -----------------------------------------------------------

interface Element {
  tag: number;
  /** The whole element, header included. */
  raw: Buffer;
  value: Buffer;
}

function read(buf: Buffer, offset: number): Element & { end: number } {
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let header = 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + (buf[offset + 2 + i] as number);
    header += count;
  }
  const end = offset + header + len;
  if (end > buf.length) throw new Error('truncated DER');
  return { tag, raw: buf.subarray(offset, end), value: buf.subarray(offset + header, end), end };
}

function children(buf: Buffer): Element[] {
  const out: Element[] = [];
  for (let offset = 0; offset < buf.length; ) {
    const e = read(buf, offset);
    out.push(e);
    offset = e.end;
  }
  return out;
}

const SAN_OID = oid('2.5.29.17');

/** The public key and dNSNames (from the extensionRequest attribute) of a PEM CSR. */
/** The CSR's key as SubjectPublicKeyInfo DER (not parsed: the certificate carries it as it is) and its SAN names. */
export function readCsr(csrPem: string): { spki: Buffer; dnsNames: string[] } {
  const request = read(fromPem(csrPem), 0);
  const info = children(request.value)[0];
  if (!info) throw new Error('CSR has no CertificationRequestInfo');
  const [, , spki, attributes] = children(info.value);
  if (!spki) throw new Error('CSR has no public key');
  const dnsNames: string[] = [];
  // Walk every constructed element under the attributes for the SAN extension.
  const walk = (elements: Element[]): void => {
    for (let i = 0; i < elements.length; i++) {
      const e = elements[i] as Element;
      if (e.raw.equals(SAN_OID)) {
        const value = elements[elements.length - 1] as Element;
        for (const n of children(read(value.value, 0).value)) if (n.tag === 0x82) dnsNames.push(n.value.toString('ascii').toLowerCase());
        return;
      }
      if (e.tag & 0x20) walk(children(e.value));
    }
  };
  if (attributes) walk(children(attributes.value));
  return { spki: spki.raw, dnsNames };
}
