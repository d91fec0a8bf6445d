import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as dnsPacket from 'dns-packet';
import { ConfigError, loadSettings } from '../../../src/config/index.js';
import { createTsigKey, findTsig, parseTsigAlgorithm, signMessage, SUPPORTED_TSIG_ALGORITHMS, TsigError, verifyMessage } from '../../../src/dns/tsig.js';

// Captured on the wire between BIND 9.18's `nsupdate -v -y hmac-sha256:acme-key:<secret>` and
// `named` (TCP, length prefix removed): an update of zone z51.test that deletes the TXT RRset at
// _acme-challenge.vector.z51.test and adds "known-vector", and named's signed NOERROR answer.
// Both MACs were computed by BIND, independently of the code under test.
const SECRET = '0Ss42vCFETHfFyPriejKI2aOcDnplbi+pfwRfgdHgwI=';
const NSUPDATE_REQUEST = Buffer.from(
  'aa2628000001000000020001037a3531047465737400000600010f5f61636d652d6368616c6c656e676506766563746f72037a3531047465737400001000ff000000000000c01a001000010000003c000d0c6b6e6f776e2d766563746f720861636d652d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b0a405f012c00205c120fd63ca238f4a0f65e53df8d91b91e8f0632eba41883ea9358ef57d4d8c0aa2600000000',
  'hex',
);
const NAMED_RESPONSE = Buffer.from(
  'aa26a8000001000000000001037a3531047465737400000600010861636d652d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b0a405f012c002018eec2ed58e47551cf6ded5d6f6028164e9e75e19cc82018de49884b60f96890aa2600000000',
  'hex',
);
const TIME_SIGNED = 0x6b0a405f;
const REQUEST_MAC = Buffer.from('5c120fd63ca238f4a0f65e53df8d91b91e8f0632eba41883ea9358ef57d4d8c0', 'hex');

const key = createTsigKey('acme-key', SECRET, 'hmac-sha256.');

function unsignedPart(message: Buffer): Buffer {
  const located = findTsig(message);
  if (!located) throw new Error('no TSIG');
  const out = Buffer.from(message.subarray(0, located.offset));
  out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  return out;
}

