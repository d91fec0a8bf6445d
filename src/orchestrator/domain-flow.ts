import type { Logger } from '../logger.js';
import { errorMessage } from '../util/errors.js';
import type { Clock } from '../clock.js';
import type { CertificateKeyType } from '../config/settings.js';
import type { ChallengePublisher } from '../dns/challenge.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { FastlyTls } from '../storage/fastly.js';
import { deployToFastly } from '../storage/fastly-deploy.js';
import type { Metrics } from '../metrics.js';
import type { DomainCandidate, DomainRepository } from '../domains/repository.js';
import { LETS_ENCRYPT_ISSUER } from '../domains/repository.js';
import type { DomainState, DomainStateStore } from '../domains/state.js';
import type { OrderBudget } from '../certificates/budget.js';
import { rateLimitScope } from '../certificates/rate-limits.js';
import { AcmeOrderGoneError, AcmeProfileError, AcmeRateLimitedError } from '../certificates/errors.js';
import { CertificateAuthorities, type CertificateAuthority } from '../certificates/authorities.js';
import { chooseCa, isNetworkFailure, isUrgent, switchesAfter, unavailability, type CaChoice, type Unavailability } from '../certificates/ca-choice.js';
import { FALLBACK_CA_NOTE } from '../notify/format.js';
import type { CertificateIssuer, IssuedCertificate } from '../certificates/issuer.js';
import { newKeyAndCsr } from '../certificates/keys.js';
import { backoffDelay, isLiveCertificateDue, renewalTime, scheduleFromAri } from '../certificates/renewal-policy.js';
import type { DomainResult } from './runs.js';
import type { ProbeResult } from '../domains/probe.js';
import { MaterialStore, type Material } from './material.js';

/** Reads the live certificate; `isDue` decides whether a valid one is due for renewal. */
export type Probe = (domain: string, tlsIssuer: string | null, isDue: (notBefore: Date, notAfter: Date) => boolean) => Promise<ProbeResult>;

export interface DomainFlowSettings {
  keyType: CertificateKeyType;
  profile: string | undefined;
  pemSecretBasePath: string;
  windowDays: number;
  windowExplicit: boolean;
  fastlyConfigurationId: string | undefined;
}

export interface DomainFlowDeps {
  repository: DomainRepository;
  state: DomainStateStore;
  secrets: SecretsStore;
  /** Undefined when Fastly is not configured: only testmode runs can then succeed. */
  fastly: FastlyTls | undefined;
  publisher: ChallengePublisher;
  /** The primary CA's account and budget (LE_DIRECTORY_URL). */
  issuer: () => Promise<CertificateIssuer>;
  budget: () => Promise<OrderBudget>;
  /**
   * Both CAs when a fallback is configured (ACME_FALLBACK_DIRECTORY_URL); its
   * primary is then used instead of `issuer`/`budget`. See certificates/ca-choice.ts.
   */
  authorities?: CertificateAuthorities;
  probe: Probe;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  random: () => number;
  settings: DomainFlowSettings;
}

export interface DomainRunContext {
  runId: string;
  leaseOwner: string;
  testmode: boolean;
  /** `/single`: an operator asked for this domain; its failure backoff does not apply. */
  explicit: boolean;
  /** `autotls revoke`: order a new certificate now, whatever the probe says about the live one. */
  force?: boolean;
  /** Aborted at shutdown: ACME work in flight stops (the order stays resumable). */
  signal?: AbortSignal;
}

/** The shortest backoff when the certificate is about to expire. */
const MIN_BACKOFF_MS = 60_000;

class Deferred extends Error {}

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
interface Obtained {
  material: Material;
  ca: CertificateAuthority;
}

/** The label of autotls_fallback_issuance_total{reason}. */
type FallbackReason = 'unreachable' | 'paused' | 'expiring' | 'resumed';

/**
 * A failure that left the flow, named by the step it happened in, so that the
 * run document, Slack and the log all say where and why
 * ("uploading to Fastly: HTTP 503 ...").
 */
export class StepError extends Error {
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`${step}: ${errorMessage(cause)}`, { cause });
    this.name = 'StepError';
  }
}

/** Runs one step of the flow; its errors leave named by the step (Deferred and named errors pass unchanged). */
async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Deferred || error instanceof StepError) throw error;
    throw new StepError(name, error);
  }
}

