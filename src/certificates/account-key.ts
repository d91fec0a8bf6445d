/**
 * The ACME account key, as operators store it: a PEM, a JWK JSON object, or an
 * acme.sh/certbot-style JSON document whose `key` member is the JWK (or a PEM).
 * acme-client signs with a PEM, so everything is normalised to PKCS#8 PEM.
 */
import { createPrivateKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export class AccountKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountKeyError';
  }
}

const SHAPE_HELP = 'expected a PEM private key, a private JWK JSON object, or a JSON object whose "key" member is one';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fromPem(pem: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // The parser's message can quote key material; keep only our own words.
    throw new AccountKeyError('The ACME account key PEM is not a readable private key');
  }
}

function fromJwk(jwk: Record<string, unknown>): KeyObject {
  if (typeof jwk.kty !== 'string') throw new AccountKeyError(`The ACME account key JSON has no "kty"; ${SHAPE_HELP}`);
  if (typeof jwk.d !== 'string') throw new AccountKeyError('The ACME account key JWK is a public key (no "d"); the private key is needed');
  try {
    return createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    throw new AccountKeyError(`The ACME account key JWK (kty ${jwk.kty}) is incomplete or invalid`);
  }
}

function toKeyObject(value: string): KeyObject {
  const text = value.trim();
  if (text.length === 0) throw new AccountKeyError(`The ACME account key is empty; ${SHAPE_HELP}`);
  if (text.startsWith('-----BEGIN')) return fromPem(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AccountKeyError(`The ACME account key is neither PEM nor JSON; ${SHAPE_HELP}`);
  }
  if (!isRecord(parsed)) throw new AccountKeyError(`The ACME account key JSON is not an object; ${SHAPE_HELP}`);
  if ('kty' in parsed) return fromJwk(parsed);
  const inner = parsed.key;
  if (isRecord(inner)) return fromJwk(inner);
  if (typeof inner === 'string' && inner.trim().startsWith('-----BEGIN')) return fromPem(inner.trim());
  throw new AccountKeyError(`The ACME account key JSON has neither "kty" nor a "key" member; ${SHAPE_HELP}`);
}

/**
 * Normalises a stored account key to PKCS#8 PEM. Throws `AccountKeyError`,
 * whose message never contains the value.
 */
export function accountKeyFromSecret(value: string): string {
  const key = toKeyObject(value);
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') {
    throw new AccountKeyError(`The ACME account key type ${key.asymmetricKeyType ?? 'unknown'} is not supported; use RSA or EC (P-256/P-384)`);
  }
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The private JWK of a PEM key (what `autotls account create` stores). */
export function accountKeyJwk(pem: string): JsonWebKey {
  return fromPem(pem).export({ format: 'jwk' });
}

/** A new account key: ECDSA P-256 (ES256), which every ACME CA accepts. */
export async function generateAccountKey(): Promise<string> {
  const pair = await promisify(generateKeyPair)('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return pair.privateKey;
}
