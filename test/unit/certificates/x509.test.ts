import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ariCertId, coversDomain, readCertificate, splitFullchain, splitPemCertificates } from '../../../src/certificates/x509.js';
import { createTestCa, createTestLeaf, opensslAkiAndSerial, type TestCa } from './pki.js';

// RFC 9773 §4.1 example: AKI keyIdentifier 69:88:5B:..:C8:D4, serial 0x87654321
// (DER content 00 87 65 43 21, the 00 kept because the high bit is set).
const RFC9773_EXAMPLE = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;

function hexColonToBase64url(hex: string): string {
  return Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64url');
}

describe('ariCertId', () => {
  it('matches the RFC 9773 example', () => {
    expect(ariCertId(RFC9773_EXAMPLE)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(readCertificate(RFC9773_EXAMPLE).certId).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  describe('on openssl-made certificates', () => {
    let ca: TestCa;
    beforeAll(() => { ca = createTestCa(); });
    afterAll(() => ca.cleanup());

    it('keeps the leading 00 of a serial whose high bit is set', () => {
      const leaf = createTestLeaf(ca, { names: ['a.example'], serialHex: '87654321' });
      const { aki } = opensslAkiAndSerial(leaf.certPem, ca.dir);
      expect(aki).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2}){19}$/);
      expect(ariCertId(leaf.certPem)).toBe(`${hexColonToBase64url(aki)}.AIdlQyE`);
      expect(readCertificate(leaf.certPem).serial).toBe('87654321');
    });

    it('uses the serial bytes as they are when the high bit is clear', () => {
      const leaf = createTestLeaf(ca, { names: ['b.example'], serialHex: '0123456789abcdef' });
      const { aki, serial } = opensslAkiAndSerial(leaf.certPem, ca.dir);
      expect(serial.toLowerCase()).toBe('0123456789abcdef');
      expect(ariCertId(leaf.certPem)).toBe(`${hexColonToBase64url(aki)}.${Buffer.from('0123456789abcdef', 'hex').toString('base64url')}`);
    });

    it('throws for a certificate without AKI', () => {
      // createTestCa makes its self-signed root without an authorityKeyIdentifier.
      expect(() => ariCertId(ca.certPem)).toThrow(/Authority Key Identifier/);
      expect(readCertificate(ca.certPem).certId).toBeUndefined();
    });
  });
});

