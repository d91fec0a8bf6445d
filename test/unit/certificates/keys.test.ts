import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import acme from 'acme-client';
import { describe, expect, it } from 'vitest';
import { createDomainCsr, generateCertificateKey, newKeyAndCsr } from '../../../src/certificates/keys.js';
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

  it.each(['rsa2048', 'ec256'] as const)('a %s CSR is signed by the private key returned with it', async (keyType) => {
    const { privateKeyPem, csrPem } = await newKeyAndCsr('shop.example', keyType);
    const csr = new Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
    expect(Buffer.from(new Uint8Array(csr.publicKey.rawData)).equals(spki)).toBe(true);
  });

  it('createDomainCsr signs with a PKCS#8 PEM and rejects a key type it does not support', async () => {
    const csrPem = await createDomainCsr('shop.example', await generateCertificateKey('ec384'));
    expect(acme.crypto.readCsrDomains(csrPem)).toEqual({ commonName: 'shop.example', altNames: ['shop.example', '*.shop.example'] });
    const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(createDomainCsr('shop.example', ed25519)).rejects.toThrow(/ed25519/);
  });
});
