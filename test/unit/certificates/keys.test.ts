import { createPrivateKey } from 'node:crypto';
import acme from 'acme-client';
import { describe, expect, it } from 'vitest';
import { generateCertificateKey, newKeyAndCsr } from '../../../src/certificates/keys.js';
import type { CertificateKeyType } from '../../../src/config/settings.js';

const expectations: Array<[CertificateKeyType, string, Record<string, unknown>]> = [
  ['rsa2048', 'rsa', { modulusLength: 2048 }],
  ['rsa3072', 'rsa', { modulusLength: 3072 }],
  ['ec256', 'ec', { namedCurve: 'prime256v1' }],
  ['ec384', 'ec', { namedCurve: 'secp384r1' }],
];

describe('certificate keys', () => {
  it.each(expectations)('%s makes a %s key', async (keyType, type, details) => {
    const pem = await generateCertificateKey(keyType);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const key = createPrivateKey(pem);
    expect(key.asymmetricKeyType).toBe(type);
    expect(key.asymmetricKeyDetails).toMatchObject(details);
  });

  it('rsa4096 makes a 4096-bit key', async () => {
    const key = createPrivateKey(await generateCertificateKey('rsa4096'));
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(4096);
  }, 60_000);

  it('makes a new key every time', async () => {
    const [a, b] = await Promise.all([generateCertificateKey('ec256'), generateCertificateKey('ec256')]);
    expect(a).not.toBe(b);
  });

  it.each(['rsa2048', 'ec256', 'ec384'] as const)('a %s CSR names the apex (CN, SAN) and the wildcard (SAN)', async (keyType) => {
    const { csrPem } = await newKeyAndCsr('shop.example', keyType);
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    const names = acme.crypto.readCsrDomains(csrPem);
    expect(names.commonName).toBe('shop.example');
    expect(names.altNames).toEqual(['shop.example', '*.shop.example']);
  });
});