describe('readCertificate', () => {
  let ca: TestCa;
  beforeAll(() => { ca = createTestCa('Fake LE Intermediate'); });
  afterAll(() => ca.cleanup());

  it('reads names, validity, issuer and serial of the leaf of a fullchain', () => {
    const leaf = createTestLeaf(ca, { names: ['shop.example', '*.shop.example'], serialHex: '00fa', days: 90 });
    const fullchain = leaf.certPem + ca.certPem;
    const info = readCertificate(fullchain);
    expect(info.commonName).toBe('shop.example');
    expect(info.dnsNames).toEqual(['shop.example', '*.shop.example']);
    expect(info.issuerCommonName).toBe('Fake LE Intermediate');
    expect(info.issuer).toContain('CN=Fake LE Intermediate');
    expect(info.serial).toBe('fa');
    const lifetimeDays = (info.notAfter.getTime() - info.notBefore.getTime()) / 86_400_000;
    expect(lifetimeDays).toBeCloseTo(90, 0);
  });

  it('splits a fullchain into leaf and intermediates', () => {
    const leaf = createTestLeaf(ca, { names: ['x.example'] });
    const { leafPem, intermediatesPem } = splitFullchain(`${leaf.certPem}\n${ca.certPem}`);
    expect(readCertificate(leafPem).commonName).toBe('x.example');
    expect(intermediatesPem).toHaveLength(1);
    expect(readCertificate(intermediatesPem[0] ?? '').commonName).toBe('Fake LE Intermediate');
    expect(splitPemCertificates('no pem here')).toEqual([]);
    expect(() => splitFullchain('garbage')).toThrow(/No PEM certificate/);
  });

  it('parses a certificate once however often it is read (one issuance reads it several times), and hands out copies', () => {
    const leaf = createTestLeaf(ca, { names: ['cached.example'] });
    const fullchain = leaf.certPem + ca.certPem;
    const first = readCertificate(fullchain);
    const parses = vi.spyOn(x509.X509Certificate.prototype, 'getExtension');
    try {
      first.dnsNames.push('mutated.example');
      first.notAfter.setTime(0);
      const again = readCertificate(leaf.certPem);
      expect(again.dnsNames).toEqual(['cached.example']);
      expect(again.notAfter.getTime()).not.toBe(0);
      expect(ariCertId(fullchain)).toBe(again.certId);
      expect(parses).not.toHaveBeenCalled();
    } finally {
      parses.mockRestore();
    }
  });

  it('rejects garbage with a CertificateParseError', () => {
    expect(() => readCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow(/Unparseable/);
  });
});

describe('coversDomain', () => {
  const cert = { dnsNames: ['example.com', '*.example.com'], commonName: 'example.com' };
  it('matches exact names case-insensitively', () => {
    expect(coversDomain(cert, 'example.com')).toBe(true);
    expect(coversDomain(cert, 'EXAMPLE.com.')).toBe(true);
  });
  it('matches a wildcard one label deep only', () => {
    expect(coversDomain(cert, 'www.example.com')).toBe(true);
    expect(coversDomain(cert, 'a.b.example.com')).toBe(false);
    expect(coversDomain({ dnsNames: ['*.example.com'], commonName: undefined }, 'example.com')).toBe(false);
  });
  it('does not match other names', () => {
    expect(coversDomain(cert, 'example.org')).toBe(false);
    expect(coversDomain(cert, 'notexample.com')).toBe(false);
  });
  it('falls back to the CN only without any SAN', () => {
    expect(coversDomain({ dnsNames: [], commonName: 'legacy.example' }, 'legacy.example')).toBe(true);
    expect(coversDomain({ dnsNames: ['other.example'], commonName: 'legacy.example' }, 'legacy.example')).toBe(false);
  });
});

describe('a certificate with an EMPTY subject (Let\'s Encrypt tlsserver/shortlived, Pebble 2.7)', () => {
  // Made with @peculiar/x509's generator: subject '' encodes an empty RDNSequence, as those profiles issue.
  let leafPem: string;
  let akiHex: string;
  beforeAll(async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256' };
    const ca = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const leaf = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const aki = await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey, false, webcrypto);
    akiHex = aki.keyId ?? '';
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '87654321',
      subject: '',
      issuer: 'C=US, O=Let\'s Encrypt, CN=E7',
      notBefore: new Date('2026-06-01T00:00:00Z'),
      notAfter: new Date('2026-06-07T16:00:00Z'), // 160 hours
      publicKey: leaf.publicKey,
      signingKey: ca.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'Shop.Example' }, { type: 'dns', value: '*.shop.example' }], true), aki],
    }, webcrypto);
    leafPem = cert.toString('pem');
  });

  it('has no subject for Node either (the case that crashed issuance)', () => {
    expect(new NodeX509Certificate(leafPem).subject ?? '').toBe('');
  });

  it('is read: no common name, the SANs, validity, issuer and serial', () => {
    const info = readCertificate(leafPem);
    expect(info.commonName).toBeUndefined();
    expect(info.dnsNames).toEqual(['shop.example', '*.shop.example']);
    expect(info.notBefore).toEqual(new Date('2026-06-01T00:00:00Z'));
    expect(info.notAfter).toEqual(new Date('2026-06-07T16:00:00Z'));
    expect(info.issuerCommonName).toBe('E7');
    expect(info.issuer).toContain('CN=E7');
    expect(info.serial).toBe('87654321');
    expect(coversDomain(info, 'shop.example')).toBe(true);
    expect(coversDomain(info, 'www.shop.example')).toBe(true);
  });

  it('gives its ARI CertID from the AKI keyIdentifier and the serial octets (leading 00 kept)', () => {
    const expected = `${Buffer.from(akiHex, 'hex').toString('base64url')}.AIdlQyE`;
    expect(akiHex).toMatch(/^[0-9a-f]{40}$/);
    expect(ariCertId(leafPem)).toBe(expected);
    expect(readCertificate(leafPem).certId).toBe(expected);
    // The same through a fullchain, as the flow passes it.
    expect(ariCertId(`${leafPem}\n${RFC9773_EXAMPLE}`)).toBe(expected);
  });
});
