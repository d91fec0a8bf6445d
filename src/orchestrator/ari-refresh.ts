import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { ARI_ERROR_RETRY_MS, ARI_MAX_CHECK_INTERVAL_MS, nextAriCheck, scheduleFromAri } from '../certificates/renewal-policy.js';
import type { AriCandidate, DomainStateStore } from '../domains/state.js';
import { errorMessage } from '../util/errors.js';
import { forEachConcurrent } from '../util/pool.js';

export interface AriRefreshDeps {
  state: DomainStateStore;
  /** The primary CA's account. */
  issuer: () => Promise<CertificateIssuer>;
  /**
   * The account at the CA that issued a certificate (its `cert_ca`; null: the
   * primary), when a fallback CA is configured: ARI is asked of the issuing CA
   * (RFC 9773 §4.1: the renewalInfo resource of the CA that issued it).
   */
  issuerFor?: (certCa: string | null) => Promise<CertificateIssuer>;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Called with every check's result (the autotls_ari_checks_total counter). */
  onCheck?: (result: AriCheckResult) => void;
}

/** How long to wait before asking again about a certificate the CA offers no ARI for. */
const NO_ARI_RECHECK_MS = ARI_MAX_CHECK_INTERVAL_MS;
/** Certificates read per page: the fleet is never read at once. */
const DEFAULT_PAGE_SIZE = 100;

/** A check done, not yet written. */
interface Checked {
  row: AriCandidate;
  result: AriCheckResult;
  /** Set when the renewal time moved. */
  nextRenewalAt?: Date;
  /** The next check, counted from when the page is written. */
  checkAfter: (at: Date) => Date;
}

/** What one check found out about one certificate. */
export interface AriCheckResult {
  domain: string;
  /**
   * - `moved`: the renewal time changed (a new window, or a window in the past: renew now);
   * - `unchanged`: the time picked earlier still lies in the window;
   * - `no-ari`: the CA offers no ARI;
   * - `busy`: a run holds the domain (or renewed it meanwhile): nothing written;
   * - `failed`: the CA did not answer usefully; asked again in an hour.
   */
  status: 'moved' | 'unchanged' | 'no-ari' | 'busy' | 'failed';
  before: Date | null;
  after: Date | null;
  window?: { start: Date; end: Date };
  nextCheck?: Date;
  explanationUrl?: string;
  error?: string;
}

export interface RefreshOptions {
  /** At most this many certificates (default: every one that is due). */
  limit?: number;
  concurrency?: number;
  pageSize?: number;
  /** Called after each certificate, e.g. for progress on a terminal. */
  onResult?: (result: AriCheckResult) => void;
}

/**
 * ACME Renewal Information (RFC 9773) for the whole fleet, on its own schedule.
 *
 * Which certificates: every recorded Let's Encrypt certificate of a domain that
 * is still managed (owned, not Parked or Expired) and not yet expired: RFC 9773
 * §4.3 says not to check certificates that have expired. They are read page by
 * page in order of next check (never checked first), so a fleet of any size is
 * covered, the longest-waiting first, without reading it all at once.
 *
 * What a check does: ask the CA for the suggested window, keep or pick a renewal
 * time inside it (scheduleFromAri, shared with domain-flow.ts), and ask again
 * after the CA's Retry-After, clamped to between 1 minute and 24 hours. A window
 * in the past (a revocation notice) makes the domain due now. Writes go through
 * DomainStateStore.recordAriChecks (one statement per page), which leaves a domain alone while a run holds it.
 */
export class AriRefresher {
  constructor(private readonly deps: AriRefreshDeps) {}

  /** Checks every certificate whose check is due (up to `limit`); returns how many windows were read. */
  async refresh(limit?: number, concurrency = 5): Promise<number> {
    const results = await this.refreshDue({ ...(limit !== undefined ? { limit } : {}), concurrency });
    return results.filter((r) => r.status === 'moved' || r.status === 'unchanged').length;
  }

  /** As refresh(), returning what each check found. */
  async refreshDue(options: RefreshOptions = {}): Promise<AriCheckResult[]> {
    return this.sweep((after, take) => this.deps.state.ariCandidates({ which: 'due', take, ...(after ? { after } : {}) }), options);
  }

  /**
   * `autotls ari refresh`: asks the CA now, whatever the next check says, for
   * one domain or (without `domain`) every checkable certificate. Expired and
   * unmanaged certificates are still left out.
   */
  async refreshNow(options: RefreshOptions & { domain?: string } = {}): Promise<AriCheckResult[]> {
    const domain = options.domain;
    return this.sweep(
      (after, take) => this.deps.state.ariCandidates({ which: 'all', take, ...(after ? { after } : {}), ...(domain !== undefined ? { domain } : {}) }),
      options,
    );
  }

  /** Whether `domain` has a certificate that ARI can be asked about (recorded, managed, not expired). */
  async isCheckable(domain: string): Promise<boolean> {
    return (await this.deps.state.ariCandidates({ which: 'all', domain, take: 1 })).length > 0;
  }

  /** The earliest pending check among checkable certificates (for a timer); undefined when there is none. */
  async nextCheckAt(): Promise<Date | undefined> {
    return this.deps.state.nextAriCheckAt();
  }

