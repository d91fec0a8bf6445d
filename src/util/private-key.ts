/**
 * PEM private keys in free text: the one description of what a private key
 * looks like (PKCS#8, RSA, EC, encrypted), for the configuration (is this an
 * account key?), the logger and the notifiers (take it out).
 */
const BEGIN = '-----BEGIN ([A-Z ]*)PRIVATE KEY-----';

const HEADER = new RegExp(BEGIN);
const WHOLE = new RegExp(`${BEGIN}[\\s\\S]*?-----END \\1PRIVATE KEY-----`, 'g');
/**
 * A private-key block cut short (an SDK error that echoes a request body up to a
 * length limit): the header and the base64 after it, with raw or JSON-escaped
 * line breaks, up to the first character that cannot be part of the key.
 */
const CUT_SHORT = new RegExp(`${BEGIN}(?:[A-Za-z0-9+/=\\s]|\\\\+[nrt])*`, 'g');

export const REDACTED_PRIVATE_KEY = '[REDACTED PRIVATE KEY]';

/** Whether the text holds a PEM private-key header. */
export function hasPrivateKey(text: string): boolean {
  return HEADER.test(text);
}

/** Replaces every private-key block, whole or cut short (no header survives). */
export function redactPrivateKeys(text: string): string {
  return text.replace(WHOLE, REDACTED_PRIVATE_KEY).replace(CUT_SHORT, REDACTED_PRIVATE_KEY);
}
