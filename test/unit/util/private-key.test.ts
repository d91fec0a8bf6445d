import { describe, expect, it } from 'vitest';
import { hasPrivateKey, redactPrivateKeys, REDACTED_PRIVATE_KEY } from '../../../src/util/private-key.js';

const BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7';

describe('private keys in free text', () => {
  it('recognises every PEM private-key header, and not a certificate', () => {
    for (const kind of ['', 'RSA ', 'EC ', 'ENCRYPTED ']) expect(hasPrivateKey(`x -----BEGIN ${kind}PRIVATE KEY-----\n${BODY}`)).toBe(true);
    expect(hasPrivateKey('-----BEGIN CERTIFICATE-----\nMIIB')).toBe(false);
  });

  it('takes out whole blocks and blocks cut short, raw or JSON-escaped, and keeps the text around them', () => {
    const whole = `before -----BEGIN EC PRIVATE KEY-----\n${BODY}\n-----END EC PRIVATE KEY----- after`;
    expect(redactPrivateKeys(whole)).toBe(`before ${REDACTED_PRIVATE_KEY} after`);
    const escaped = `{"key":"-----BEGIN PRIVATE KEY-----\\n${BODY.replace('\n', '\\n')}","x":1}`;
    expect(redactPrivateKeys(escaped)).toBe(`{"key":"${REDACTED_PRIVATE_KEY}","x":1}`);
  });

  it('no header survives: a block cut short by something that is not base64 loses its key part', () => {
    const cut = `error: -----BEGIN RSA PRIVATE KEY-----\n${BODY}… (truncated) tail`;
    expect(redactPrivateKeys(cut)).toBe(`error: ${REDACTED_PRIVATE_KEY}… (truncated) tail`);
    expect(hasPrivateKey(redactPrivateKeys(`a -----BEGIN PRIVATE KEY-----%%%`))).toBe(false);
  });
});
