/**
 * `process --dry-run` and `/process?dryrun=1` (contract section 6): what a
 * `/process` would do, found out with reads only.
 *
 * - The selection is the orchestrator's (same repository call, same cap; with
 *   SCHEDULE=continuous the same page and budget headroom as a wake), without
 *   the ARI refresh that precedes it, since that writes renewal times.
 * - Each domain is probed live and planned the way DomainFlow would go:
 *   resume, `new` or `renewal` (with the ARI `replaces` CertID), and at Fastly
 *   `create`, `replace` in place, or a certificate of its own beside shared ones.
 * - The credentials the run would need are checked read-only: the secrets
 *   store (a get), the CA account (`onlyReturnExisting`), the DNS provider (a
 *   read of the first domain's challenge name, or its own `verifyAccess`), the
 *   Fastly token and TLS configuration (a GET).
 *
 * Nothing here claims a lease, creates a run, reserves budget, orders,
 * publishes DNS, writes a secret or calls a Fastly write.
 */
import type { Logger } from '../logger.js';
import type { Clock } from '../clock.js';
import type { DnsProvider } from '../dns/provider.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { FastlyTls } from '../storage/fastly.js';
import { isOwnCertificate } from '../storage/fastly-deploy.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import type { OrderBudget } from '../certificates/budget.js';
import { isLiveCertificateDue } from '../certificates/renewal-policy.js';
import { LETS_ENCRYPT_ISSUER, type DomainCandidate, type DomainRepository } from '../domains/repository.js';
import type { DomainState, DomainStateStore } from '../domains/state.js';
import type { LiveCertificateStatus } from '../domains/probe.js';
import { errorMessage } from '../util/errors.js';
import { forEachConcurrent } from '../util/pool.js';
import type { Probe } from './domain-flow.js';
import { CONTINUOUS_PAGE_SIZE } from './orchestrator.js';
import { MaterialStore, secretName } from './material.js';

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface DryRunCheck {
  /** `selection`, `secrets`, `ca`, `dns` or `fastly`. */
  name: 'selection' | 'secrets' | 'ca' | 'dns' | 'fastly';
  status: CheckStatus;
  /** A sentence naming the step and, when it failed, the cause. */
  message: string;
}

/**
 * What the run would do for a domain:
 * - `new`, `renewal`: order a certificate (a renewal sends `replaces` when AutoTLS has the CertID);
 * - `resume-order`: finish the ACME order a previous run left (its order URL and pending key are there);
 * - `resume-upload`: upload the certificate already stored (read back from the secrets store; no new order);
 * - `record`: only the database record is missing (already uploaded);
 * - `not-due`: the live certificate is valid and not due; `fails`: the probe found no certificate at all;
 * - `backoff`: deferred until the failure backoff ends.
 */
export type DryRunPlanAction = 'new' | 'renewal' | 'resume-order' | 'resume-upload' | 'record' | 'not-due' | 'fails' | 'backoff';

/** At Fastly: `create`, `replace` (in place, `certificateId`), `own-certificate` (beside `sharedCertificateIds`), or `none`. */
export type DryRunFastlyAction = 'create' | 'replace' | 'own-certificate' | 'none';

export interface DryRunFastlyPlan {
  action: DryRunFastlyAction;
  certificateId: string | null;
  sharedCertificateIds: string[];
  detail: string;
}

export interface DryRunDomainPlan {
  domain: string;
  /** The live probe's answer; `backoff` in backoff; for a resume (not probed) what the run would report. */
  status: LiveCertificateStatus | 'backoff';
  plan: DryRunPlanAction;
  /** ARI CertID the order would replace (RFC 9773), when it would send one. */
  replaces: string | null;
  fastly: DryRunFastlyPlan;
  messages: string[];
}

export interface DryRunReport {
  dryRun: true;
  testmode: boolean;
  /** Selected as a continuous-schedule wake (SCHEDULE=continuous) rather than a capped `/process`. */
  continuous: boolean;
  checks: DryRunCheck[];
  plan: DryRunDomainPlan[];
}

export interface DryRunSettings {
  maxDomainsPerRun: number;
  concurrency: number;
  excludedDomains: string[];
  windowDays: number;
  windowExplicit: boolean;
  continuous: boolean;
  pemSecretBasePath: string;
  accountKeySecretName: string | undefined;
  directoryUrl: string;
  fastlyConfigurationId: string | undefined;
  /** ACME_PROFILE: checked against the profiles the directory offers. */
  profile?: string | undefined;
}

