import { generateKeyPair, type KeyObject } from 'node:crypto';
import type { CertificateKeyType } from '../config/settings.js';
import { createCsr, type CsrNames } from './csr.js';

type KeyAlgorithm = { type: 'rsa'; modulusLength: number } | { type: 'ec'; namedCurve: 'P-256' | 'P-384' };

/** A new key pair's private half (async: RSA 4096 takes a while). */
function generatePrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _publicKey: KeyObject, privateKey: KeyObject) => (error ? reject(error) : resolve(privateKey));
    if (algorithm.type === 'rsa') generateKeyPair('rsa', { modulusLength: algorithm.modulusLength }, done);
    else generateKeyPair('ec', { namedCurve: algorithm.namedCurve }, done);
  });
}

const toPkcs8Pem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

export interface KeyAndCsr {
  /** PKCS#8 PEM of the certificate's new private key. */
  privateKeyPem: string;
  /** PEM CSR naming `<domain>` (CN and SAN) and `*.<domain>` (SAN). */
  csrPem: string;
}

/** A fresh private key of `keyType`; never reused across orders. */
function generateCertificateKeyObject(keyType: CertificateKeyType): Promise<KeyObject> {
  switch (keyType) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096': {
      return generatePrivateKey({ type: 'rsa', modulusLength: Number(keyType.slice(3)) });
    }
    case 'ec256':
      return generatePrivateKey({ type: 'ec', namedCurve: 'P-256' });
    case 'ec384':
      return generatePrivateKey({ type: 'ec', namedCurve: 'P-384' });
    default: {
      const unknown: never = keyType;
      throw new Error(`Unsupported certificate key type: ${String(unknown)}`);
    }
  }
}

/** Generates a fresh private key of `keyType` (PKCS#8 PEM); never reused across orders. */
export async function generateCertificateKey(keyType: CertificateKeyType): Promise<string> {
  return toPkcs8Pem(await generateCertificateKeyObject(keyType));
}

const domainNames = (domain: string): CsrNames => ({ commonName: domain, altNames: [domain, `*.${domain}`] });

/** A CSR for `<domain>` (CN and SAN) and `*.<domain>` (SAN), signed with `privateKeyPem`; a refused key rejects. */
export async function createDomainCsr(domain: string, privateKeyPem: string): Promise<string> {
  return createCsr(privateKeyPem, domainNames(domain));
}

/** A new key of `keyType` and its CSR for `<domain>` + `*.<domain>`. */
export async function newKeyAndCsr(domain: string, keyType: CertificateKeyType): Promise<KeyAndCsr> {
  const key = await generateCertificateKeyObject(keyType);
  // Signed with the KeyObject itself: reading the PEM back would cost OpenSSL 3.0's decoder ~0.7 ms.
  return { privateKeyPem: toPkcs8Pem(key), csrPem: createCsr(key, domainNames(domain)) };
}
