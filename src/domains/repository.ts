import type { Db, DbProvider } from '../db/client.js';
import type { Clock } from '../clock.js';

/** The issuer value the Python AutoTLS writes for certificates it obtained. */
export const LETS_ENCRYPT_ISSUER = 'Lets Encrypt';
export const UPDATED_BY = 'tlstool';

export interface DomainCandidate {
  id: number;
  name: string;
  zoneId: string;
  tlsExpDate: Date | null;
  tlsIssuer: string | null;
}

export interface EligibilityOptions {
  limit: number;
  excluded: readonly string[];
  /** The seed's fixed window, used for Let's Encrypt domains AutoTLS has no renewal time for. */
  windowDays: number;
}

export interface CertificateRecord {
  domainId: number;
  fastlyId: string;
  notBefore: Date;
  notAfter: Date;
  nextRenewalAt: Date;
  /** When to ask the CA's ARI again; null: at the next run. */
  ariCheckAfter: Date | null;
}

/** Phases with material that must be finished without a new order. */
export const RESUMABLE_PHASES = ['stored', 'uploaded'] as const;

/**
 * Domain records: eligibility (contract section 4) and the one transaction that
 * records a certificate. The eligibility query is plain SQL, one dialect each,
 * because it compares columns across the seed's table and ours and must stay
 * cheap at 100k rows (indexes on tls_exp_date and next_renewal_at).
 */
export class DomainRepository {
  constructor(
    private readonly db: Db,
    private readonly provider: DbProvider,
    private readonly clock: Clock,
  ) {}

  async findByName(name: string): Promise<DomainCandidate | undefined> {
    const row = await this.db.domain.findUnique({ where: { name } });
    if (!row) return undefined;
    return { id: row.id, name: row.name, zoneId: row.zoneId ?? '', tlsExpDate: row.tlsExpDate, tlsIssuer: row.tlsIssuer };
  }

  /**
   * Domains due for a certificate, in the seed's order: first those whose
   * certificate is not from Let's Encrypt, then Let's Encrypt ones that are due.
   * A Let's Encrypt domain is due when its persisted next-renewal time has come;
   * when AutoTLS has no renewal time for it (a database inherited from the Python
   * AutoTLS), or someone moved `tls_exp_date` before the expiry AutoTLS recorded,
   * the seed's fixed window applies. Domains with a stored certificate that was
   * not yet uploaded or recorded are always due, so they are resumed. Domains in
   * backoff are left out here and reported by `selectBackedOff`.
   */
  async selectDue(options: EligibilityOptions): Promise<DomainCandidate[]> {
    if (options.limit <= 0) return [];
    const nonLe = await this.queryEligible(this.notLetsEncrypt, options, options.limit);
    const remaining = options.limit - nonLe.length;
    if (remaining <= 0) return nonLe;
    const le = await this.queryEligible(this.letsEncryptDue(options.windowDays), options, remaining);
    return [...nonLe, ...le];
  }

  /**
   * Whether a selected domain is still due once its lease is held: another run
   * may have renewed it between our selection and our claim.
   */
  async isStillDue(domainId: number, options: Omit<EligibilityOptions, 'limit'>): Promise<boolean> {
    const eligible = { ...options, limit: 1, onlyId: domainId };
    return (
      (await this.queryEligible(this.notLetsEncrypt, eligible, 1)).length > 0 ||
      (await this.queryEligible(this.letsEncryptDue(options.windowDays), eligible, 1)).length > 0
    );
  }

  private readonly notLetsEncrypt = `(d.tls_issuer IS NULL OR d.tls_issuer <> '${LETS_ENCRYPT_ISSUER}')`;

  private letsEncryptDue(windowDays: number): (param: (value: unknown) => string) => string {
    const now = this.clock.now();
    const cutoff = new Date(now.getTime() + windowDays * 86_400_000);
    return (p) => {
      // Candidate ids from three index range scans (due renewal times, resumable
      // phases, Let's Encrypt certificates expiring before the cutoff); the full
      // condition below then decides. Without them no index can drive the query
      // and it walks every domain. PostgreSQL: ARRAY(...) runs first and is probed
      // through the primary key; with IN (...) the planner misjudges the union's size.
      const candidates = `SELECT domain_id FROM autotls_domain_state WHERE next_renewal_at <= ${p(now)}
          UNION SELECT domain_id FROM autotls_domain_state WHERE phase IN ('stored', 'uploaded')
          UNION SELECT id FROM domains WHERE tls_issuer = '${LETS_ENCRYPT_ISSUER}' AND tls_exp_date < ${p(cutoff)}`;
      return `${this.provider === 'postgresql' ? `d.id = ANY (ARRAY(${candidates}))` : `d.id IN (${candidates})`}
        AND d.tls_issuer = '${LETS_ENCRYPT_ISSUER}'
        AND (
          s.next_renewal_at <= ${p(now)}
          OR s.phase IN ('stored', 'uploaded')
          OR (d.tls_exp_date < ${p(cutoff)} AND (s.next_renewal_at IS NULL OR s.cert_not_after IS NULL OR d.tls_exp_date < s.cert_not_after))
        )`;
    };
  }

