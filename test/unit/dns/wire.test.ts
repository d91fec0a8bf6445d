import { describe, expect, it } from 'vitest';
import { ancestorsOf, isInZone, parseServer, txtChunks, txtValuesAt } from '../../../src/dns/wire.js';

describe('DNS wire helpers', () => {
  it('parses host:port forms', () => {
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('ns1.example.com')).toEqual({ host: 'ns1.example.com', port: 53 });
    expect(parseServer('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseServer('::1')).toEqual({ host: '::1', port: 53 });
    expect(() => parseServer('127.0.0.1:99999')).toThrow(/Invalid port/);
  });

  it('walks names up and tests zone membership', () => {
    expect(ancestorsOf('_acme-challenge.A.z51.test.')).toEqual(['_acme-challenge.a.z51.test', 'a.z51.test', 'z51.test', 'test']);
    expect(isInZone('x.z51.test', 'Z51.test.')).toBe(true);
    expect(isInZone('xz51.test', 'z51.test')).toBe(false);
  });

  it('splits long TXT values into 255-byte strings', () => {
    expect(txtChunks('a'.repeat(600)).map((c) => c.length)).toEqual([255, 255, 90]);
    expect(txtChunks('')).toEqual([Buffer.alloc(0)]);
  });

  it('reads TXT values through a CNAME chain in an answer', () => {
    const values = txtValuesAt(
      [
        { type: 'CNAME', name: '_acme-challenge.a.test', data: 'x.validation.test' },
        { type: 'TXT', name: 'x.validation.test', data: [Buffer.from('part1'), Buffer.from('part2')] },
        { type: 'TXT', name: 'unrelated.test', data: 'no' },
      ],
      '_acme-challenge.a.test',
    );
    expect(values).toEqual(['part1part2']);
  });
});

describe('parseServer shares the configuration parser', () => {
  it('accepts exactly what DNS_RESOLVERS accepts, with the same result', async () => {
    const { parseHostPortValue } = await import('../../../src/config/parsers.js');
    const { formatHostPort } = await import('../../../src/util/host-port.js');
    for (const text of ['127.0.0.1:5353', 'ns1.example.com', '[::1]:5353', '::1', 'ns1.example.com.:53']) {
      const fromConfig = parseHostPortValue(text, 53);
      expect(parseServer(text)).toEqual(fromConfig);
      expect(formatHostPort(parseServer(text))).toBe(formatHostPort(fromConfig as { host: string; port: number }));
    }
    for (const bad of ['127.0.0.1:notaport', '127.0.0.1:0', 'bad host:53', '[not-v6]:53']) {
      expect(parseHostPortValue(bad, 53)).toHaveProperty('problem');
      expect(() => parseServer(bad)).toThrow(/Invalid/);
    }
  });
});
