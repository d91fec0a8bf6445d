// The DER reader (src/certificates/der.ts) on hand-made encodings (X.690 §8.1.3 lengths,
// §8.19 OIDs; RFC 5280 §4.1.2.5 times) and on what it must refuse.
import { describe, expect, it } from 'vitest';
import { children, DerError, oidOf, readElement, readWhole, stringOf, TAG, timeOf } from '../../../src/certificates/der.js';

const el = (tag: number, content: Buffer | string) => {
  const body = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
  const len = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
};

describe('DER reader', () => {
  it('reads short and long lengths, and the children of a SEQUENCE in order', () => {
    const long = Buffer.alloc(300, 7);
    const seq = el(TAG.SEQUENCE, Buffer.concat([el(TAG.INTEGER, Buffer.from([1])), el(TAG.OCTET_STRING, long), el(TAG.BOOLEAN, Buffer.from([0xff]))]));
    const outer = readWhole(seq);
    expect(outer.tag).toBe(TAG.SEQUENCE);
    const parts = children(outer.content);
    expect(parts.map((p) => p.tag)).toEqual([TAG.INTEGER, TAG.OCTET_STRING, TAG.BOOLEAN]);
    expect(parts[1]?.content.equals(long)).toBe(true);
    expect(parts[1]?.raw.length).toBe(304);
  });

  it('refuses what is not DER or not whole', () => {
    expect(() => readElement(Buffer.from([0x30]))).toThrow(DerError);
    expect(() => readElement(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow(/indefinite/);
    expect(() => readElement(Buffer.from([0x30, 0x05, 0x01]))).toThrow(/longer than its container/);
    expect(() => readElement(Buffer.from([0x1f, 0x81, 0x01, 0x00]))).toThrow(/multi-octet tags/);
    expect(() => readWhole(Buffer.from([0x05, 0x00, 0x00]))).toThrow(/trailing/);
  });

  it('decodes OIDs, the first two arcs and multi-octet arcs included', () => {
    expect(oidOf(readWhole(Buffer.from('0603551d11', 'hex')))).toBe('2.5.29.17');
    expect(oidOf(readWhole(Buffer.from('06092a864886f70d010901', 'hex')))).toBe('1.2.840.113549.1.9.1');
    expect(oidOf(readWhole(Buffer.from('060a0992268993f22c640119', 'hex')))).toBe('0.9.2342.19200300.100.1.25');
    expect(oidOf(readWhole(Buffer.from('0603883703', 'hex')))).toBe('2.999.3');
    expect(() => oidOf(readWhole(el(TAG.INTEGER, Buffer.from([1]))))).toThrow(/OBJECT IDENTIFIER/);
  });

  it('reads UTCTime with the RFC 5280 century rule, and GeneralizedTime from year 1', () => {
    expect(timeOf(readWhole(el(TAG.UTC_TIME, '491231235959Z')))).toEqual(new Date('2049-12-31T23:59:59Z'));
    expect(timeOf(readWhole(el(TAG.UTC_TIME, '500101000000Z')))).toEqual(new Date('1950-01-01T00:00:00Z'));
    expect(timeOf(readWhole(el(TAG.GENERALIZED_TIME, '20500101000000Z')))).toEqual(new Date('2050-01-01T00:00:00Z'));
    expect(timeOf(readWhole(el(TAG.GENERALIZED_TIME, '00010101000000Z'))).toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(() => timeOf(readWhole(el(TAG.UTC_TIME, '2601011200Z')))).toThrow(DerError);
    expect(() => timeOf(readWhole(el(TAG.UTC_TIME, '260101120000+0100')))).toThrow(DerError);
  });

  it('reads the directory string types', () => {
    expect(stringOf(readWhole(el(TAG.UTF8_STRING, Buffer.from('Zoë', 'utf8'))))).toBe('Zoë');
    expect(stringOf(readWhole(el(TAG.PRINTABLE_STRING, 'R10')))).toBe('R10');
    expect(stringOf(readWhole(el(TAG.BMP_STRING, Buffer.from([0x00, 0x5a, 0x00, 0xeb]))))).toBe('Zë');
    expect(stringOf(readWhole(el(TAG.UNIVERSAL_STRING, Buffer.from([0, 0, 0, 0x5a, 0, 1, 0xf6, 0x00]))))).toBe('Z\u{1f600}');
  });
});
