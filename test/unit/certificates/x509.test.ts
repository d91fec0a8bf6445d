import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ariCertId, certificatesParsed, coversDomain, readCertificate, splitFullchain, splitPemCertificates } from '../../../src/certificates/x509.js';
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
    const parsedBefore = certificatesParsed();
    const first = readCertificate(fullchain);
    expect(certificatesParsed()).toBe(parsedBefore + 1);
    first.dnsNames.push('mutated.example');
    first.notAfter.setTime(0);
    const again = readCertificate(leaf.certPem);
    expect(again.dnsNames).toEqual(['cached.example']);
    expect(again.notAfter.getTime()).not.toBe(0);
    expect(ariCertId(fullchain)).toBe(again.certId);
    expect(readCertificate(new NodeX509Certificate(leaf.certPem)).serial).toBe(again.serial);
    expect(certificatesParsed()).toBe(parsedBefore + 1);
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

/** What @peculiar/x509, an independent full parser, reads of the same certificate. */
function peculiarRead(pem: string) {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const hex = cert.serialNumber.length % 2 === 1 ? `0${cert.serialNumber}` : cert.serialNumber;
  const bytes = Buffer.from(hex, 'hex');
  const content = bytes.length > 0 && (bytes[0] as number) >= 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  return {
    serial: hex.replace(/^(00)+(?=.)/, '').toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    commonName: cert.subjectName.getField('CN')[0],
    dnsNames: (san?.names.items ?? []).filter((n) => n.type === 'dns').map((n) => n.value.toLowerCase()),
    issuerCommonName: cert.issuerName.getField('CN')[0],
    certId: aki ? `${Buffer.from(aki, 'hex').toString('base64url')}.${content.toString('base64url')}` : undefined,
  };
}

describe('readCertificate agrees with @peculiar/x509', () => {
  let ca: TestCa;
  const corpus: Array<[string, string]> = [];
  beforeAll(async () => {
    ca = createTestCa('Agreement CA');
    corpus.push(['RFC 9773 example (GeneralizedTime, year 1)', RFC9773_EXAMPLE]);
    corpus.push(['root without AKI', ca.certPem]);
    for (const serialHex of ['01', '7f', '80', '00ff', '87654321', '0123456789abcdef', 'ff'.repeat(19)]) {
      corpus.push([`openssl leaf, serial ${serialHex}`, createTestLeaf(ca, { names: ['Mixed.Example', '*.mixed.example'], serialHex }).certPem]);
    }
    // Not after 2049: GeneralizedTime (RFC 5280 §4.1.2.5).
    corpus.push(['openssl leaf valid until 2060', createTestLeaf(ca, { names: ['long.example'], notBefore: '20260101000000Z', notAfter: '20600101000000Z' }).certPem]);
    const alg = { name: 'ECDSA', namedCurve: 'P-256' };
    const signer = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const subjectKey = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const generated = async (subject: string, issuer: string, names: x509.JsonGeneralNames) =>
      (
        await x509.X509CertificateGenerator.create({
          serialNumber: '00c0ffee',
          subject,
          issuer,
          notBefore: new Date('2026-12-01T00:00:00Z'),
          notAfter: new Date('2027-03-01T00:00:00Z'),
          publicKey: subjectKey.publicKey,
          signingKey: signer.privateKey,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          extensions: [new x509.SubjectAlternativeNameExtension(names), await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey, false, webcrypto)],
        }, webcrypto)
      ).toString('pem');
    corpus.push(['empty subject, IP and e-mail SANs among the DNS ones', await generated('', 'C=US, O=Let\'s Encrypt, CN=E7', [
      { type: 'ip', value: '192.0.2.1' }, { type: 'dns', value: 'A.example' }, { type: 'email', value: 'x@example.com' }, { type: 'dns', value: '*.a.example' },
    ])]);
    corpus.push(['UTF-8 names', await generated('CN=zoë.example', 'O=Zoë Ltd, CN=Intermédiaire', [{ type: 'dns', value: 'xn--zo-9ia.example' }])]);
  });
  afterAll(() => ca.cleanup());

  it('on every certificate of the corpus: serial, validity, names, issuer and CertID', () => {
    expect(corpus.length).toBeGreaterThan(10);
    for (const [what, pem] of corpus) {
      const ours = readCertificate(pem);
      const theirs = peculiarRead(pem);
      if (pem === RFC9773_EXAMPLE) {
        // asn1js reads the GeneralizedTime year 0001 as 1901.
        expect(theirs.notBefore.getUTCFullYear()).toBe(1901);
        expect(ours.notBefore.toISOString()).toBe('0001-01-01T00:00:00.000Z');
        Object.assign(theirs, { notBefore: ours.notBefore, notAfter: ours.notAfter });
      }
      expect({ ...ours, issuer: undefined }, what).toEqual({ ...theirs, issuer: undefined });
      expect(ours.issuer, what).toBe(new x509.X509Certificate(pem).issuer);
    }
  });

  it('refuses a truncated certificate, trailing bytes and a DER that is no certificate, naming the cause', () => {
    const der = Buffer.from(splitPemCertificates(corpus[2]?.[1] ?? '')[0]?.replace(/-----[A-Z ]+-----|\s/g, '') ?? '', 'base64');
    expect(readCertificate(der).dnsNames).toEqual(['mixed.example', '*.mixed.example']);
    for (const broken of [der.subarray(0, der.length - 1), Buffer.concat([der, Buffer.from([0])]), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])]) {
      expect(() => readCertificate(broken)).toThrow(/^Unparseable X\.509 certificate \(/);
    }
  });
});
