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
import { AcmeOrderGoneError, AcmeRateLimitedError } from '../certificates/errors.js';
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
  issuer: () => Promise<CertificateIssuer>;
  budget: () => Promise<OrderBudget>;
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

  constructor(private readonly deps: DomainFlowDeps) {
    this.material = new MaterialStore(deps.secrets, deps.settings.pemSecretBasePath, deps.logger);
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
      let material: Material | undefined;
      if (stored) {
        result.messages.push(`Resuming with the stored certificate (serial ${stored.serial}); no new order`);
        material = stored;
      } else if (state?.phase === 'ordered') {
        material = await step('resuming the unfinished ACME order', () => this.resumeOrder(candidate, ctx, result, log));
      }
      if (!material) {
        const probe = await step('probing the live certificate', () =>
          this.deps.probe(candidate.name, candidate.tlsIssuer, (notBefore, notAfter) => this.isDue(state, notBefore, notAfter)),
        );
        result.certificateStatus = probe.status;
        if (probe.status === 'unavailable' && !ctx.force) {
          throw new StepError('probing the live certificate', `no certificate available for ${candidate.name}: ${probe.detail}`);
        }
        if (probe.status !== 'ok' || ctx.force) material = await this.order(candidate, state, ctx, result, log);
        else {
          result.outcome = 'skipped';
          result.notAfter = probe.notAfter?.toISOString() ?? null;
          result.messages.push(`Not due for renewal: ${candidate.name}`);
          await step('recording the live certificate', () => this.recordLiveCertificate(candidate, probe, ctx));
        }
      }
      if (material) {
        await this.finish(candidate, material, stored?.phase === 'uploaded' ? state : null, ctx, result, log);
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

  /** Orders a new certificate and stores it; after this the certificate can never be lost. */
  private async order(
    candidate: DomainCandidate,
    state: DomainState | null,
    ctx: DomainRunContext,
    result: DomainResult,
    log: Logger,
  ): Promise<Material> {
    const { clock } = this.deps;
    if (!ctx.explicit && state?.backoffUntil && state.backoffUntil > clock.now()) {
      throw new Deferred(`In backoff after ${state.failureCount} failure(s) until ${state.backoffUntil.toISOString()}`);
    }
    const budget = await step('reading the order budget', () => this.deps.budget());
    const replaces = candidate.tlsIssuer === LETS_ENCRYPT_ISSUER ? (state?.certId ?? undefined) : undefined;
    const reservation = await step('reserving an order in the budget', () => budget.reserve(candidate.name, replaces));
    if (!reservation.ok) throw new Deferred(`${reservation.reason}; next attempt after ${reservation.retryAt.toISOString()}`);

    let orderCreated = false;
    let issued: IssuedCertificate;
    try {
      const issuer = await this.deps.issuer();
      // The new key is kept before the order exists, so a crash after the order
      // can resume it (and download what the CA issued) instead of ordering again.
      const keys = await newKeyAndCsr(candidate.name, this.deps.settings.keyType);
      await step('storing the new key before the order', () => this.material.putPending(candidate.name, keys));
      await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'ordered' });
      issued = await issuer.issue(
        { domain: candidate.name, zone: candidate.zoneId, keyType: this.deps.settings.keyType, profile: this.deps.settings.profile, replaces, keys },
        {
          publisher: this.deps.publisher,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          onOrderCreated: async (order) => {
            orderCreated = true;
            await budget.confirm(reservation.reservationId, order.orderUrl, order.replaces !== undefined);
            log.info({ orderUrl: order.orderUrl, replaces: order.replaces }, 'ACME order created');
          },
        },
      );
    } catch (error) {
      if (!orderCreated) await budget.cancel(reservation.reservationId);
      // Once the order exists, `ordered` stays, whatever went wrong (a rate limit
      // on finalize included): the next run resumes it instead of paying for another.
      if (!orderCreated) await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' }).catch(() => undefined);
      if (error instanceof AcmeRateLimitedError) await this.rateLimited(candidate, ctx, budget, error);
      throw error instanceof StepError ? error : new StepError('ordering the certificate', error);
    }
    result.messages.push(`Certificate issued (serial ${issued.serial})${issued.replacesAccepted ? ', as an ARI replacement' : ''}`);
    return step('storing the certificate in the secrets store', () => this.storeIssued(candidate, issued, ctx, result));
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
   * Finishes the order a crashed run left in phase `ordered`, with the key that
   * run stored. Undefined when there is nothing to resume (no key, no order, or
   * the CA can no longer complete it): the caller then orders anew.
   */
  private async resumeOrder(candidate: DomainCandidate, ctx: DomainRunContext, result: DomainResult, log: Logger): Promise<Material | undefined> {
    const budget = await this.deps.budget();
    const [orderUrl, keys] = await Promise.all([budget.latestOrderUrl(candidate.name), this.material.getPending(candidate.name)]);
    if (!orderUrl || !keys) return undefined;
    const issuer = await this.deps.issuer();
    try {
      const issued = await issuer.resume(
        orderUrl,
        { domain: candidate.name, zone: candidate.zoneId, keyType: this.deps.settings.keyType, keys },
        { publisher: this.deps.publisher, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      result.messages.push(`Resumed the ACME order a previous run left unfinished (serial ${issued.serial}); no new order`);
      return await this.storeIssued(candidate, issued, ctx, result);
    } catch (error) {
      if (!(error instanceof AcmeOrderGoneError)) throw error;
      log.info({ orderUrl, reason: error.message }, 'the unfinished order cannot be resumed; ordering anew');
      await this.deps.state.update(candidate.id, ctx.leaseOwner, { phase: 'due' });
      return undefined;
    }
  }

  /** Stores an issued certificate; after this it can never be lost. */
  private async storeIssued(candidate: DomainCandidate, issued: IssuedCertificate, ctx: DomainRunContext, result: DomainResult): Promise<Material> {
    // Key material is stored before anything is uploaded (contract section 5).
    const material = await this.material.putIssued(candidate.name, issued);
    await this.deps.state.update(candidate.id, ctx.leaseOwner, {
      phase: 'stored',
      certSerial: issued.serial,
      certNotBefore: issued.notBefore,
      certNotAfter: issued.notAfter,
      certId: issued.certId ?? null,
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
    material: Material,
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
    const { nextRenewalAt, ariCheckAfter } = await this.nextRenewal(material);
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
  private async nextRenewal(material: Material): Promise<{ nextRenewalAt: Date; ariCheckAfter: Date | null }> {
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
      const issuer = await this.deps.issuer();
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
  private async recordLiveCertificate(candidate: DomainCandidate, probe: ProbeResult, ctx: DomainRunContext): Promise<void> {
    if (!probe.notBefore || !probe.notAfter || candidate.tlsIssuer !== LETS_ENCRYPT_ISSUER) return;
    const { windowDays, windowExplicit } = this.deps.settings;
    const nextRenewalAt = renewalTime({ notBefore: probe.notBefore, notAfter: probe.notAfter, windowDays, windowExplicit });
    await this.deps.state.update(candidate.id, ctx.leaseOwner, { nextRenewalAt, certNotAfter: probe.notAfter, certNotBefore: probe.notBefore });
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
