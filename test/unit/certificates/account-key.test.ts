import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccountKeyError, accountKeyFromSecret } from '../../../src/certificates/account-key.js';
import { AcmeIssuer } from '../../../src/certificates/acme.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rsaJwk = rsa.export({ format: 'jwk' });
const ecJwk = ec.export({ format: 'jwk' });

function sameKey(pem: string, expected: ReturnType<typeof createPrivateKey>): boolean {
  return createPrivateKey(pem).export({ format: 'jwk' }).d === expected.export({ format: 'jwk' }).d;
}

describe('accountKeyFromSecret', () => {
  it('accepts a PKCS#8 PEM and a traditional (PKCS#1 / SEC1) PEM', () => {
    expect(sameKey(accountKeyFromSecret(rsa.export({ type: 'pkcs8', format: 'pem' }).toString()), rsa)).toBe(true);
    const pkcs1 = rsa.export({ type: 'pkcs1', format: 'pem' }).toString();
    const out = accountKeyFromSecret(`\n${pkcs1}\n`);
    expect(out).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(sameKey(out, rsa)).toBe(true);
    expect(sameKey(accountKeyFromSecret(ec.export({ type: 'sec1', format: 'pem' }).toString()), ec)).toBe(true);
  });

  it('accepts a JWK JSON object (RSA and EC)', () => {
    expect(sameKey(accountKeyFromSecret(JSON.stringify(rsaJwk)), rsa)).toBe(true);
    expect(sameKey(accountKeyFromSecret(JSON.stringify(ecJwk)), ec)).toBe(true);
  });

  it('accepts an account.json document whose "key" is the JWK', () => {
    const doc = { id: 12345, key: rsaJwk, contact: ['mailto:ops@example.com'], status: 'valid' };
    expect(sameKey(accountKeyFromSecret(JSON.stringify(doc)), rsa)).toBe(true);
  });

  it('is exposed on AcmeIssuer too', () => {
    expect(sameKey(AcmeIssuer.accountKeyFromSecret(JSON.stringify(ecJwk)), ec)).toBe(true);
  });

  it.each([
    ['empty', '   ', /empty/],
    ['{} (the Python example value)', '{}', /neither "kty" nor a "key"/],
    ['not PEM or JSON', 'hunter2-secret-value', /neither PEM nor JSON/],
    ['a JSON array', '[1,2]', /not an object/],
    ['a public JWK', JSON.stringify({ kty: 'EC', crv: 'P-256', x: ecJwk.x, y: ecJwk.y }), /public key/],
    ['a broken JWK', JSON.stringify({ kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'c2VjcmV0LWQtdmFsdWU' }), /incomplete or invalid/],
    ['a broken PEM', '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWQtdmFsdWU=\n-----END PRIVATE KEY-----', /not a readable private key/],
  ])('rejects %s clearly, without echoing the value', (_label, value, message) => {
    let caught: unknown;
    try {
      accountKeyFromSecret(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AccountKeyError);
    const text = (caught as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain('c2VjcmV0LWQtdmFsdWU');
    expect(text).not.toContain('hunter2');
    if (typeof ecJwk.x === 'string') expect(text).not.toContain(ecJwk.x);
  });

  it('rejects key types ACME clients cannot sign with', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => accountKeyFromSecret(ed)).toThrow(/ed25519 is not supported/);
  });
});