describe('TSIG (RFC 8945)', () => {
  it('parses the algorithm spellings lego and BIND use', () => {
    expect(parseTsigAlgorithm('hmac-sha256.')).toBe('hmac-sha256');
    expect(parseTsigAlgorithm('HMAC-SHA512')).toBe('hmac-sha512');
    expect(parseTsigAlgorithm('hmac-sha1')).toBe('hmac-sha1');
    expect(() => parseTsigAlgorithm('hmac-md5.sig-alg.reg.int.')).toThrow(/Unsupported TSIG algorithm.*use one of hmac-sha1., hmac-sha224./);
  });

  it('is the one table the configuration validates RFC2136_TSIG_ALGORITHM against', () => {
    const rfc2136 = { DNS_PROVIDER: 'rfc2136', RFC2136_NAMESERVER: '127.0.0.1', RFC2136_TSIG_KEY: 'k', RFC2136_TSIG_SECRET: 'c2VjcmV0c2VjcmV0' };
    expect(SUPPORTED_TSIG_ALGORITHMS).toEqual(['hmac-sha1.', 'hmac-sha224.', 'hmac-sha256.', 'hmac-sha384.', 'hmac-sha512.']);
    // Everything the configuration accepts, the provider signs with.
    for (const spelling of [...SUPPORTED_TSIG_ALGORITHMS, 'HMAC-SHA384', 'hmac-sha1']) {
      const algorithm = loadSettings({ ...rfc2136, RFC2136_TSIG_ALGORITHM: spelling }).dns.rfc2136.tsigAlgorithm;
      expect(createTsigKey('k', 'c2VjcmV0', algorithm).algorithm).toBe(algorithm.replace(/\.$/, '').toLowerCase());
    }
    // hmac-md5 used to pass the configuration and then fail in the provider: now it is refused at start.
    for (const md5 of ['hmac-md5', 'hmac-md5.sig-alg.reg.int.']) {
      let error: unknown;
      try {
        loadSettings({ ...rfc2136, RFC2136_TSIG_ALGORITHM: md5 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('RFC2136_TSIG_ALGORITHM');
      expect((error as Error).message).toContain('RFC 8945');
      expect((error as Error).message).toContain(SUPPORTED_TSIG_ALGORITHMS.join(', '));
    }
  });

  it('never puts the secret into an error message', () => {
    const bad = 'not base64 at all!!';
    try {
      createTsigKey('k', bad);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(bad);
      expect((error as Error).message).toMatch(/not valid base64/);
    }
  });

  it('produces, byte for byte, the request nsupdate signed (same time and fudge)', () => {
    const record = findTsig(NSUPDATE_REQUEST)?.record;
    expect(record?.timeSigned).toBe(TIME_SIGNED);
    expect(record?.fudge).toBe(300);
    const signed = signMessage(unsignedPart(NSUPDATE_REQUEST), key, { timeSigned: TIME_SIGNED, fudge: 300 });
    expect(signed.mac.toString('hex')).toBe(REQUEST_MAC.toString('hex'));
    expect(signed.message.toString('hex')).toBe(NSUPDATE_REQUEST.toString('hex'));
  });

  it('matches a MAC computed by hand from the RFC 8945 §4.3.3 layout', () => {
    const message = dnsPacket.encode({
      type: 'query',
      id: 0x1234,
      flags: 5 << 11,
      questions: [{ type: 'SOA', name: 'z51.test', class: 'IN' }],
      authorities: [{ type: 'TXT', name: '_acme-challenge.z51.test', class: 'ANY', ttl: 0, data: [] }],
    });
    const timeSigned = 1_700_000_000;
    const signed = signMessage(message, createTsigKey('Acme-Key.', SECRET, 'hmac-sha512'), { timeSigned });
    const variables = Buffer.concat([
      Buffer.from('0861636d652d6b657900', 'hex'), // acme-key. (lower-cased)
      Buffer.from('00ff', 'hex'), // class ANY
      Buffer.from('00000000', 'hex'), // TTL
      Buffer.from('0b686d61632d73686135313200', 'hex'), // hmac-sha512.
      Buffer.from('00006553f100', 'hex'), // time signed, 48 bits
      Buffer.from('012c', 'hex'), // fudge 300
      Buffer.from('0000', 'hex'), // error
      Buffer.from('0000', 'hex'), // other length
    ]);
    const expected = createHmac('sha512', Buffer.from(SECRET, 'base64')).update(message).update(variables).digest();
    expect(signed.mac.equals(expected)).toBe(true);
    // The TSIG RR is appended as the last additional record, ARCOUNT incremented.
    expect(signed.message.readUInt16BE(10)).toBe(1);
    expect(findTsig(signed.message)?.record.mac.equals(expected)).toBe(true);
  });

  it("verifies nsupdate's request and named's answer to it", () => {
    expect(verifyMessage(NSUPDATE_REQUEST, key, { now: TIME_SIGNED + 5 }).mac.equals(REQUEST_MAC)).toBe(true);
    const answer = verifyMessage(NAMED_RESPONSE, key, { requestMac: REQUEST_MAC, now: TIME_SIGNED });
    expect(answer.error).toBe(0);
    expect(answer.originalId).toBe(0xaa26);
  });

  it('rejects a tampered answer, an answer to another request, a wrong key and a stale time', () => {
    const tampered = Buffer.from(NAMED_RESPONSE);
    tampered[3] = (tampered[3] ?? 0) ^ 0x05; // NOERROR -> REFUSED
    expect(() => verifyMessage(tampered, key, { requestMac: REQUEST_MAC, now: TIME_SIGNED })).toThrow(/does not verify/);
    expect(() => verifyMessage(NAMED_RESPONSE, key, { requestMac: Buffer.alloc(32), now: TIME_SIGNED })).toThrow(TsigError);
    const otherSecret = createTsigKey('acme-key', Buffer.alloc(32, 7).toString('base64'));
    expect(() => verifyMessage(NAMED_RESPONSE, otherSecret, { requestMac: REQUEST_MAC, now: TIME_SIGNED })).toThrow(
      expect.objectContaining({ code: 'BADSIG' }),
    );
    const otherName = createTsigKey('other-key', SECRET);
    expect(() => verifyMessage(NAMED_RESPONSE, otherName, { requestMac: REQUEST_MAC, now: TIME_SIGNED })).toThrow(
      expect.objectContaining({ code: 'BADKEY' }),
    );
    expect(() => verifyMessage(NAMED_RESPONSE, key, { requestMac: REQUEST_MAC, now: TIME_SIGNED + 301 })).toThrow(
      expect.objectContaining({ code: 'BADTIME' }),
    );
  });

  it('reports an unsigned message and an error the server put in its TSIG RR', () => {
    const unsigned = unsignedPart(NAMED_RESPONSE);
    expect(() => verifyMessage(unsigned, key)).toThrow(expect.objectContaining({ code: 'UNSIGNED' }));
    const refused = signMessage(unsigned, key, { error: 16, requestMac: REQUEST_MAC }).message;
    expect(() => verifyMessage(refused, key, { requestMac: REQUEST_MAC })).toThrow(expect.objectContaining({ code: 'BADSIG' }));
  });

  it('round-trips answers signed over the request MAC, for every algorithm', () => {
    for (const algorithm of ['hmac-sha1', 'hmac-sha256.', 'hmac-sha384', 'hmac-sha512.']) {
      const k = createTsigKey('k.example', SECRET, algorithm);
      const request = signMessage(dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'TXT', name: 'a.example' }] }), k);
      const answer = signMessage(dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'TXT', name: 'a.example' }] }), k, {
        requestMac: request.mac,
      });
      expect(verifyMessage(answer.message, k, { requestMac: request.mac }).algorithm).toBe(k.algorithm);
      expect(() => verifyMessage(answer.message, k)).toThrow(/does not verify/);
    }
  });
});
