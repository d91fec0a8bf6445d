/**
 * Obtaining a certificate for one domain: choosing the CA (the primary unless
 * certificates/ca-choice.ts says it cannot issue in time), ordering there
 * with a new key kept before the order exists, resuming an order a crashed run
 * left, and storing what the CA issued, after which it can never be lost.
 * DomainFlow (domain-flow.ts) calls it and then uploads and records.
 */
import type { Logger } from '../logger.js';
import { errorMessage } from '../util/errors.js';
import type { Clock } from '../clock.js';
import type { CertificateKeyType } from '../config/settings.js';
import type { ChallengePublisher } from '../dns/challenge.js';
import type { Metrics } from '../metrics.js';
import type { DomainCandidate } from '../domains/repository.js';
import { LETS_ENCRYPT_ISSUER } from '../domains/repository.js';
import type { DomainState, DomainStateStore } from '../domains/state.js';
import type { ProbeResult } from '../domains/probe.js';
import type { OrderBudget } from '../certificates/budget.js';
import { rateLimitScope } from '../certificates/rate-limits.js';
import { AcmeOrderGoneError, AcmeProfileError, AcmeRateLimitedError } from '../certificates/errors.js';
import type { CertificateAuthorities, CertificateAuthority } from '../certificates/authorities.js';
import { chooseCa, isNetworkFailure, isUrgent, switchesAfter, unavailability, type CaChoice, type Unavailability } from '../certificates/ca-choice.js';
import type { IssuedCertificate } from '../certificates/issuer.js';
import { newKeyAndCsr } from '../certificates/keys.js';
import { FALLBACK_CA_NOTE } from '../notify/format.js';
import type { DomainResult } from './runs.js';
import type { MaterialStore, Material } from './material.js';
import { Deferred, StepError, step } from './flow-step.js';
import type { DomainRunContext } from './domain-flow.js';

/** The primary failed before an order existed there, and cannot issue now: the attempt moves to the fallback. */
class SwitchCa extends Error {
  constructor(
    readonly kind: Unavailability,
    cause: unknown,
  ) {
    super(errorMessage(cause), { cause });
  }
}

/** A certificate obtained in this run, and the CA that issued it. */
export interface Obtained {
  material: Material;
  ca: CertificateAuthority;
}

/** The label of autotls_fallback_issuance_total{reason}. */
type FallbackReason = 'unreachable' | 'paused' | 'expiring' | 'resumed';

export interface CertificateOrderingDeps {
  state: DomainStateStore;
  publisher: ChallengePublisher;
  metrics: Metrics;
  clock: Clock;
  settings: { keyType: CertificateKeyType; profile: string | undefined };
}

export class CertificateOrdering {
  constructor(
    private readonly deps: CertificateOrderingDeps,
    private readonly material: MaterialStore,
    private readonly cas: CertificateAuthorities,
  ) {}

  /**
   * Orders a new certificate and stores it; after this the certificate can
   * never be lost. The CA is the primary unless ca-choice.ts says it cannot
   * issue in time; when the primary fails before an order exists there because
   * it cannot issue now (unreachable, account paused), the same attempt moves
   * to the fallback: the primary has no order to abandon.
   */
  async order(
    candidate: DomainCandidate,
    state: DomainState | null,
    ctx: DomainRunContext,
    result: DomainResult,
    log: Logger,
    live: ProbeResult,
  ): Promise<Obtained> {
    const { clock } = this.deps;
    if (!ctx.explicit && state?.backoffUntil && state.backoffUntil > clock.now()) {
      throw new Deferred(`In backoff after ${state.failureCount} failure(s) until ${state.backoffUntil.toISOString()}`);
    }
    const choice = await step('reading the order budget', () => this.chooseCa(state, live, ctx.runId, log));
    const first = (choice.ca === 'fallback' ? this.cas.fallback : undefined) ?? this.cas.primary;
    if (first.role === 'fallback') {
      result.messages.push(`Ordering from the fallback CA ${first.directoryUrl}: ${choice.reason ?? 'the primary CA cannot issue in time'}`);
      log.warn({ ca: first.directoryUrl, reason: choice.reason }, 'ordering from the fallback CA');
    }
    try {
      return await this.orderAt(first, candidate, state, ctx, result, log, choice.why ?? 'expiring');
    } catch (error) {
      const fallback = this.cas.fallback;
      if (!(error instanceof SwitchCa) || !fallback) throw error;
      const reason = `the primary CA cannot issue now (${error.kind}: ${error.message})`;
      result.messages.push(`Ordering from the fallback CA ${fallback.directoryUrl}: ${reason}; no order was created at the primary`);
      log.warn({ ca: fallback.directoryUrl, reason }, 'ordering from the fallback CA');
      try {
        return await this.orderAt(fallback, candidate, state, ctx, result, log, error.kind);
      } catch (fallbackError) {
        // Both causes, so that the operator sees why the primary was passed over too.
        const primaryCause = `the primary CA cannot issue now (${error.message})`;
        if (fallbackError instanceof Deferred) throw new Deferred(`${primaryCause}; at the fallback CA: ${fallbackError.message}`);
        throw new StepError(`ordering the certificate: ${primaryCause}; and from the fallback CA`, fallbackError instanceof StepError ? fallbackError.message : fallbackError);
      }
    }
  }