  private async queryEligible(
    condition: string | ((param: (value: unknown) => string) => string),
    options: EligibilityOptions & { onlyId?: number },
    limit: number,
  ): Promise<DomainCandidate[]> {
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return this.provider === 'postgresql' ? `$${params.length}` : '?';
    };
    const now = this.clock.now();
    const exclusion = options.excluded.length > 0 ? `AND d.name NOT IN (${options.excluded.map(param).join(', ')})` : '';
    const backoff = param(now);
    const extra = typeof condition === 'string' ? condition : condition(param);
    const sql = `SELECT d.id AS id, d.name AS name, d.zone_id AS "zoneId", d.tls_exp_date AS "tlsExpDate", d.tls_issuer AS "tlsIssuer"
      FROM domains d LEFT JOIN autotls_domain_state s ON s.domain_id = d.id
      WHERE d.owned = ${this.provider === 'postgresql' ? 'true' : '1'}
        AND (d.status IS NULL OR d.status NOT IN ('Parked', 'Expired'))
        AND d.zone_id IS NOT NULL AND d.zone_id <> ''
        ${exclusion}
        AND (s.backoff_until IS NULL OR s.backoff_until <= ${backoff} OR s.phase IN ('stored', 'uploaded'))
        AND ${extra}
        ${options.onlyId === undefined ? '' : `AND d.id = ${param(options.onlyId)}`}
      ORDER BY d.tls_exp_date ASC LIMIT ${param(limit)}`;
    const rows = await this.db.$queryRawUnsafe<DomainCandidate[]>(sql, ...params);
    return rows.map(normalise);
  }

  /** Otherwise eligible domains that sit in their failure backoff (reported as `deferred`). */
  async selectBackedOff(limit: number, excluded: readonly string[]): Promise<Array<DomainCandidate & { backoffUntil: Date }>> {
    const rows = await this.db.domainState.findMany({
      where: {
        backoffUntil: { gt: this.clock.now() },
        phase: { notIn: [...RESUMABLE_PHASES] },
        // The same base rules as selectDue.
        domain: {
          owned: true,
          NOT: [{ zoneId: null }, { zoneId: '' }],
          name: { notIn: [...excluded] },
          OR: [{ status: null }, { status: { notIn: ['Parked', 'Expired'] } }],
        },
      },
      include: { domain: true },
      orderBy: { backoffUntil: 'asc' },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.domain.id,
      name: r.domain.name,
      zoneId: r.domain.zoneId ?? '',
      tlsExpDate: r.domain.tlsExpDate,
      tlsIssuer: r.domain.tlsIssuer,
      backoffUntil: r.backoffUntil as Date,
    }));
  }

  /** Corrects `tls_exp_date` to the certificate actually served. */
  async updateExpiry(domainId: number, notAfter: Date): Promise<void> {
    await this.db.domain.update({ where: { id: domainId }, data: { tlsExpDate: notAfter } });
  }

  /**
   * Contract section 4: one transaction inserts the `tls` row and updates the
   * `domains` row, and AutoTLS's own state moves to `recorded`.
   */
  async recordCertificate(record: CertificateRecord): Promise<number> {
    const now = this.clock.now();
    return this.db.$transaction(async (tx) => {
      const tls = await tx.tls.create({
        data: { fastlyId: record.fastlyId, notAfter: record.notAfter, notBefore: record.notBefore, createdAt: now },
      });
      await tx.domain.update({
        where: { id: record.domainId },
        data: {
          tlsId: tls.id,
          tlsExpDate: record.notAfter,
          tlsIssuer: LETS_ENCRYPT_ISSUER,
          lastUpdated: now,
          lastUpdatedBy: UPDATED_BY,
        },
      });
      await tx.domainState.update({
        where: { domainId: record.domainId },
        data: {
          phase: 'recorded',
          nextRenewalAt: record.nextRenewalAt,
          ariCheckAfter: record.ariCheckAfter,
          failureCount: 0,
          backoffUntil: null,
          lastError: null,
        },
      });
      return tls.id;
    });
  }
}

function normalise(row: DomainCandidate): DomainCandidate {
  return {
    id: Number(row.id),
    name: row.name,
    zoneId: row.zoneId ?? '',
    tlsExpDate: row.tlsExpDate === null ? null : new Date(row.tlsExpDate),
    tlsIssuer: row.tlsIssuer,
  };
}