  /** Pages through `page` (a keyset query after the last row seen) and checks each row. */
  private async sweep(page: (after: AriCandidate | undefined, take: number) => Promise<AriCandidate[]>, options: RefreshOptions): Promise<AriCheckResult[]> {
    const { logger } = this.deps;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const pageSize = Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE);
    const results: AriCheckResult[] = [];
    // One connected account per CA, looked up once per sweep.
    const issuers = new Map<string, CertificateIssuer>();
    const unavailable = new Map<string, string>();
    let after: AriCandidate | undefined;
    while (results.length < limit) {
      const rows = await page(after, Math.min(pageSize, limit - results.length));
      if (rows.length === 0) break;
      after = rows[rows.length - 1];
      for (const ca of new Set(rows.map((r) => this.caKey(r.certCa)))) {
        if (issuers.has(ca) || unavailable.has(ca)) continue;
        try {
          issuers.set(ca, await (this.deps.issuerFor ? this.deps.issuerFor(ca || null) : this.deps.issuer()));
        } catch (error) {
          logger.warn({ err: errorMessage(error), ca: ca || undefined }, 'ARI refresh skipped: the ACME account is not available');
          const message = `asking the CA for renewal information: the ACME account${ca ? ` at ${ca}` : ''} is not available: ${errorMessage(error)}`;
          // One CA: the refresh cannot do anything. Two: the other CA's certificates are still checked.
          if (!this.deps.issuerFor) throw new Error(message, { cause: error });
          unavailable.set(ca, message);
        }
      }
      const checked: Checked[] = [];
      const unanswered: AriCheckResult[] = [];
      await forEachConcurrent(rows, options.concurrency ?? 5, async (row) => {
        const issuer = issuers.get(this.caKey(row.certCa));
        // Without the CA's account nothing is written: the certificate stays due for a check, and the next sweep asks again.
        if (issuer) checked.push(await this.checkOne(issuer, row));
        else unanswered.push({ domain: row.domain, status: 'failed', before: row.nextRenewalAt, after: row.nextRenewalAt, error: unavailable.get(this.caKey(row.certCa)) ?? 'the CA is not available' });
      });
      for (const result of [...(await this.record(checked)), ...unanswered]) {
        results.push(result);
        this.deps.onCheck?.(result);
        options.onResult?.(result);
      }
      if (rows.length < pageSize) break;
    }
    return results;
  }

  /** Rows of one CA share an account; without issuerFor, every row goes to the primary. */
  private caKey(certCa: string | null): string {
    return this.deps.issuerFor ? (certCa ?? '') : '';
  }

  /** Asks the CA about one certificate; what to write is decided here, written per page by `record`. */
  private async checkOne(issuer: CertificateIssuer, row: AriCandidate): Promise<Checked> {
    const { clock, logger, random } = this.deps;
    const { domain } = row;
    const base: AriCheckResult = { domain, status: 'failed', before: row.nextRenewalAt, after: row.nextRenewalAt };
    try {
      const info = await issuer.renewalInfo(row.certId);
      if (!info) return { row, result: { ...base, status: 'no-ari' }, checkAfter: (at) => new Date(at.getTime() + NO_ARI_RECHECK_MS) };
      const schedule = scheduleFromAri(info, clock.now(), random, row.nextRenewalAt);
      if (info.explanationUrl) logger.info({ domain, explanationUrl: info.explanationUrl }, 'ARI explanation');
      const moved = row.nextRenewalAt?.getTime() !== schedule.nextRenewalAt.getTime();
      if (moved) logger.info({ domain, window: info.suggestedWindow, nextRenewalAt: schedule.nextRenewalAt }, 'renewal time set from ARI');
      return {
        row,
        result: {
          ...base,
          status: moved ? 'moved' : 'unchanged',
          after: schedule.nextRenewalAt,
          window: info.suggestedWindow,
          ...(info.explanationUrl ? { explanationUrl: info.explanationUrl } : {}),
        },
        // An unchanged renewal time is not written again: only the next check.
        ...(moved ? { nextRenewalAt: schedule.nextRenewalAt } : {}),
        checkAfter: (at) => nextAriCheck(at, info.retryAfterSeconds),
      };
    } catch (error) {
      const message = `asking the CA for renewal information about ${domain}: ${errorMessage(error)}`;
      logger.warn({ domain, err: errorMessage(error) }, 'ARI check failed; keeping the current renewal time');
      return { row, result: { ...base, status: 'failed', error: message }, checkAfter: (at) => new Date(at.getTime() + ARI_ERROR_RETRY_MS) };
    }
  }

  /**
   * Writes a page of checks (DomainStateStore.recordAriChecks: one statement for
   * the usual page). The next checks count from when the page's last answer came,
   * so none is asked again before its Retry-After.
   */
  private async record(checked: readonly Checked[]): Promise<AriCheckResult[]> {
    const at = this.deps.clock.now();
    const writes = checked.map((c) => ({
      domainId: c.row.domainId,
      certId: c.row.certId,
      ariCheckAfter: c.checkAfter(at),
      ...(c.nextRenewalAt ? { nextRenewalAt: c.nextRenewalAt } : {}),
    }));
    let written: Set<number>;
    try {
      written = await this.deps.state.recordAriChecks(writes);
    } catch (error) {
      const failed = checked.filter((c) => c.result.status === 'failed');
      if (failed.length < checked.length) throw error;
      // Only failed checks on the page: the CA's error stays the news.
      return failed.map((c) => ({ ...c.result, error: `${c.result.error ?? ''}; recording the check: ${errorMessage(error)}` }));
    }
    return checked.map((c, i) => {
      if (!written.has(c.row.domainId)) {
        const { domain, before } = c.result;
        return c.result.status === 'failed' ? c.result : { domain, status: 'busy' as const, before, after: before };
      }
      return { ...c.result, nextCheck: writes[i]?.ariCheckAfter as Date };
    });
  }
}