/**
 * One domain's journey through the state machine in src/domains/state.ts:
 * probe → order (DNS-01) → store secrets → upload to Fastly → record.
 * A domain whose certificate is already stored resumes at the upload, without
 * a new order. Errors never escape: they become the domain's result.
 */
export class DomainFlow {
  private readonly material: MaterialStore;
  private readonly cas: CertificateAuthorities;

  constructor(private readonly deps: DomainFlowDeps) {
    this.material = new MaterialStore(deps.secrets, deps.settings.pemSecretBasePath, deps.logger);
    this.cas = deps.authorities ?? new CertificateAuthorities({ role: 'primary', directoryUrl: '', issuer: deps.issuer, budget: deps.budget });
  }

  async run(candidate: DomainCandidate, ctx: DomainRunContext): Promise<DomainResult> {
    const { logger } = this.deps;
    const log = logger.child({ domain: candidate.name, runId: ctx.runId });
    const result: DomainResult = {
      domain: candidate.name,
      certificateStatus: candidate.tlsIssuer === LETS_ENCRYPT_ISSUER ? 'renew' : 'new',
      outcome: 'failed',
      notAfter: null,
      messages: [],
      errors: [],
    };
    try {
      const state = await step('reading the domain state', () => this.deps.state.get(candidate.id));
      const stored =
        state && (state.phase === 'stored' || state.phase === 'uploaded')
          ? await step('reading the stored certificate', () => this.loadStored(candidate, state, log))
          : undefined;
      let obtained: Obtained | undefined;
      if (stored && state) {
        result.messages.push(`Resuming with the stored certificate (serial ${stored.serial}); no new order`);
        obtained = { material: stored, ca: this.cas.byDirectory(state.certCa) };
      } else if (state?.phase === 'ordered') {
        obtained = await step('resuming the unfinished ACME order', () => this.resumeOrder(candidate, state, ctx, result, log));
      }
      if (!obtained) {
        const probe = await step('probing the live certificate', () =>
          this.deps.probe(candidate.name, candidate.tlsIssuer, (notBefore, notAfter) => this.isDue(state, notBefore, notAfter)),
        );
        result.certificateStatus = probe.status;
        if (probe.status === 'unavailable' && !ctx.force) {
          throw new StepError('probing the live certificate', `no certificate available for ${candidate.name}: ${probe.detail}`);
        }
        if (probe.status !== 'ok' || ctx.force) obtained = await this.order(candidate, state, ctx, result, log, probe);
        else {
          result.outcome = 'skipped';
          result.notAfter = probe.notAfter?.toISOString() ?? null;
          result.messages.push(`Not due for renewal: ${candidate.name}`);
          await step('recording the live certificate', () => this.recordLiveCertificate(candidate, probe, ctx, state));
        }
      }
      if (obtained) {
        const { material } = obtained;
        await this.finish(candidate, obtained, stored?.phase === 'uploaded' ? state : null, ctx, result, log);
        // A renewal replaces a certificate AutoTLS obtained before, whatever the probe saw.
        result.outcome = candidate.tlsIssuer === LETS_ENCRYPT_ISSUER || result.certificateStatus === 'renew' ? 'renewed' : 'issued';
        result.notAfter = material.notAfter.toISOString();
      }
    } catch (error) {
      if (error instanceof Deferred) {
        result.outcome = 'deferred';
        result.messages.push(error.message);
      } else {
        result.outcome = 'failed';
        result.errors.push(errorMessage(error));
        log.warn({ err: errorMessage(error) }, 'domain failed');
        await this.recordFailure(candidate, ctx, errorMessage(error)).catch((e: unknown) =>
          log.error({ err: errorMessage(e) }, 'could not record the failure'),
        );
      }
    }
    this.deps.metrics.issuance.inc({ outcome: result.outcome });
    return result;
  }