export interface DryRunDeps {
  repository: DomainRepository;
  state: DomainStateStore;
  dns: DnsProvider;
  secrets: SecretsStore;
  fastly: FastlyTls | undefined;
  /** Connects with the configured account key (`onlyReturnExisting`): a read. */
  issuer: () => Promise<CertificateIssuer>;
  /** The second CA (ACME_FALLBACK_*), looked up the same way, when configured. */
  fallback?: { directoryUrl: string; issuer: () => Promise<CertificateIssuer> } | undefined;
  budget: () => Promise<OrderBudget>;
  probe: Probe;
  clock: Clock;
  logger: Logger;
  settings: DryRunSettings;
}

/** An issuer that can tell the directory's profiles (AcmeIssuer.profiles); others are taken to offer none. */
function advertisesProfiles(issuer: CertificateIssuer): issuer is CertificateIssuer & { profiles(): Promise<Record<string, unknown> | undefined> } {
  return typeof (issuer as { profiles?: unknown }).profiles === 'function';
}

const NO_FASTLY: DryRunFastlyPlan = { action: 'none', certificateId: null, sharedCertificateIds: [], detail: 'nothing to upload' };

export class DryRun {
  /** Read only here: getStored and getPending. */
  private readonly material: MaterialStore;

  constructor(private readonly deps: DryRunDeps) {
    this.material = new MaterialStore(deps.secrets, deps.settings.pemSecretBasePath, deps.logger);
  }

  /** Never throws: every failure is a failed check or a domain's message. */
  async run(options: { testmode: boolean }): Promise<DryRunReport> {
    const { settings } = this.deps;
    const checks: DryRunCheck[] = [];
    const selected = await this.select().then(
      (s) => {
        const note = settings.continuous ? 'as a continuous wake' : `at most MAX_DOMAINS_PER_RUN=${settings.maxDomainsPerRun}`;
        const budget = s.headroom === undefined ? '' : `; ${s.headroom} new order(s) left in the order budget's 3-hour window`;
        checks.push({
          name: 'selection',
          status: 'ok',
          message: `selecting the due domains (${note}): ${s.due.length} due, ${s.backedOff.length} in backoff${budget}; ARI windows were not refreshed (that writes)`,
        });
        return s;
      },
      (error: unknown) => {
        checks.push({ name: 'selection', status: 'failed', message: `selecting the due domains: ${errorMessage(error)}` });
        return { due: [], backedOff: [], headroom: undefined };
      },
    );
    const first = selected.due[0] ?? selected.backedOff[0];
    const fallback = this.deps.fallback;
    const [secrets, ca, fallbackCa, dns, fastly] = await Promise.all([
      this.checkSecrets(first),
      this.checkCa(this.deps.settings.directoryUrl, this.deps.issuer, 'primary'),
      fallback ? this.checkCa(fallback.directoryUrl, fallback.issuer, 'fallback') : undefined,
      this.checkDns(first),
      this.checkFastly(options.testmode),
    ]);
    checks.push(secrets, ca, ...(fallbackCa ? [fallbackCa] : []), dns, fastly);

    const plan = new Array<DryRunDomainPlan>(selected.due.length);
    await forEachConcurrent(selected.due, Math.max(1, settings.concurrency), async (candidate, index) => {
      plan[index] = await this.planDomain(candidate, options.testmode);
    });
    for (const d of selected.backedOff) {
      plan.push({
        domain: d.name,
        status: 'backoff',
        plan: 'backoff',
        replaces: null,
        fastly: { ...NO_FASTLY, detail: 'deferred' },
        messages: [`In backoff after repeated failures until ${d.backoffUntil.toISOString()}`],
      });
    }
    return { dryRun: true, testmode: options.testmode, continuous: settings.continuous, checks, plan };
  }

