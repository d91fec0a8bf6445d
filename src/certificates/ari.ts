/**
 * ACME Renewal Information (RFC 9773): the CA's suggested renewal window for a
 * certificate, and whether an order may name the certificate it replaces.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { safeJson } from '../util/json.js';
import { parseRetryAfter } from '../util/retry.js';
import type { AcmeHttpInternals } from './acme-internals.js';
import { headerValue, problemError, renewalInfoSchema, type AcmeDirectory } from './acme-schemas.js';
import { AcmeError, AcmeOrderError } from './errors.js';
import type { RenewalInfo } from './issuer.js';

/**
 * The `replaces` value to send: RFC 9773 §5 says a client MUST NOT include it
 * unless the directory offers `renewalInfo`.
 */
export function replacesToSend(directory: AcmeDirectory, replaces: string | undefined, logger: Logger | undefined): string | undefined {
  if (!replaces) return undefined;
  if (directory.renewalInfo) return replaces;
  logger?.debug({ replaces }, 'the CA offers no renewalInfo; ordering without `replaces` (RFC 9773 §5)');
  return undefined;
}

/**
 * The suggested window for the certificate with ARI CertID `certId` from the
 * directory's `renewalInfo`, or undefined when there is none. An unauthenticated GET (through the transport's
 * timeout and retries).
 */
export async function fetchRenewalInfo(
  http: AcmeHttpInternals,
  directory: AcmeDirectory,
  certId: string,
  ctx: { directoryUrl: string; clock: Clock },
): Promise<RenewalInfo | undefined> {
  const base = directory.renewalInfo;
  if (!base) return undefined;
  // base64url "<AKI>.<serial>" (RFC 9773 §4.1): nothing else may reach the URL path.
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(certId)) throw new AcmeError(`ACME renewalInfo: "${certId}" is not an ARI CertID`);
  const response = await http.request(`${base.replace(/\/+$/, '')}/${certId}`, 'get');
  if (response.status !== 200) throw problemError('renewalInfo', response, { directoryUrl: ctx.directoryUrl, now: ctx.clock.now() });
  const parsed = renewalInfoSchema.safeParse(typeof response.data === 'string' ? safeJson(response.data) : response.data);
  if (!parsed.success) throw new AcmeOrderError('renewalInfo', 'about:blank', 'the CA answered with an unreadable RenewalInfo object');
  const start = new Date(parsed.data.suggestedWindow.start);
  const end = new Date(parsed.data.suggestedWindow.end);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() <= start.getTime()) {
    // RFC 9773 §4.2: treat as if no response was received.
    throw new AcmeOrderError('renewalInfo', 'about:blank', 'the CA answered with an invalid suggested window');
  }
  const retryAfterSeconds = parseRetryAfter(headerValue(response.headers, 'retry-after'), ctx.clock.now());
  return {
    suggestedWindow: { start, end },
    ...(parsed.data.explanationURL ? { explanationUrl: parsed.data.explanationURL } : {}),
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}
