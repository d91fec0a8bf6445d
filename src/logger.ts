import { pino, type Logger, type DestinationStream } from 'pino';
import { redactPrivateKeys } from './util/private-key.js';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear in a log object. Values that are
 * secrets by nature (keys, tokens, PEMs) never reach a log line; see also
 * `scrubSecrets`, which removes PEM blocks from free text such as SDK errors.
 */
export const REDACT_PATHS = [
  'apiKey',
  'token',
  'secret',
  'password',
  'privateKey',
  'private_key',
  'accountKey',
  'tsigSecret',
  'secretAccessKey',
  'req.headers.authorization',
  'req.headers["flask-key"]',
  'req.headers["fastly-key"]',
  'req.headers.cookie',
  '*.apiKey',
  '*.token',
  '*.secret',
  '*.password',
  '*.privateKey',
  '*.private_key',
  '*.accountKey',
  '*.tsigSecret',
  '*.secretAccessKey',
];

/** Removes private-key PEM blocks (whole or cut short) and the given literal secrets from a string. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let out = redactPrivateKeys(text);
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Literal secret values (API key, tokens) to scrub from every message. */
  secrets?: readonly string[];
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'autotls' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: {
        streamWrite: (line: string) => scrubSecrets(line, secrets),
      },
    },
    options.destination,
  );
}
