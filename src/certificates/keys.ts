import { generateKeyPair } from 'node:crypto';
import acme from 'acme-client';
import type { CertificateKeyType } from '../config/settings.js';

type KeyAlgorithm = { type: 'rsa'; modulusLength: number } | { type: 'ec'; namedCurve: 'P-256' | 'P-384' };

/** PKCS#8 PEM of a new key pair's private half (async: RSA 4096 takes a while). */
function generatePrivateKeyPem(algorithm: KeyAlgorithm): Promise<string> {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _publicKey: string, privateKey: string) => (error ? reject(error) : resolve(privateKey));
    if (algorithm.type === 'rsa') generateKeyPair('rsa', { modulusLength: algorithm.modulusLength, ...encoding }, done);
    else generateKeyPair('ec', { namedCurve: algorithm.namedCurve, ...encoding }, done);
  });
}

export interface KeyAndCsr {
  /** PKCS#8 PEM of the certificate's new private key. */
  privateKeyPem: string;
  /** PEM CSR naming `<domain>` (CN and SAN) and `*.<domain>` (SAN). */
  csrPem: string;
}

/** Generates a fresh private key of `keyType` (PKCS#8 PEM); never reused across orders. */
export async function generateCertificateKey(keyType: CertificateKeyType): Promise<string> {
  switch (keyType) {
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096': {
      return generatePrivateKeyPem({ type: 'rsa', modulusLength: Number(keyType.slice(3)) });
    }
    case 'ec256':
      return generatePrivateKeyPem({ type: 'ec', namedCurve: 'P-256' });
    case 'ec384':
      return generatePrivateKeyPem({ type: 'ec', namedCurve: 'P-384' });
    default: {
      const unknown: never = keyType;
      throw new Error(`Unsupported certificate key type: ${String(unknown)}`);
    }
  }
}

/** A CSR for `<domain>` and `*.<domain>`, signed with `privateKeyPem`. */
export async function createDomainCsr(domain: string, privateKeyPem: string): Promise<string> {
  const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain, `*.${domain}`] }, privateKeyPem);
  return csr.toString();
}

/** A new key of `keyType` and its CSR for `<domain>` + `*.<domain>`. */
export async function newKeyAndCsr(domain: string, keyType: CertificateKeyType): Promise<KeyAndCsr> {
  const privateKeyPem = await generateCertificateKey(keyType);
  const csrPem = await createDomainCsr(domain, privateKeyPem);
  return { privateKeyPem, csrPem };
}
