/**
 * Which CA a domain orders from, when a second one is configured
 * (ACME_FALLBACK_DIRECTORY_URL). Pure rules; domain-flow.ts wires them.
 *
 * The model is certmagic's issuer fallback (caddyserver/certmagic config.go:
 * `obtainCert` and `renewCert` try `cfg.Issuers` in order until one issues, so a
 * renewal starts from the first issuer again; each certificate is stored under
 * the key of the issuer that issued it, and `RevokeCert` needs that issuer).
 * Certmagic moves on after any error; issue 16 asks for less: the fallback is
 * used for a domain only when the primary cannot issue in time, never because
 * one order failed for reasons of its own:
 *
 *   (a) the primary is unreachable: its transport gave up (network errors and
 *       timeouts after the bounded retries, 5xx, an unreadable directory);
 *   (b) the primary account is paused for an account-wide rate limit
 *       (rate-limits.ts scope `account`, recorded by the order budget);
 *   (c) the domain's certificate is within a sixth of its lifetime of expiry and
 *       the domain has failed before (its failure count); then the two CAs take
 *       turns, so a fallback that fails too does not keep the primary from trying.
 *
 * Otherwise always the primary; the next renewal of a certificate the fallback
 * issued goes back to the primary. An order that exists at one CA is never
 * dropped for the other in the step that created it: the in-attempt switch
 * (`switchesAfter`) applies only to failures before the order was created, and a
 * pending order is given up only when resuming it failed because its CA is
 * unreachable and the certificate is urgent (c).
 */
import { AcmeNetworkError, AcmeOrderError, AcmeRateLimitedError } from './errors.js';
import { rateLimitScope } from './rate-limits.js';

export type CaRole = 'primary' | 'fallback';

/** Why a CA cannot issue now: it cannot be reached, or its account is paused. */
export type Unavailability = 'unreachable' | 'paused';

export interface CaChoiceInput {
  now: Date;
  fallbackConfigured: boolean;
  /** The primary failed with a transport error recently (CaHealth). */
  primaryUnreachable: boolean;
  /** The primary account's pause (a CA rate limit on the account), if any. */
  primaryPausedUntil: Date | undefined;
  /** The fallback account's pause, if any: a paused fallback is not chosen. */
  fallbackPausedUntil: Date | undefined;
  fallbackUnreachable: boolean;
  /** Consecutive failures of the domain (autotls_domain_state.failure_count). */
  failureCount: number;
  /** The CA of the domain's latest order attempt (order_ca), if known. */
  lastAttemptCa: CaRole | undefined;
  /** The domain's current certificate, if it has one. */
  certificate: { notBefore: Date; notAfter: Date } | undefined;
}

export interface CaChoice {
  ca: CaRole;
  /** Why the fallback was chosen, in words; undefined for the primary. */
  reason?: string;
  /** The same as a label (autotls_fallback_issuance_total{reason}). */
  why?: 'unreachable' | 'paused' | 'expiring';
}

/** Within a sixth of its lifetime of expiry (or past it). */
export function isUrgent(certificate: { notBefore: Date; notAfter: Date } | undefined, now: Date): boolean {
  if (!certificate) return false;
  const lifetime = certificate.notAfter.getTime() - certificate.notBefore.getTime();
  if (!(lifetime > 0)) return false;
  return certificate.notAfter.getTime() - now.getTime() <= lifetime / 6;
}

export function chooseCa(input: CaChoiceInput): CaChoice {
  const primary: CaChoice = { ca: 'primary' };
  if (!input.fallbackConfigured) return primary;
  const fallbackUsable = !input.fallbackUnreachable && !(input.fallbackPausedUntil && input.fallbackPausedUntil > input.now);
  if (!fallbackUsable) return primary;
  if (input.primaryUnreachable) return { ca: 'fallback', why: 'unreachable', reason: 'the primary CA is unreachable' };
  if (input.primaryPausedUntil && input.primaryPausedUntil > input.now) {
    return { ca: 'fallback', why: 'paused', reason: `the primary CA account is paused until ${input.primaryPausedUntil.toISOString()}` };
  }
  if (input.failureCount > 0 && isUrgent(input.certificate, input.now) && input.lastAttemptCa !== 'fallback') {
    return {
      ca: 'fallback',
      why: 'expiring',
      reason: `the certificate expires ${input.certificate?.notAfter.toISOString()}, within a sixth of its lifetime, after ${input.failureCount} failed attempt(s)`,
    };
  }
  return primary;
}

/**
 * Whether an error says the CA cannot issue now (rather than that this
 * domain's order failed): walks the `cause` chain, since the flow wraps errors
 * by step.
 */
export function unavailability(error: unknown): Unavailability | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof AcmeNetworkError) return 'unreachable';
    if (e instanceof AcmeRateLimitedError) return rateLimitScope(e.detail) === 'account' ? 'paused' : undefined;
    if (e instanceof AcmeOrderError) {
      if ((e.httpStatus !== undefined && e.httpStatus >= 500) || e.step === 'directory' || e.step === 'newNonce') return 'unreachable';
      return undefined;
    }
  }
  return undefined;
}

/** A connection-level failure (no answer after the bounded retries), as opposed to an error the CA answered with. */
export function isNetworkFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof AcmeNetworkError) return true;
  }
  return false;
}

/**
 * After the primary failed before an order existed there: switch to the
 * fallback in the same attempt when the failure says the primary cannot issue
 * now. Nothing is abandoned, since the primary has no order for the domain.
 */
export function switchesAfter(error: unknown, orderCreated: boolean, fallbackConfigured: boolean): boolean {
  return fallbackConfigured && !orderCreated && unavailability(error) !== undefined;
}

/** How long, at most, a CA that failed with a transport error is skipped within one run. */
export const UNREACHABLE_FOR_MS = 5 * 60 * 1000;

/**
 * What a run learnt about each CA's reachability: a CA whose transport gave up
 * is skipped for the rest of that run (at most UNREACHABLE_FOR_MS), so a run
 * does not wait for the timeouts of a dead CA once per domain. The next run
 * asks it again, which is how the renewal after an outage goes back to the
 * primary. Per process; the account pauses that must be shared live in the
 * order budget.
 */
export class CaHealth {
  private readonly down = new Map<CaRole, { until: number; run: string }>();

  markUnreachable(role: CaRole, now: Date, run: string): void {
    this.down.set(role, { until: now.getTime() + UNREACHABLE_FOR_MS, run });
  }

  markReachable(role: CaRole): void {
    this.down.delete(role);
  }

  unreachable(role: CaRole, now: Date, run: string): boolean {
    const entry = this.down.get(role);
    return entry !== undefined && entry.run === run && entry.until > now.getTime();
  }
}
