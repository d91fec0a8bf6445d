/**
 * A DER reader (ITU-T X.690 §8, §10) for what src/certificates/x509.ts needs of
 * a certificate: elements with single-octet tags and definite lengths, as DER
 * requires. Anything else throws a DerError.
 */

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export interface Element {
  tag: number;
  /** The content octets. */
  content: Buffer;
  /** The whole element: tag, length and content. */
  raw: Buffer;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
} as const;

/** The element that starts at `offset` of `buf`. */
export function readElement(buf: Buffer, offset = 0): Element {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-octet tags are not used in certificates');
  let length = buf[offset + 1] as number;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0) throw new DerError('indefinite length is not DER');
    if (octets > 4 || offset + 2 + octets > buf.length) throw new DerError('bad length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (buf[offset + 2 + i] as number);
    header += octets;
  }
  const end = offset + header + length;
  if (end > buf.length) throw new DerError('element longer than its container');
  return { tag, content: buf.subarray(offset + header, end), raw: buf.subarray(offset, end) };
}

/** The elements of a constructed element's content, in order. */
export function children(content: Buffer): Element[] {
  const out: Element[] = [];
  for (let offset = 0; offset < content.length; ) {
    const element = readElement(content, offset);
    out.push(element);
    offset += element.raw.length;
  }
  return out;
}

/** The only element of `buf`, which must hold nothing else. */
export function readWhole(buf: Buffer): Element {
  const element = readElement(buf, 0);
  if (element.raw.length !== buf.length) throw new DerError('trailing data');
  return element;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oidOf(element: Element): string {
  if (element.tag !== TAG.OID || element.content.length === 0) throw new DerError('not an OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  for (const octet of element.content) {
    value = value * 128 + (octet & 0x7f);
    if (!(octet & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** UTCTime (two-digit years: 50–99 are 19xx, RFC 5280 §4.1.2.5.1) or GeneralizedTime, in UTC ("Z"). */
export function timeOf(element: Element): Date {
  const text = element.content.toString('latin1');
  const match =
    element.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : element.tag === TAG.GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text)
        : null;
  if (!match) throw new DerError(`not a UTC time: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  const year = element.tag === TAG.UTC_TIME ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
  // setUTCFullYear: Date.UTC reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year);
  return date;
}

/** A directory string (RFC 5280 §4.1.2.4) as text. */
export function stringOf(element: Element): string {
  switch (element.tag) {
    case TAG.BMP_STRING:
      return Buffer.from(element.content).swap16().toString('utf16le');
    case TAG.UNIVERSAL_STRING: {
      let out = '';
      for (let i = 0; i + 3 < element.content.length; i += 4) out += String.fromCodePoint(element.content.readUInt32BE(i));
      return out;
    }
    case TAG.T61_STRING:
      return element.content.toString('latin1');
    default:
      return element.content.toString('utf8');
  }
}
