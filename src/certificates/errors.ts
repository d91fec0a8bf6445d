/**
 * Errors of the ACME layer. One policy: every failure is thrown as a subclass
 * of `AcmeError`, and every message is safe to log (CA problem details and
 * URLs, never key material).
 */

/** An RFC 7807 problem document as ACME servers send it (RFC 8555 §6.7). */
export interface AcmeProblem {
  /** e.g. `urn:ietf:params:acme:error:rateLimited`; `about:blank` when the CA gave none. */
  type: string;
  detail: string;
  status?: number;
  subproblems?: AcmeProblem[];
}

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

/** `rateLimited` for `urn:ietf:params:acme:error:rateLimited`, else the type unchanged. */
export function shortProblemType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

export class AcmeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AcmeError';
  }
}

/** The account key has no account at this CA. */
export class AcmeAccountMissingError extends AcmeError {
  constructor(readonly directoryUrl: string) {
    super(`No ACME account exists for this account key at ${directoryUrl}; create one with \`autotls account create --email <e>\``);
    this.name = 'AcmeAccountMissingError';
  }
}

/**
 * The CA answered 429 or `rateLimited`. The caller pauses the account (or the
 * domain) until `retryAfter`, or for its own default when the CA gave none.
 */
export class AcmeRateLimitedError extends AcmeError {
  constructor(
    readonly endpoint: string,
    readonly retryAfter: Date | undefined,
    readonly detail: string,
  ) {
    super(`ACME rate limit on ${endpoint}${detail ? `: ${detail}` : ''}${retryAfter ? ` (retry after ${retryAfter.toISOString()})` : ''}`);
    this.name = 'AcmeRateLimitedError';
  }
}

/** An authorization failed: the CA could not validate the DNS-01 challenge. */
export class AcmeValidationError extends AcmeError {
  constructor(
    readonly identifier: string,
    readonly problemType: string,
    readonly detail: string,
  ) {
    super(`ACME validation failed for ${identifier}: ${shortProblemType(problemType)}${detail ? `: ${detail}` : ''}`);
    this.name = 'AcmeValidationError';
  }
}

/** Any other problem the CA reported, or a protocol step that did not finish. */
export class AcmeOrderError extends AcmeError {
  constructor(
    readonly step: string,
    readonly problemType: string,
    readonly detail: string,
    readonly httpStatus?: number,
  ) {
    // about:blank means the CA gave no problem type; the detail alone says what happened.
    const type = problemType === 'about:blank' && detail ? '' : shortProblemType(problemType);
    super(`ACME ${step} failed: ${[type, detail].filter(Boolean).join(': ')}`);
    this.name = 'AcmeOrderError';
  }
}

/** The requested ACME profile cannot be used with this CA. */
export class AcmeProfileError extends AcmeError {
  constructor(
    readonly requested: string,
    readonly offered: string[],
  ) {
    super(
      `ACME profile "${requested}" is not offered by this CA; ` +
        (offered.length > 0 ? `offered profiles: ${offered.join(', ')}` : 'it offers no profiles') +
        ' (set ACME_PROFILE to one of them, or leave it unset)',
    );
    this.name = 'AcmeProfileError';
  }
}

/** The CA could not be reached (after bounded retries), or timed out. */
export class AcmeNetworkError extends AcmeError {
  constructor(
    readonly endpoint: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`ACME ${endpoint} request failed: ${code}`, options);
    this.name = 'AcmeNetworkError';
  }
}

/** An order a crashed run left behind can no longer give a certificate: order anew. */
export class AcmeOrderGoneError extends AcmeError {
  constructor(
    readonly orderUrl: string,
    reason: string,
  ) {
    super(`ACME order ${orderUrl} cannot be resumed: ${reason}`);
    this.name = 'AcmeOrderGoneError';
  }
}
