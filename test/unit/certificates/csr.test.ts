import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from '@peculiar/x509';
import acme from 'acme-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCsr } from '../../../src/certificates/csr.js';
import { generateCertificateKey } from '../../../src/certificates/keys.js';
import type { CertificateKeyType } from '../../../src/config/settings.js';

const NAMES = { commonName: 'shop.example', altNames: ['shop.example', '*.shop.example'] };

// The DER AlgorithmIdentifier each key type must sign with (RFC 4055 §5: NULL parameters for RSA;
// RFC 5758 §3.2: none for ECDSA).
const SHA256_WITH_RSA = '300d06092a864886f70d01010b0500';
const ECDSA_WITH_SHA256 = '300a06082a8648ce3d040302';
const ECDSA_WITH_SHA384 = '300a06082a8648ce3d040303';
const cases: Array<[CertificateKeyType, string]> = [
  ['rsa2048', SHA256_WITH_RSA],
  ['rsa3072', SHA256_WITH_RSA],
  ['rsa4096', SHA256_WITH_RSA],
  ['ec256', ECDSA_WITH_SHA256],
  ['ec384', ECDSA_WITH_SHA384],
];

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

/**
 * openssl's verdict on the request's self-signature. OpenSSL 3.0 exits 0 even on
 * "verify failure", so the verdict is read from its output (stderr), not the exit status.
 */
function opensslVerify(csrPem: string): string {
  const run = spawnSync('openssl', ['req', '-verify', '-noout'], { input: csrPem, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl req failed: ${run.stderr}`);
  return `${run.stdout}${run.stderr}`;
}

/** The same request with one bit of its signature flipped. */
function tampered(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, ''), 'base64');
  der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

interface Tlv { tag: number; start: number; contentStart: number; end: number }

/** The DER TLV at `offset` (definite lengths only, as DER has). */
function readTlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset] ?? -1;
  const first = der[offset + 1] ?? 0;
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i += 1) length = length * 256 + (der[offset + 2 + i] ?? 0);
    contentStart += first & 0x7f;
  }
  return { tag, start: offset, contentStart, end: contentStart + length };
}

/** CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }. */
function topLevel(csrPem: string): { info: Tlv; algorithm: Tlv; signature: Tlv; der: Buffer } {
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----/g, ''), 'base64');
  const outer = readTlv(der, 0);
  const info = readTlv(der, outer.contentStart);
  const algorithm = readTlv(der, info.end);
  const signature = readTlv(der, algorithm.end);
  expect(outer.end).toBe(der.length);
  expect(signature.end).toBe(outer.end);
  return { info, algorithm, signature, der };
}

function sanOf(csr: Pkcs10CertificateRequest): SubjectAlternativeNameExtension {
  const san = csr.extensions.find((e): e is SubjectAlternativeNameExtension => e instanceof SubjectAlternativeNameExtension);
  if (!san) throw new Error('CSR without subjectAltName');
  return san;
}

const dnsNamesOf = (csr: Pkcs10CertificateRequest): string[] => sanOf(csr).names.items.filter((n) => n.type === 'dns').map((n) => n.value);
const hex = (data: ArrayBuffer | Buffer): string => Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data).toString('hex');

describe('createCsr', () => {
  const keys = new Map<CertificateKeyType, string>();
  beforeAll(async () => {
    const made = await Promise.all(cases.map(async ([keyType]) => [keyType, await generateCertificateKey(keyType)] as const));
    for (const [keyType, pem] of made) keys.set(keyType, pem);
  }, 60_000);
  const keyPem = (keyType: CertificateKeyType): string => keys.get(keyType) ?? '';

  describe.each(cases)('with a %s key', (keyType, algorithmIdentifierHex) => {
    let csrPem: string;
    let csr: Pkcs10CertificateRequest;
    beforeAll(() => {
      csrPem = createCsr(keyPem(keyType), NAMES);
      csr = new Pkcs10CertificateRequest(csrPem);
    });

    it('is a PEM certificate request whose self-signature verifies', async () => {
      expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE REQUEST-----\n$/);
      expect(await csr.verify()).toBe(true);
    });

    it('names the CN and the SAN dNSNames asked for, the SAN non-critical', () => {
      expect(csr.subjectName.getField('CN')).toEqual(['shop.example']);
      expect(dnsNamesOf(csr)).toEqual(['shop.example', '*.shop.example']);
      expect(sanOf(csr).critical).toBe(false);
    });

    it("carries the key's SubjectPublicKeyInfo as Node exports it", () => {
      const spki = createPublicKey(keyPem(keyType)).export({ type: 'spki', format: 'der' });
      expect(hex(csr.publicKey.rawData)).toBe(hex(spki));
    });

    it('is signed with the algorithm of its key type, an ECDSA signature in DER', () => {
      const { algorithm, signature, der } = topLevel(csrPem);
      expect(der.subarray(algorithm.start, algorithm.end).toString('hex')).toBe(algorithmIdentifierHex);
      expect(signature.tag).toBe(0x03);
      expect(der[signature.contentStart]).toBe(0x00); // no unused bits
      // Ecdsa-Sig-Value ::= SEQUENCE { r, s } (not WebCrypto's r||s).
      if (keyType.startsWith('ec')) expect(der[signature.contentStart + 1]).toBe(0x30);
    });

    it.skipIf(!haveOpenssl)(`passes openssl req -verify${haveOpenssl ? '' : ' (skipped: openssl is not installed)'}`, () => {
      expect(opensslVerify(csrPem)).toMatch(/self-signature verify OK/);
      expect(opensslVerify(tampered(csrPem))).toMatch(/verify failure/);
    });

    it('encodes the names exactly as acme-client did (subject and subjectAltName bytes)', async () => {
      const [, theirs] = await acme.crypto.createCsr({ commonName: NAMES.commonName, altNames: [...NAMES.altNames] }, keyPem(keyType));
      const acmeCsr = new Pkcs10CertificateRequest(theirs.toString());
      expect(acmeCsr.subjectName.getField('CN')).toEqual(csr.subjectName.getField('CN'));
      expect(dnsNamesOf(acmeCsr)).toEqual(dnsNamesOf(csr));
      expect(hex(csr.subjectName.toArrayBuffer())).toBe(hex(acmeCsr.subjectName.toArrayBuffer()));
      expect(hex(sanOf(csr).value)).toBe(hex(sanOf(acmeCsr).value));
    });
  });

  it('takes a KeyObject as well as a PKCS#8 PEM', async () => {
    const csr = new Pkcs10CertificateRequest(createCsr(createPrivateKey(keyPem('ec256')), NAMES));
    expect(await csr.verify()).toBe(true);
  });

  it('refuses an ed25519 key, naming the type', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => createCsr(privateKey, NAMES)).toThrow(/Unsupported CSR key type: ed25519/);
  });

  it('refuses an EC key on another curve, naming it', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    expect(() => createCsr(privateKey, NAMES)).toThrow(/EC secp521r1/);
  });

  it('refuses an RSA key of a size the service does not make', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => createCsr(privateKey, NAMES)).toThrow(/RSA 1024 bits/);
  });

  it('refuses a public key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => createCsr(publicKey, NAMES)).toThrow(/private key/);
  });

  it('refuses a name that is not ASCII (IDNs come as A-labels) and an empty SAN', () => {
    const key = keyPem('ec256');
    expect(() => createCsr(key, { commonName: 'bücher.example', altNames: ['bücher.example'] })).toThrow(/A-label/);
    expect(() => createCsr(key, { commonName: 'shop.example', altNames: [] })).toThrow(/at least one subjectAltName/);
  });
});
