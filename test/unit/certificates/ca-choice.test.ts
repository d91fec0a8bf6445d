// The fallback CA's rules (issue 16 item 2), pure: src/certificates/ca-choice.ts.
import { describe, expect, it } from 'vitest';
import { CaHealth, UNREACHABLE_FOR_MS, chooseCa, isNetworkFailure, isUrgent, switchesAfter, unavailability, type CaChoiceInput } from '../../../src/certificates/ca-choice.js';
import { AcmeNetworkError, AcmeOrderError, AcmeRateLimitedError, AcmeValidationError } from '../../../src/certificates/errors.js';

const NOW = new Date('2027-01-10T00:00:00Z');
const DAY = 86_400_000;
/** A 6-day certificate (Let's Encrypt's short-lived profile) with `left` ms to go. */
const cert = (left: number) => ({ notBefore: new Date(NOW.getTime() + left - 6 * DAY), notAfter: new Date(NOW.getTime() + left) });

const healthy: CaChoiceInput = {
  now: NOW,
  fallbackConfigured: true,
  primaryUnreachable: false,
  primaryPausedUntil: undefined,
  fallbackPausedUntil: undefined,
  fallbackUnreachable: false,
  failureCount: 0,
  lastAttemptCa: undefined,
  certificate: cert(3 * DAY),
};

describe('chooseCa', () => {
  it('is the primary whenever it can issue, and always without a fallback', () => {
    expect(chooseCa(healthy)).toEqual({ ca: 'primary' });
    expect(chooseCa({ ...healthy, fallbackConfigured: false, primaryUnreachable: true, failureCount: 3, certificate: cert(DAY / 2) })).toEqual({ ca: 'primary' });
    // Failures alone, with time left, do not leave the primary.
    expect(chooseCa({ ...healthy, failureCount: 5 })).toEqual({ ca: 'primary' });
    // Close to expiry without a failure: the primary's renewal is simply due.
    expect(chooseCa({ ...healthy, certificate: cert(DAY / 2) })).toEqual({ ca: 'primary' });
    // A pause that has ended is no pause.
    expect(chooseCa({ ...healthy, primaryPausedUntil: new Date(NOW.getTime() - 1) })).toEqual({ ca: 'primary' });
  });

  it('(a) is the fallback while the primary is unreachable', () => {
    expect(chooseCa({ ...healthy, primaryUnreachable: true })).toMatchObject({ ca: 'fallback', why: 'unreachable' });
  });

  it('(b) is the fallback while the primary account is paused for a rate limit', () => {
    const until = new Date(NOW.getTime() + 3_600_000);
    expect(chooseCa({ ...healthy, primaryPausedUntil: until })).toEqual({
      ca: 'fallback',
      why: 'paused',
      reason: 'the primary CA account is paused until 2027-01-10T01:00:00.000Z',
    });
  });

  it('(c) is the fallback within a sixth of the lifetime of expiry after failures, taking turns with the primary', () => {
    // 6 days: a sixth is 1 day.
    const urgent = { ...healthy, failureCount: 1, certificate: cert(DAY - 1) };
    expect(chooseCa(urgent)).toMatchObject({ ca: 'fallback', why: 'expiring' });
    expect(chooseCa({ ...urgent, lastAttemptCa: 'primary' })).toMatchObject({ ca: 'fallback' });
    // The fallback failed last: the primary's turn.
    expect(chooseCa({ ...urgent, lastAttemptCa: 'fallback' })).toEqual({ ca: 'primary' });
    // Just outside the sixth.
    expect(chooseCa({ ...urgent, certificate: cert(DAY + 60_000) })).toEqual({ ca: 'primary' });
    // Expired already counts; a domain without a certificate does not.
    expect(chooseCa({ ...urgent, certificate: cert(-DAY) })).toMatchObject({ ca: 'fallback' });
    expect(chooseCa({ ...urgent, certificate: undefined })).toEqual({ ca: 'primary' });
  });

  it('never picks a fallback that is paused or unreachable itself', () => {
    expect(chooseCa({ ...healthy, primaryUnreachable: true, fallbackUnreachable: true })).toEqual({ ca: 'primary' });
    expect(chooseCa({ ...healthy, primaryUnreachable: true, fallbackPausedUntil: new Date(NOW.getTime() + 1) })).toEqual({ ca: 'primary' });
  });
});

