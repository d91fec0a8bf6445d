import type { Db } from '../db/client.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { ariRenewalTime, nextAriCheck } from '../certificates/renewal-policy.js';
import { LETS_ENCRYPT_ISSUER } from '../domains/repository.js';
import { errorMessage, secretName } from './domain-flow.js';
import { forEachConcurrent } from '../util/pool.js';

export interface AriRefreshDeps {
  db: Db;
  secrets: SecretsStore;
  issuer: () => Promise<CertificateIssuer>;
  clock: Clock;
  random: () => number;
  logger: Logger;
  pemSecretBasePath: string;
}

/** How long to wait before asking again a CA that offers no ARI. */
const NO_ARI_RECHECK_MS = 24 * 3600_000;

/**
 * Refreshes the persisted next-renewal time of certificates from ACME Renewal
 * Information (RFC 9773): for each recorded certificate whose check is due, ask
 * the CA for its suggested window and keep (or pick) a random time inside it.
 * A window already in the past makes the domain due now. Checks honour
 * Retry-After, and happen at most twice a day per certificate.
 */
export class AriRefresher {
  constructor(private readonly deps: AriRefreshDeps) {}

  /** Checks up to `limit` certificates; returns how many windows were read. */
  async refresh(limit: number, concurrency = 5): Promise<number> {
    const { db, clock, logger } = this.deps;
    const now = clock.now();
    const due = await db.domainState.findMany({
      where: {
        phase: 'recorded',
        certId: { not: null },
        leaseOwner: null,
        OR: [{ ariCheckAfter: null }, { ariCheckAfter: { lte: now } }],
        domain: { tlsIssuer: LETS_ENCRYPT_ISSUER },
      },
      select: { domainId: true, nextRenewalAt: true, domain: { select: { name: true } } },
      orderBy: { nextRenewalAt: 'asc' },
      take: limit,
    });
    if (due.length === 0) return 0;
    let issuer: CertificateIssuer;
    try {
      issuer = await this.deps.issuer();
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'ARI refresh skipped: the ACME account is not available');
      return 0;
    }
    let read = 0;
    await forEachConcurrent(due, concurrency, async (row) => {
      try {
        if (await this.refreshOne(issuer, row.domainId, row.domain.name, row.nextRenewalAt)) read++;
      } catch (error) {
        logger.warn({ domain: row.domain.name, err: errorMessage(error) }, 'ARI check failed; keeping the current renewal time');
        await db.domainState.update({ where: { domainId: row.domainId }, data: { ariCheckAfter: nextAriCheck(clock.now(), undefined) } });
      }
    });
    return read;
  }

  private async refreshOne(issuer: CertificateIssuer, domainId: number, domain: string, current: Date | null): Promise<boolean> {
    const { db, clock, secrets, pemSecretBasePath, logger, random } = this.deps;
    const now = clock.now();
    const fullchain = await secrets.get(secretName(pemSecretBasePath, domain, 'fullchain'));
    if (!fullchain) {
      await db.domainState.update({ where: { domainId }, data: { ariCheckAfter: new Date(now.getTime() + NO_ARI_RECHECK_MS) } });
      return false;
    }
    const info = await issuer.renewalInfo(fullchain);
    if (!info) {
      await db.domainState.update({ where: { domainId }, data: { ariCheckAfter: new Date(now.getTime() + NO_ARI_RECHECK_MS) } });
      return false;
    }
    const { start, end } = info.suggestedWindow;
    // A time already picked inside an unchanged window stays; a moved window gets a new pick.
    const keep = current !== null && current >= start && current <= end && end > now;
    const nextRenewalAt = keep ? current : ariRenewalTime(info.suggestedWindow, random, now);
    await db.domainState.update({
      where: { domainId },
      data: { nextRenewalAt, ariCheckAfter: nextAriCheck(now, info.retryAfterSeconds) },
    });
    if (info.explanationUrl) logger.info({ domain, explanationUrl: info.explanationUrl }, 'ARI explanation');
    if (!keep) logger.info({ domain, window: info.suggestedWindow, nextRenewalAt }, 'renewal time set from ARI');
    return true;
  }
}
