// Errors from SDKs that echo request bodies (a PEM private key, a token) must
// come out of the service's logger sanitised, whatever shape they take: a
// message, a nested property, a stack, a key cut short, JSON-escaped twice.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from '../../src/logger.js';

const PEM = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
/** The base64 body of the key: a line of it must never appear either. */
const KEY_LINE = PEM.split('\n')[1] as string;
const TOKEN = 'marker-token-5f1d0c9a7b';

function capture(secrets: string[] = []): { log: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', secrets, destination: { write: (line: string) => void lines.push(line) } });
  return { log, text: () => lines.join('') };
}

function expectClean(text: string): void {
  expect(text).not.toContain('PRIVATE KEY-----');
  expect(text).not.toContain(KEY_LINE);
  expect(text).not.toContain(TOKEN);
}

describe('the service logger sanitises errors that echo secrets', () => {
  it('a thrown SDK error whose message holds a PEM comes out as [REDACTED PRIVATE KEY]', () => {
    const { log, text } = capture();
    const error = new Error(`ValidationException: request body {"key":${JSON.stringify(PEM)}} is invalid`);
    log.error({ err: error }, 'upload failed');
    expectClean(text());
    expect(text()).toContain('[REDACTED PRIVATE KEY]');
    // The stack repeats the message; it is sanitised too.
    expect(JSON.parse(text()).err.stack).toContain('[REDACTED PRIVATE KEY]');
  });

  it('a PEM in a nested property of the error (an SDK `$response.body`) is removed', () => {
    const { log, text } = capture();
    const error = Object.assign(new Error('Bad Request'), { $response: { body: { data: { attributes: { key: RSA_PEM } } } } });
    log.warn({ err: error }, 'Fastly refused the key');
    expectClean(text());
    expect(text()).not.toContain(RSA_PEM.split('\n')[1] as string);
  });

  it('a PEM cut short by a length limit (no END line) is removed', () => {
    const { log, text } = capture();
    log.error({ err: new Error(`echo: ${PEM.slice(0, 120)}`) }, 'failed');
    expectClean(text());
    expect(text()).toContain('echo: [REDACTED PRIVATE KEY]');
  });

  it('a PEM escaped twice (JSON inside a JSON string) is removed', () => {
    const { log, text } = capture();
    log.info({ detail: JSON.stringify({ body: JSON.stringify({ key: PEM }) }) }, 'double');
    expectClean(text());
    const cut = JSON.stringify(JSON.stringify(PEM.slice(0, 100)));
    expect(scrubSecrets(cut)).not.toContain(KEY_LINE.slice(0, 20));
  });

  it('a PEM in the message string itself and in free-form fields is removed', () => {
    const { log, text } = capture();
    log.warn(`raw ${PEM}`);
    log.warn({ body: PEM, list: [PEM], privateKey: PEM }, 'fields');
    expectClean(text());
  });

  it('configured secrets are removed wherever they appear; redact paths blank known fields', () => {
    const { log, text } = capture([TOKEN]);
    log.error({ err: new Error(`401 for token ${TOKEN}`), url: `https://api.example/?token=${TOKEN}` }, `call with ${TOKEN} failed`);
    log.info({ req: { headers: { authorization: 'Bearer abc-not-configured', 'flask-key': 'k-not-configured' } }, apiKey: 'also-not-configured' }, 'request');
    expectClean(text());
    expect(text()).not.toContain('abc-not-configured');
    expect(text()).not.toContain('k-not-configured');
    expect(text()).not.toContain('also-not-configured');
  });

  it('leaves text without secrets unchanged', () => {
    const text = 'certificate -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE----- is public';
    expect(scrubSecrets(text)).toBe(text);
  });
});