  /** Orchestrator.planProcess without the ARI refresh. */
  private async select(): Promise<{ due: DomainCandidate[]; backedOff: Array<DomainCandidate & { backoffUntil: Date }>; headroom: number | undefined }> {
    const { repository, settings } = this.deps;
    const limit = settings.continuous ? CONTINUOUS_PAGE_SIZE : settings.maxDomainsPerRun;
    // Read-only (a count of the ledger); undefined when the account key cannot be read (the CA check says why).
    const headroom = await this.deps.budget().then((b) => b.headroom(), () => undefined);
    const newOrdersLimit = settings.continuous ? headroom : undefined;
    const due = await repository.selectDue({
      limit,
      ...(newOrdersLimit !== undefined ? { newOrdersLimit } : {}),
      excluded: settings.excludedDomains,
      windowDays: settings.windowDays,
    });
    const backedOff = await repository.selectBackedOff(limit, settings.excludedDomains);
    return { due, backedOff, headroom };
  }

  private async planDomain(candidate: DomainCandidate, testmode: boolean): Promise<DryRunDomainPlan> {
    const renewal = candidate.tlsIssuer === LETS_ENCRYPT_ISSUER;
    const out: DryRunDomainPlan = { domain: candidate.name, status: renewal ? 'renew' : 'new', plan: renewal ? 'renewal' : 'new', replaces: null, fastly: NO_FASTLY, messages: [] };
    let state: DomainState | null;
    try {
      state = await this.deps.state.get(candidate.id);
    } catch (error) {
      out.messages.push(`reading the domain state: ${errorMessage(error)}`);
      state = null;
    }
    // DomainFlow.run's order: stored material first, then an unfinished order, else probe and order.
    const stored = state && (state.phase === 'stored' || state.phase === 'uploaded') ? await this.storedSerial(candidate, state, out) : undefined;
    if (state && stored && state.phase === 'uploaded' && state.fastlyCertId) {
      out.plan = 'record';
      out.fastly = { ...NO_FASTLY, certificateId: state.fastlyCertId, detail: `already uploaded as ${state.fastlyCertId}` };
      out.messages.push(`The stored certificate (serial ${stored}) is uploaded; only the database record is missing`);
      return out;
    }
    if (stored) {
      out.plan = 'resume-upload';
      out.messages.push(`Resumes with the stored certificate (serial ${stored}); no new order`);
      out.fastly = await this.planFastly(candidate.name, testmode);
      return out;
    }
    if (state?.phase === 'ordered') {
      const resumable = await this.resumableOrder(candidate.name).catch((error: unknown) => {
        out.messages.push(`looking for the unfinished ACME order: ${errorMessage(error)}`);
        return undefined;
      });
      if (resumable) {
        out.plan = 'resume-order';
        out.messages.push(`Finishes the ACME order a previous run left unfinished (${resumable}); a new order only if the CA can no longer complete it`);
        out.fastly = await this.planFastly(candidate.name, testmode);
        return out;
      }
      out.messages.push('The unfinished ACME order cannot be resumed (no order URL or no stored key); orders anew');
    }
    try {
      const probe = await this.deps.probe(candidate.name, candidate.tlsIssuer, (notBefore, notAfter) => this.isDue(state, notBefore, notAfter));
      out.status = probe.status;
      out.messages.push(`Live certificate: ${probe.detail}`);
      if (probe.status === 'unavailable') {
        out.plan = 'fails';
        out.messages.push(`The run would fail at "probing the live certificate": no certificate available for ${candidate.name}`);
        return out;
      }
      if (probe.status === 'ok') {
        out.plan = 'not-due';
        out.messages.push(`Not due for renewal: ${candidate.name}`);
        return out;
      }
    } catch (error) {
      out.messages.push(`probing the live certificate: ${errorMessage(error)}`);
      return out;
    }
    if (state?.backoffUntil && state.backoffUntil > this.deps.clock.now()) {
      out.plan = 'backoff';
      out.messages.push(`In backoff after ${state.failureCount} failure(s) until ${state.backoffUntil.toISOString()}`);
      return out;
    }
    out.plan = renewal || out.status === 'renew' ? 'renewal' : 'new';
    if (renewal && state?.certId) {
      out.replaces = state.certId;
      out.messages.push(`The order names replaces=${state.certId} when the CA offers ARI (RFC 9773)`);
    }
    out.fastly = await this.planFastly(candidate.name, testmode);
    return out;
  }

