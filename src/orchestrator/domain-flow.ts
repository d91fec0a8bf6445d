import type { Logger } from '../logger.js';
import { errorMessage } from '../util/errors.js';
import type { Clock } from '../clock.js';
import type { CertificateKeyType } from '../config/settings.js';
import type { ChallengePublisher } from '../dns/challenge.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { FastlyTls } from '../storage/fastly.js';
import { deployToFastly } from '../storage/fastly-deploy.js';
import type { UploadHold } from '../storage/upload-hold.js';
import type { Metrics } from '../metrics.js';
import type { DomainCandidate, DomainRepository } from '../domains/repository.js';
import { LETS_ENCRYPT_ISSUER } from '../domains/repository.js';
import type { DomainState, DomainStateStore } from '../domains/state.js';
import type { OrderBudget } from '../certificates/budget.js';
import { CertificateAuthorities, type CertificateAuthority } from '../certificates/authorities.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { backoffDelay, isLiveCertificateDue, renewalTime, scheduleFromAri } from '../certificates/renewal-policy.js';
import type { DomainResult } from './runs.js';
import type { ProbeResult } from '../domains/probe.js';
import { MaterialStore, type Material } from './material.js';
import { Deferred, StepError, step } from './flow-step.js';
import { CertificateOrdering, type Obtained } from './ordering.js';

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
  /** Fastly's write allowance, as its refusals told (shared with selection and the schedule). */
  uploadHold: UploadHold;
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




/**
 * One domain's journey through the state machine in src/domains/state.ts:
 * probe → order (DNS-01) → store secrets → upload to Fastly → record.
 * A domain whose certificate is already stored resumes at the upload, without
 * a new order. Errors never escape: they become the domain's result.
 */
export class DomainFlow {
  private readonly material: MaterialStore;
  private readonly cas: CertificateAuthorities;
  private readonly ordering: CertificateOrdering;

  constructor(private readonly deps: DomainFlowDeps) {
    this.material = new MaterialStore(deps.secrets, deps.settings.pemSecretBasePath, deps.logger);
    this.cas = deps.authorities ?? new CertificateAuthorities({ role: 'primary', directoryUrl: '', issuer: deps.issuer, budget: deps.budget });
    this.ordering = new CertificateOrdering(deps, this.material, this.cas);
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
        obtained = await step('resuming the unfinished ACME order', () => this.ordering.resumeOrder(candidate, state, ctx, result, log));
      }
      if (!obtained) {
        const probe = await step('probing the live certificate', () =>
          this.deps.probe(candidate.name, candidate.tlsIssuer, (notBefore, notAfter) => this.isDue(state, notBefore, notAfter)),
        );
        result.certificateStatus = probe.status;
        if (probe.status === 'unavailable' && !ctx.force) {
          throw new StepError('probing the live certificate', `no certificate available for ${candidate.name}: ${probe.detail}`);
        }
        if (probe.status !== 'ok' || ctx.force) obtained = await this.ordering.order(candidate, state, ctx, result, log, probe);
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
    const heldUntil = this.deps.uploadHold.heldUntil();
    if (heldUntil) throw new Deferred(uploadHeldMessage(heldUntil));
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
      // The certificate is stored (phase `stored`): a later run uploads it without a new order.
      // A refusal for Fastly's write allowance names its reset: every upload waits for it.
      const reset = this.deps.uploadHold.resetOf(error);
      if (!reset) throw error; // the caller names the step ("uploading to Fastly: ...")
      this.deps.uploadHold.hold(reset);
      log.warn({ err: errorMessage(error), until: reset.toISOString() }, 'Fastly write allowance used up: uploads held until it resets');
      throw new Deferred(uploadHeldMessage(reset));
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

function uploadHeldMessage(until: Date): string {
  return `Fastly's API write allowance is used up until ${until.toISOString()}: the certificate stays stored and is uploaded then, without a new order`;
}