  /** Where this domain orders now (pure rules in ca-choice.ts; the inputs read here). */
  private async chooseCa(state: DomainState | null, live: ProbeResult, runId: string, log: Logger): Promise<CaChoice> {
    const { fallback, primary, health } = this.cas;
    if (!fallback) return { ca: 'primary' };
    const now = this.deps.clock.now();
    const pausedUntil = async (ca: CertificateAuthority): Promise<Date | undefined> => (await (await ca.budget()).pausedUntil())?.until;
    const [primaryPausedUntil, fallbackPause] = await Promise.all([
      pausedUntil(primary),
      // The fallback's account key may be missing: then it cannot be used, and the primary is asked as without a fallback.
      pausedUntil(fallback).then(
        (until) => ({ until, usable: true }),
        (error: unknown) => {
          log.warn({ err: errorMessage(error) }, 'the fallback CA account is not available');
          return { until: undefined, usable: false };
        },
      ),
    ]);
    const certificate =
      live.notBefore && live.notAfter
        ? { notBefore: live.notBefore, notAfter: live.notAfter }
        : state?.certNotBefore && state.certNotAfter
          ? { notBefore: state.certNotBefore, notAfter: state.certNotAfter }
          : undefined;
    return chooseCa({
      now,
      fallbackConfigured: fallbackPause.usable,
      primaryUnreachable: health.unreachable('primary', now, runId),
      primaryPausedUntil,
      fallbackPausedUntil: fallbackPause.until,
      fallbackUnreachable: health.unreachable('fallback', now, runId),
      failureCount: state?.failureCount ?? 0,
      lastAttemptCa: state?.orderCa ? this.cas.byDirectory(state.orderCa).role : undefined,
      certificate,
    });
  }