  /**
   * Orders a new certificate and stores it; after this the certificate can
   * never be lost. The CA is the primary unless ca-choice.ts says it cannot
   * issue in time; when the primary fails before an order exists there because
   * it cannot issue now (unreachable, account paused), the same attempt moves
   * to the fallback: the primary has no order to abandon.
   */
  private async order(
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
  private async resumeOrder(candidate: DomainCandidate, state: DomainState, ctx: DomainRunContext, result: DomainResult, log: Logger): Promise<Obtained | undefined> {
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

  /** The certificate a previous run stored but did not finish; undefined when the store no longer matches. */
  private async loadStored(candidate: DomainCandidate, state: DomainState, log: Logger): Promise<(Material & { phase: string }) | undefined> {
    const stored = await this.material.getStored(candidate.name, state.certId);
    if (!stored) {
      log.warn({ phase: state.phase }, 'stored certificate missing from the secrets store; ordering again');
      return undefined;
    }
    if (state.certSerial && stored.serial !== state.certSerial) {
      log.warn({ expected: state.certSerial, found: stored.serial }, 'stored certificate does not match the recorded serial; ordering again');
      return undefined;
    }
    return { ...stored, phase: state.phase };
  }

  /** Uploads (unless testmode or already uploaded) and records the certificate. */
  private async finish(
    candidate: DomainCandidate,
    { material, ca }: Obtained,
    uploadedState: DomainState | null,
    ctx: DomainRunContext,
    result: DomainResult,
    log: Logger,
  ): Promise<void> {
    let fastlyId: string;
    if (ctx.testmode) {
      fastlyId = `FAKE-${candidate.name}`;
      result.messages.push('Testmode: certificate not uploaded to Fastly');
    } else if (uploadedState?.fastlyCertId) {
      fastlyId = uploadedState.fastlyCertId;
    } else {
      fastlyId = await step('uploading to Fastly', () => this.uploadToFastly(candidate, material, ctx, result, log));
    }
    const { nextRenewalAt, ariCheckAfter } = await this.nextRenewal(material, ca);
    await step('recording the certificate in the database', () => this.deps.repository.recordCertificate({
      domainId: candidate.id,
      leaseOwner: ctx.leaseOwner,
      fastlyId,
      notBefore: material.notBefore,
      notAfter: material.notAfter,
      nextRenewalAt,
      ariCheckAfter,
    }));
    this.deps.metrics.recordCertificate(candidate.name, material.notAfter, nextRenewalAt);
    result.messages.push(`Certificate expires: ${material.notAfter.toISOString()}; next renewal after ${nextRenewalAt.toISOString()}`);
  }

  private async uploadToFastly(candidate: DomainCandidate, material: Material, ctx: DomainRunContext, result: DomainResult, log: Logger): Promise<string> {
    const { fastly, settings } = this.deps;
    if (!fastly) throw new Error('Fastly is not configured: set FASTLY_API_TOKEN and FASTLY_TLS_CONFIGURATION_ID, or run in testmode');
    if (!settings.fastlyConfigurationId) throw new Error('FASTLY_TLS_CONFIGURATION_ID is required to upload certificates to Fastly');
    let deployed: Awaited<ReturnType<typeof deployToFastly>>;
    try {
      deployed = await deployToFastly(fastly, {
        domain: candidate.name,
        privateKeyPem: material.privateKeyPem,
        fullchainPem: material.fullchainPem,
        configurationId: settings.fastlyConfigurationId,
        logger: log,
      });
    } catch (error) {
      // The certificate is stored (phase `stored`): the next run uploads it without a new order.
      // A FastlyError held back by Fastly's write allowance carries the reset time.
      const held = error instanceof Error && (error as { rateLimitResetAt?: unknown }).rateLimitResetAt instanceof Date;
      const resume = held ? '; the certificate stays stored and the next run uploads it without a new order' : '';
      // The caller names the step ("uploading to Fastly: ...").
      if (!resume) throw error;
      throw new Error(`${errorMessage(error)}${resume}`, { cause: error });
    }
    const id = deployed.certificate.id;
    if (deployed.action === 'replaced') {
      result.messages.push(`Fastly certificate ${id} replaced in place`);
    } else if (deployed.sharedCertificateIds.length > 0) {
      result.messages.push(
        `Fastly certificate ${id} created for ${candidate.name} alone; shared certificate ${deployed.sharedCertificateIds.join(', ')} left as it is (replacing it would disable its other names)`,
      );
    } else {
      result.messages.push(`Fastly certificate ${id} created`);
    }
    for (const keyId of deployed.deletedKeyIds) result.messages.push(`Unused Fastly private key ${keyId} deleted`);
    await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'uploaded', fastlyCertId: id, fastlyKeyId: deployed.privateKey.id });
    return id;
  }