describe('isUrgent', () => {
  it('is the last sixth of the lifetime', () => {
    expect(isUrgent(cert(DAY), NOW)).toBe(true);
    expect(isUrgent(cert(DAY + 1), NOW)).toBe(false);
    expect(isUrgent(undefined, NOW)).toBe(false);
    expect(isUrgent({ notBefore: NOW, notAfter: NOW }, NOW)).toBe(false);
  });
});

describe('unavailability', () => {
  it('reads the transport errors as unreachable and an account-wide rate limit as paused', () => {
    expect(unavailability(new AcmeNetworkError('newOrder', 'ECONNREFUSED'))).toBe('unreachable');
    expect(unavailability(new AcmeOrderError('newOrder', 'urn:ietf:params:acme:error:serverInternal', 'boom', 500))).toBe('unreachable');
    expect(unavailability(new AcmeOrderError('directory', 'about:blank', 'could not read the ACME directory'))).toBe('unreachable');
    const account = 'too many new orders (300) from this account in the last 3h0m0s: see https://letsencrypt.org/docs/rate-limits/#new-orders-per-account';
    expect(unavailability(new AcmeRateLimitedError('newOrder', undefined, account))).toBe('paused');
    // Wrapped by the flow's step.
    expect(unavailability(new Error('ordering the certificate: x', { cause: new AcmeNetworkError('authz', 'ETIMEDOUT') }))).toBe('unreachable');
  });

  it('leaves the domain’s own failures alone', () => {
    const names = 'too many certificates (5) already issued for this exact set of identifiers: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers';
    expect(unavailability(new AcmeRateLimitedError('newOrder', undefined, names))).toBeUndefined();
    expect(unavailability(new AcmeValidationError('a.test', 'urn:ietf:params:acme:error:dns', 'NXDOMAIN'))).toBeUndefined();
    expect(unavailability(new AcmeOrderError('newOrder', 'urn:ietf:params:acme:error:rejectedIdentifier', 'no', 400))).toBeUndefined();
    expect(unavailability(new Error('secrets store down'))).toBeUndefined();
  });
});

describe('isNetworkFailure', () => {
  it('is a failure without an answer, wrapped or not', () => {
    expect(isNetworkFailure(new Error('step', { cause: new AcmeNetworkError('finalize', 'ECONNRESET') }))).toBe(true);
    expect(isNetworkFailure(new AcmeOrderError('finalize', 'urn:ietf:params:acme:error:serverInternal', 'boom', 500))).toBe(false);
  });
});

describe('switchesAfter', () => {
  it('moves an attempt to the fallback only when no order exists at the primary', () => {
    const down = new AcmeNetworkError('newOrder', 'ECONNREFUSED');
    expect(switchesAfter(down, false, true)).toBe(true);
    expect(switchesAfter(down, true, true)).toBe(false);
    expect(switchesAfter(down, false, false)).toBe(false);
    expect(switchesAfter(new AcmeValidationError('a.test', 'dns', 'x'), false, true)).toBe(false);
  });
});

describe('CaHealth', () => {
  it('skips an unreachable CA for the rest of the run (at most a while), and the next run asks it again', () => {
    const health = new CaHealth();
    health.markUnreachable('primary', NOW, 'run-1');
    expect(health.unreachable('primary', NOW, 'run-1')).toBe(true);
    expect(health.unreachable('fallback', NOW, 'run-1')).toBe(false);
    expect(health.unreachable('primary', NOW, 'run-2')).toBe(false);
    expect(health.unreachable('primary', new Date(NOW.getTime() + UNREACHABLE_FOR_MS), 'run-1')).toBe(false);
    health.markUnreachable('primary', NOW, 'run-1');
    health.markReachable('primary');
    expect(health.unreachable('primary', NOW, 'run-1')).toBe(false);
  });
});