  /** One order at one CA, stored once issued. Throws SwitchCa when the primary cannot issue now and nothing was ordered there. */
  private async orderAt(
    ca: CertificateAuthority,
    candidate: DomainCandidate,
    state: DomainState | null,
    ctx: DomainRunContext,
    result: DomainResult,
    log: Logger,
    why: FallbackReason,
  ): Promise<Obtained> {
    const fromFallback = ca.role === 'fallback';
    const budget = await step(fromFallback ? 'reading the fallback CA order budget' : 'reading the order budget', () => ca.budget());
    // ARI `replaces` names a certificate of the CA it is sent to (RFC 9773 §5): only when renewing at the same CA.
    const sameCa = this.cas.byDirectory(state?.certCa).role === ca.role;
    const replaces = candidate.tlsIssuer === LETS_ENCRYPT_ISSUER && sameCa ? (state?.certId ?? undefined) : undefined;
    const reservation = await step('reserving an order in the budget', () => budget.reserve(candidate.name, replaces));
    if (!reservation.ok) throw new Deferred(`${reservation.reason}; next attempt after ${reservation.retryAt.toISOString()}`);

    let orderCreated = false;
    let issued: IssuedCertificate;
    try {
      const issuer = await ca.issuer();
      // The new key is kept before the order exists, so a crash after the order
      // can resume it (and download what the CA issued) instead of ordering again.
      const keys = await newKeyAndCsr(candidate.name, this.deps.settings.keyType);
      await step('storing the new key before the order', () => this.material.putPending(candidate.name, keys));
      await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'ordered', orderCa: ca.directoryUrl || null });
      const request = { domain: candidate.name, zone: candidate.zoneId, keyType: this.deps.settings.keyType, profile: this.deps.settings.profile, replaces, keys };
      const hooks = {
        publisher: this.deps.publisher,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onOrderCreated: async (order: { orderUrl: string; replaces?: string }) => {
          orderCreated = true;
          await budget.confirm(reservation.reservationId, order.orderUrl, order.replaces !== undefined);
          log.info({ orderUrl: order.orderUrl, replaces: order.replaces, ca: ca.directoryUrl || undefined }, 'ACME order created');
        },
      };
      try {
        issued = await issuer.issue(request, hooks);
      } catch (error) {
        // ACME_PROFILE is a preference; the fallback is there to get a certificate in time.
        if (!(fromFallback && !orderCreated && error instanceof AcmeProfileError)) throw error;
        result.messages.push(`${error.message}; the fallback CA orders without a profile`);
        log.warn({ profile: request.profile, offered: error.offered }, 'the fallback CA does not offer ACME_PROFILE; ordering without a profile');
        issued = await issuer.issue({ ...request, profile: undefined }, hooks);
      }
    } catch (error) {
      if (!orderCreated) await budget.cancel(reservation.reservationId);
      // Once the order exists, `ordered` stays, whatever went wrong (a rate limit
      // on finalize included): the next run resumes it instead of paying for another.
      if (!orderCreated) await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' }).catch(() => undefined);
      const unavailable = unavailability(error);
      // The CA is skipped for the rest of the run when it could not even take an order, or stopped answering;
      // a 5xx about one existing order (finalize, say) is that order's trouble.
      if (unavailable === 'unreachable' && (!orderCreated || isNetworkFailure(error))) this.cas.health.markUnreachable(ca.role, this.deps.clock.now(), ctx.runId);
      const fallbackUsable = this.cas.fallback !== undefined && !this.cas.health.unreachable('fallback', this.deps.clock.now(), ctx.runId);
      if (ca.role === 'primary' && unavailable && switchesAfter(error, orderCreated, fallbackUsable)) {
        // The account-wide pause is recorded as without a fallback, so other domains go straight to the fallback.
        if (error instanceof AcmeRateLimitedError) await budget.pause(error.retryAfter ?? new Date(this.deps.clock.now().getTime() + 60 * 60 * 1000), error.message);
        throw new SwitchCa(unavailable, error);
      }
      if (error instanceof AcmeRateLimitedError) await this.rateLimited(candidate, ctx, budget, error);
      throw error instanceof StepError ? error : new StepError(fromFallback ? 'ordering the certificate from the fallback CA' : 'ordering the certificate', error);
    }
    this.cas.health.markReachable(ca.role);
    result.messages.push(`Certificate issued (serial ${issued.serial})${issued.replacesAccepted ? ', as an ARI replacement' : ''}`);
    if (fromFallback) this.noteFallback(ca, result, why);
    const material = await step('storing the certificate in the secrets store', () => this.storeIssued(candidate, issued, ca, ctx, result));
    return { material, ca };
  }

  /** The run document, Slack (notify/format.ts reads FALLBACK_CA_NOTE) and the metrics say the fallback issued it. */
  private noteFallback(ca: CertificateAuthority, result: DomainResult, why: FallbackReason): void {
    result.messages.push(`${FALLBACK_CA_NOTE} (${ca.directoryUrl}); the next renewal goes to the primary CA again`);
    this.deps.metrics.fallbackIssuance.inc({ reason: why });
  }

  /**
   * A 429 from the CA. Only an account-wide limit pauses the account (and so
   * every domain); a limit on this domain's names backs off just this domain
   * until the CA's Retry-After. Always throws Deferred.
   */
  private async rateLimited(candidate: DomainCandidate, ctx: DomainRunContext, budget: OrderBudget, error: AcmeRateLimitedError): Promise<never> {
    const until = error.retryAfter ?? new Date(this.deps.clock.now().getTime() + 60 * 60 * 1000);
    const scope = rateLimitScope(error.detail);
    if (scope === 'account') {
      await budget.pause(until, error.message);
      throw new Deferred(`Rate limited by the CA: no new orders for this account until ${until.toISOString()} (${error.message})`);
    }
    await this.deps.state.update(candidate.id, ctx.leaseOwner, { backoffUntil: until, lastError: error.message.slice(0, 1000) });
    throw new Deferred(`Rate limited by the CA for ${candidate.name} (${scope} limit): next attempt after ${until.toISOString()} (${error.message})`);
  }

  /**
   * Finishes the order a crashed run left in phase `ordered`, at the CA it was
   * placed with (`order_ca`), with the key that run stored. Undefined when
   * there is nothing to resume (no key, no order, or the CA can no longer
   * complete it): the caller then orders anew. An order whose CA is
   * unreachable is kept (the failure backs off, the next run resumes it) unless
   * the certificate is within a sixth of its lifetime of expiry and the other CA
   * can be asked: then the caller orders there.
   */
  async resumeOrder(candidate: DomainCandidate, state: DomainState, ctx: DomainRunContext, result: DomainResult, log: Logger): Promise<Obtained | undefined> {
    const ca = this.cas.byDirectory(state.orderCa);
    if (state.orderCa && ca.directoryUrl && state.orderCa !== ca.directoryUrl) {
      // The order is at a CA no longer configured (LE_DIRECTORY_URL or ACME_FALLBACK_DIRECTORY_URL changed):
      // no account here can finish it, and another CA's latest order would be the wrong one.
      result.messages.push(`The unfinished order is at ${state.orderCa}, which is no longer configured; ordering anew`);
      await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' });
      return undefined;
    }
    const budget = await ca.budget();
    const [orderUrl, keys] = await Promise.all([budget.latestOrderUrl(candidate.name), this.material.getPending(candidate.name)]);
    if (!orderUrl || !keys) return undefined;
    try {
      const issuer = await ca.issuer();
      const issued = await issuer.resume(
        orderUrl,
        { domain: candidate.name, zone: candidate.zoneId, keyType: this.deps.settings.keyType, keys },
        { publisher: this.deps.publisher, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      this.cas.health.markReachable(ca.role);
      result.messages.push(`Resumed the ACME order a previous run left unfinished (serial ${issued.serial}); no new order`);
      if (ca.role === 'fallback') this.noteFallback(ca, result, 'resumed');
      return { material: await this.storeIssued(candidate, issued, ca, ctx, result), ca };
    } catch (error) {
      const now = this.deps.clock.now();
      if (error instanceof AcmeOrderGoneError) {
        log.info({ orderUrl, reason: error.message }, 'the unfinished order cannot be resumed; ordering anew');
        await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' });
        return undefined;
      }
      if (unavailability(error) !== 'unreachable') throw error;
      this.cas.health.markUnreachable(ca.role, now, ctx.runId);
      const other = this.cas.other(ca.role);
      const certificate = state.certNotBefore && state.certNotAfter ? { notBefore: state.certNotBefore, notAfter: state.certNotAfter } : undefined;
      if (!other || !isUrgent(certificate, now) || this.cas.health.unreachable(other.role, now, ctx.runId)) throw error;
      const message =
        `The ${ca.role} CA holding the unfinished order ${orderUrl} is unreachable (${errorMessage(error)}) and the certificate expires ` +
        `${certificate?.notAfter.toISOString()}, within a sixth of its lifetime: ordering from the ${other.role} CA instead`;
      log.warn({ orderUrl, ca: ca.directoryUrl, other: other.directoryUrl }, message);
      result.messages.push(message);
      await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' });
      return undefined;
    }
  }

  /** Stores an issued certificate; after this it can never be lost. */
  private async storeIssued(candidate: DomainCandidate, issued: IssuedCertificate, ca: CertificateAuthority, ctx: DomainRunContext, result: DomainResult): Promise<Material> {
    // Key material is stored before anything is uploaded (contract section 5).
    const material = await this.material.putIssued(candidate.name, issued);
    await this.deps.state.update(candidate.id, ctx.leaseOwner, {
      phase: 'stored',
      certSerial: issued.serial,
      certNotBefore: issued.notBefore,
      certNotAfter: issued.notAfter,
      certId: issued.certId ?? null,
      certCa: ca.directoryUrl || null,
    });
    result.messages.push('Certificate and key stored in the secrets store');
    await this.material.deletePending(candidate.name);
    return material;
  }

}