  /** ARI when the CA offers it, else the lifetime policy; and when to ask ARI again (null: at the next run). */
  private async nextRenewal(material: Material, ca: CertificateAuthority): Promise<{ nextRenewalAt: Date; ariCheckAfter: Date | null }> {
    const { clock, settings } = this.deps;
    const fallback = {
      nextRenewalAt: renewalTime({
        notBefore: material.notBefore,
        notAfter: material.notAfter,
        windowDays: settings.windowDays,
        windowExplicit: settings.windowExplicit,
      }),
      ariCheckAfter: null,
    };
    if (!material.certId) return fallback;
    try {
      // ARI is asked of the CA that issued the certificate.
      const issuer = await ca.issuer();
      const info = await issuer.renewalInfo(material.certId);
      if (!info) return fallback;
      if (info.explanationUrl) this.deps.logger.info({ explanationUrl: info.explanationUrl }, 'ARI explanation');
      const { nextRenewalAt, ariCheckAfter } = scheduleFromAri(info, clock.now(), this.deps.random);
      return { nextRenewalAt, ariCheckAfter };
    } catch (error) {
      this.deps.logger.warn({ err: errorMessage(error) }, 'ARI lookup failed; using the lifetime policy');
      return fallback;
    }
  }

  /** The flow's rule for a live certificate: isLiveCertificateDue (renewal-policy.ts). */
  private isDue(state: DomainState | null, notBefore: Date, notAfter: Date): boolean {
    const { windowDays, windowExplicit } = this.deps.settings;
    return isLiveCertificateDue(state, { notBefore, notAfter }, { windowDays, windowExplicit }, this.deps.clock.now());
  }


  /**
   * A live Let's Encrypt certificate that is not due, though the database said so
   * (e.g. renewed outside AutoTLS): the records follow the live certificate, so
   * the domain is not selected again run after run.
   */
  /**
   * The live certificate is valid and not due. A domain that failed before is
   * not failing any more (its certificate was fixed some other way): its
   * failures are cleared, as recording a certificate clears them, so that
   * `failing_since` (AutoTLSDomainFailing) and the backoff end.
   */
  private async recordLiveCertificate(candidate: DomainCandidate, probe: ProbeResult, ctx: DomainRunContext, state: DomainState | null): Promise<void> {
    const cleared = state && (state.failureCount > 0 || state.failingSince) ? { failureCount: 0, failingSince: null, backoffUntil: null, lastError: null } : {};
    if (!probe.notBefore || !probe.notAfter || candidate.tlsIssuer !== LETS_ENCRYPT_ISSUER) {
      if (Object.keys(cleared).length > 0) await this.deps.state.update(candidate.id, ctx.leaseOwner, cleared);
      return;
    }
    const { windowDays, windowExplicit } = this.deps.settings;
    const nextRenewalAt = renewalTime({ notBefore: probe.notBefore, notAfter: probe.notAfter, windowDays, windowExplicit });
    await this.deps.state.update(candidate.id, ctx.leaseOwner, { nextRenewalAt, certNotAfter: probe.notAfter, certNotBefore: probe.notBefore, ...cleared });
    await this.deps.repository.updateExpiry(candidate.id, probe.notAfter);
  }

  /**
   * Backs the domain off after a failure (1 min, 10 min, 100 min, then 24 h).
   * The wait never takes more than a tenth of what the live certificate has
   * left: a 160-hour certificate past an outage cannot sit out 24 hours per
   * attempt, while a new domain or a long-lived certificate keeps the full delay.
   */
  private async recordFailure(candidate: DomainCandidate, ctx: DomainRunContext, message: string): Promise<void> {
    const state = await this.deps.state.get(candidate.id);
    const failureCount = (state?.failureCount ?? 0) + 1;
    const now = this.deps.clock.now().getTime();
    const left = state?.certNotAfter ? state.certNotAfter.getTime() - now : Number.POSITIVE_INFINITY;
    const delay = Math.min(backoffDelay(failureCount, this.deps.random), Math.max(MIN_BACKOFF_MS, left / 10));
    const backoffUntil = new Date(now + delay);
    const failingSince = state?.failingSince ?? new Date(now); // kept until a success clears it (markRecorded)
    await this.deps.state.update(candidate.id, ctx.leaseOwner, { failureCount, failingSince, backoffUntil, lastError: message.slice(0, 1000) });
  }
}


/** Re-exported for src/orchestrator/orchestrator.ts, which imports it from here. */