  /** The serial of the stored certificate the flow would resume with (DomainFlow.loadStored), or undefined. */
  private async storedSerial(candidate: DomainCandidate, state: DomainState, out: DryRunDomainPlan): Promise<string | undefined> {
    try {
      const stored = await this.material.getStored(candidate.name, state.certId);
      if (!stored) {
        out.messages.push(`The stored certificate (phase ${state.phase}) is missing from the secrets store; orders again`);
        return undefined;
      }
      if (state.certSerial && stored.serial !== state.certSerial) {
        out.messages.push(`The stored certificate (serial ${stored.serial}) does not match the recorded serial ${state.certSerial}; orders again`);
        return undefined;
      }
      return stored.serial;
    } catch (error) {
      out.messages.push(`reading the stored certificate: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /** The order URL DomainFlow.resumeOrder would finish, when the order and its pending key are both there. */
  private async resumableOrder(domain: string): Promise<string | undefined> {
    const budget = await this.deps.budget();
    const [orderUrl, keys] = await Promise.all([budget.latestOrderUrl(domain), this.material.getPending(domain)]);
    return orderUrl && keys ? orderUrl : undefined;
  }

  /** deployToFastly's choice, from the certificates Fastly lists for the domain. */
  private async planFastly(domain: string, testmode: boolean): Promise<DryRunFastlyPlan> {
    if (testmode) return { ...NO_FASTLY, detail: 'testmode: not uploaded to Fastly' };
    const { fastly } = this.deps;
    if (!fastly) return { ...NO_FASTLY, detail: 'Fastly is not configured (FASTLY_API_TOKEN): the upload would fail' };
    try {
      const covering = await fastly.listBulkCertificatesForDomain(domain);
      const own = covering
        .filter((c) => isOwnCertificate(c, domain))
        .sort((a, b) => b.notAfter.getTime() - a.notAfter.getTime() || b.createdAt.getTime() - a.createdAt.getTime())[0];
      const shared = covering.filter((c) => !isOwnCertificate(c, domain)).map((c) => c.id);
      if (own) return { action: 'replace', certificateId: own.id, sharedCertificateIds: shared, detail: `replace in place ${own.id}` };
      if (shared.length > 0) {
        return { action: 'own-certificate', certificateId: null, sharedCertificateIds: shared, detail: `own certificate beside shared ${shared.join(', ')}` };
      }
      return { action: 'create', certificateId: null, sharedCertificateIds: [], detail: 'create' };
    } catch (error) {
      return { ...NO_FASTLY, detail: `listing the Fastly certificates of ${domain}: ${errorMessage(error)}` };
    }
  }

  /** The flow's rule for a live certificate: isLiveCertificateDue (renewal-policy.ts). */
  private isDue(state: DomainState | null, notBefore: Date, notAfter: Date): boolean {
    const { windowDays, windowExplicit } = this.deps.settings;
    return isLiveCertificateDue(state, { notBefore, notAfter }, { windowDays, windowExplicit }, this.deps.clock.now());
  }


  private async checkSecrets(first: DomainCandidate | undefined): Promise<DryRunCheck> {
    const { secrets, settings } = this.deps;
    const name = settings.accountKeySecretName ?? (first ? secretName(settings.pemSecretBasePath, first.name, 'fullchain') : undefined);
    const step = `reading the secrets store (${secrets.name})`;
    if (!name) return { name: 'secrets', status: 'skipped', message: `${step}: not checked (the account key is inline and no domain is selected)` };
    try {
      const value = await secrets.get(name);
      if (value === undefined && name === settings.accountKeySecretName) {
        return { name: 'secrets', status: 'failed', message: `${step}: the ACME account key secret ${name} does not exist; create an account with "npx autotls account create --email <you>"` };
      }
      return { name: 'secrets', status: 'ok', message: `${step}: read ${name}${value === undefined ? ' (not there yet, which is fine)' : ''}` };
    } catch (error) {
      return { name: 'secrets', status: 'failed', message: `${step}: get ${name}: ${errorMessage(error)}` };
    }
  }

  /**
   * The account lookup at a CA, with the profile on offer. The fallback orders
   * without ACME_PROFILE when it does not offer it (as DomainFlow does), so
   * only the primary fails on an unknown profile.
   */
  private async checkCa(directoryUrl: string, connect: () => Promise<CertificateIssuer>, role: 'primary' | 'fallback'): Promise<DryRunCheck> {
    const step = `${role === 'fallback' ? 'fallback CA (ACME_FALLBACK_DIRECTORY_URL): ' : ''}looking up the ACME account at ${directoryUrl}`;
    try {
      const issuer = await connect();
      const found = `${step}: the account exists (onlyReturnExisting)`;
      const offered = advertisesProfiles(issuer) ? await issuer.profiles() : undefined;
      const names = offered ? Object.keys(offered).sort() : [];
      const requested = this.deps.settings.profile;
      // As a real order does (AcmeIssuer.resolveProfile): an unknown profile is refused, none on offer means none is sent.
      if (requested && offered && !Object.hasOwn(offered, requested)) {
        if (role === 'fallback') return { name: 'ca', status: 'ok', message: `${found}; ACME_PROFILE=${requested} is not on offer there, so its orders go without a profile (offered: ${names.join(', ') || 'none'})` };
        return { name: 'ca', status: 'failed', message: `${found}, but ACME_PROFILE=${requested} is not on offer; the CA offers: ${names.join(', ') || 'none'}` };
      }
      if (requested && !offered) return { name: 'ca', status: 'ok', message: `${found}; the CA advertises no profiles, so orders go without ACME_PROFILE=${requested}` };
      if (requested) return { name: 'ca', status: 'ok', message: `${found}; profile ${requested} is on offer (${names.join(', ')})` };
      return { name: 'ca', status: 'ok', message: `${found}${names.length ? `; profiles on offer: ${names.join(', ')} (ACME_PROFILE unset: the CA's default)` : ''}` };
    } catch (error) {
      return { name: 'ca', status: 'failed', message: `${step}: ${errorMessage(error)}` };
    }
  }

  private async checkDns(first: DomainCandidate | undefined): Promise<DryRunCheck> {
    const { dns } = this.deps;
    if (!first) return { name: 'dns', status: 'skipped', message: `checking the DNS provider (${dns.name}): not checked (no domain selected to check against)` };
    const fqdn = `_acme-challenge.${first.name}`;
    try {
      if (dns.verifyAccess) {
        await dns.verifyAccess(first.zoneId);
        return { name: 'dns', status: 'ok', message: `checking the DNS provider (${dns.name}) credentials for zone ${first.zoneId}: accepted` };
      }
      const values = await dns.listTxt(first.zoneId, fqdn);
      return { name: 'dns', status: 'ok', message: `checking the DNS provider (${dns.name}) credentials: listed ${values.length} TXT value(s) at ${fqdn} in zone ${first.zoneId}` };
    } catch (error) {
      return { name: 'dns', status: 'failed', message: `checking the DNS provider (${dns.name}) credentials for zone ${first.zoneId}: ${errorMessage(error)}` };
    }
  }

  private async checkFastly(testmode: boolean): Promise<DryRunCheck> {
    const { fastly, settings } = this.deps;
    const step = 'checking the Fastly token and FASTLY_TLS_CONFIGURATION_ID';
    const missing = !fastly ? 'FASTLY_API_TOKEN is not set' : !settings.fastlyConfigurationId ? 'FASTLY_TLS_CONFIGURATION_ID is not set' : undefined;
    if (missing || !fastly || !settings.fastlyConfigurationId) {
      return testmode
        ? { name: 'fastly', status: 'skipped', message: `${step}: not checked in testmode (${missing ?? 'not configured'})` }
        : { name: 'fastly', status: 'failed', message: `${step}: ${missing ?? 'not configured'}; uploads would fail` };
    }
    const id = settings.fastlyConfigurationId;
    try {
      const configuration = await fastly.getTlsConfiguration(id);
      // The official client's model drops `name` (TlsConfigurationResponseData replaces the attributes), so it may be empty.
      const named = configuration.name ? ` (${configuration.name})` : '';
      if (!configuration.bulk) {
        return { name: 'fastly', status: 'failed', message: `${step}: TLS configuration ${id}${named} is not a Platform TLS (bulk) configuration` };
      }
      return { name: 'fastly', status: 'ok', message: `${step}: the token reads TLS configuration ${id}${named}` };
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      const cause =
        status === 401 || status === 403
          ? `Fastly refused the token (HTTP ${status}); check FASTLY_API_TOKEN and its TLS scope`
          : status === 404
            ? `TLS configuration ${id} does not exist (HTTP 404); check FASTLY_TLS_CONFIGURATION_ID`
            : errorMessage(error);
      return { name: 'fastly', status: 'failed', message: `${step}: ${cause}` };
    }
  }
}

/** Whether any check failed (the CLI's exit status). */
export function dryRunFailed(report: DryRunReport): boolean {
  return report.checks.some((c) => c.status === 'failed');
}
