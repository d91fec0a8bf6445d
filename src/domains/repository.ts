import type { Db, DbProvider } from '../db/client.js';
import type { Clock } from '../clock.js';
import { DomainStateStore, type DomainState } from './state.js';

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
  /**
   * At most this many domains that need a new order (no Let's Encrypt certificate
   * yet, or another CA's); Let's Encrypt renewals fill the rest of `limit`. The
   * continuous schedule passes the order budget's headroom, so a large import is
   * spread over the budget while renewals keep their place.
   */
  newOrdersLimit?: number;
  /**
   * Fastly refuses uploads until its write allowance resets (UploadHold): domains
   * whose stored certificate waits for its upload are left out until then.
   */
  uploadsHeld?: boolean;
}

export interface CertificateRecord {
  domainId: number;
  /** The run's lease on the domain: recording happens under it. */
  leaseOwner: string;
  fastlyId: string;
  notBefore: Date;
  notAfter: Date;
  nextRenewalAt: Date;
  /** When to ask the CA's ARI again; null: at the next run. */
  ariCheckAfter: Date | null;
}

/** Phases with material that must be finished without a new order. */
export const RESUMABLE_PHASES = ['stored', 'uploaded'] as const;

/** A due domain with its deadline (contract section 4's urgency). */
interface RankedCandidate extends DomainCandidate {
  /** When it must be renewed: the renewal time where AutoTLS has one, else `tls_exp_date`; null: no certificate. */
  deadline: Date | null;
}

/**
 * Domain records: eligibility (contract section 4) and the one transaction that
 * records a certificate. The eligibility query is plain SQL, one dialect each,
 * because it compares columns across the seed's table and ours and must stay
 * cheap at 100k rows (partial and expression indexes, see the migrations).
 *
 * Dates. The Python AutoTLS (SQLAlchemy on SQLite) stores `2026-12-16 23:05:51.000000`;
 * Prisma's better-sqlite3 adapter binds and writes `2026-12-16T22:12:37.000+00:00`.
 * SQLite compares them as text, and a space sorts before `T`. Every comparison
 * or ordering that touches a column the Python AutoTLS also writes (`domains`,
 * `tls`) therefore goes through `instant()`: `julianday(x)` on SQLite, which
 * reads both forms as the same instant, and the column itself on PostgreSQL,
 * whose timestamp types compare instants already. AutoTLS's own tables only ever
 * hold the adapter's fixed-width form, so their text comparisons stay as they
 * are and keep their plain indexes.
 */
export class DomainRepository {
  constructor(
    private readonly db: Db,
    private readonly provider: DbProvider,
    private readonly clock: Clock,
    private readonly state: DomainStateStore = new DomainStateStore(db, clock),
  ) {}

  async findByName(name: string): Promise<DomainCandidate | undefined> {
    const row = await this.db.domain.findUnique({ where: { name } });
    if (!row) return undefined;
    return { id: row.id, name: row.name, zoneId: row.zoneId ?? '', tlsExpDate: row.tlsExpDate, tlsIssuer: row.tlsIssuer };
  }

  /**
   * Domains due for a certificate, most urgent first (contract section 4):
   * domains with no certificate, then by deadline, ascending. The deadline is
   * AutoTLS's renewal time where it has one, else `tls_exp_date`; so a domain of
   * another CA whose certificate runs for months waits behind a Let's Encrypt
   * renewal due now.
   *
   * Candidates: every domain whose certificate is not from Let's Encrypt, and the
   * Let's Encrypt ones that are due. A Let's Encrypt domain is due when its
   * persisted next-renewal time has come; when AutoTLS has no renewal time for it
   * (a database inherited from the Python AutoTLS), or someone moved
   * `tls_exp_date` before the expiry AutoTLS recorded, the seed's fixed window
   * applies. Domains with a stored certificate that was not yet uploaded or
   * recorded are always due, so they are resumed. Domains in backoff are left
   * out here and reported by `selectBackedOff`.
   *
   * Two statements, each driven by its own index. Other issuers first: their
   * `limit` most urgent rows; when they fill the limit, the last one's deadline
   * bounds the Let's Encrypt statement's candidate scans, so a backlog of due
   * renewals that cannot make the cut is never read. Merging is exact.
   */
  async selectDue(options: EligibilityOptions): Promise<DomainCandidate[]> {
    if (options.limit <= 0) return [];
    const othersLimit = Math.min(options.limit, Math.max(0, options.newOrdersLimit ?? options.limit));
    const others = othersLimit > 0 ? await this.queryEligible(this.notLetsEncrypt, options, othersLimit) : [];
    const bound = others.length === options.limit ? (others[others.length - 1] as RankedCandidate).deadline : undefined;
    const letsEncrypt = await this.queryEligible(this.letsEncryptDue(options.windowDays, bound), options, options.limit);
    return [...others, ...letsEncrypt].sort(byUrgency).slice(0, options.limit).map(withoutDeadline);
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

  /** A date column or parameter as an instant that compares correctly whatever its text form (see the class comment). */
  private instant(expression: string): string {
    return this.provider === 'sqlite' ? `julianday(${expression})` : expression;
  }

  /** A date read back as ISO-8601 UTC, so the driver never guesses a time zone for the Python AutoTLS's form. */
  private readDate(expression: string): string {
    return this.provider === 'sqlite' ? `strftime('%Y-%m-%dT%H:%M:%fZ', ${expression})` : expression;
  }

  private readonly notLetsEncrypt: Condition = {
    where: () => `(d.tls_issuer IS NULL OR d.tls_issuer <> '${LETS_ENCRYPT_ISSUER}')`,
    // AutoTLS keeps no renewal time for another CA's certificate: its expiry is the deadline.
    // Walks domains_other_issuer_urgency_idx in order and stops at the limit.
    deadline: 'd.tls_exp_date',
    orderBy: () => (this.provider === 'sqlite' ? 'julianday(d.tls_exp_date) ASC, d.id ASC' : 'd.tls_exp_date ASC NULLS FIRST, d.id ASC'),
  };

  /**
   * `bound`: only rows whose deadline is at most this are wanted (null: only
   * rows with no deadline); undefined: every due row.
   */
  private letsEncryptDue(windowDays: number, bound?: Date | null): Condition {
    const now = this.clock.now();
    const cutoff = new Date(now.getTime() + windowDays * 86_400_000);
    const at = (e: string): string => this.instant(e);
    // AutoTLS has no usable renewal time when it has none, or when tls_exp_date was
    // moved before the expiry it recorded: then the seed's window and tls_exp_date decide.
    const noRenewalTime = `(s.next_renewal_at IS NULL OR s.cert_not_after IS NULL OR ${at('d.tls_exp_date')} < ${at('s.cert_not_after')})`;
    const deadline = `CASE WHEN ${noRenewalTime} THEN d.tls_exp_date ELSE s.next_renewal_at END`;
    // Candidate scans. A due row's deadline is its next_renewal_at (found by the
    // first scan) or its tls_exp_date (the third scan when the window makes it
    // due, else the first); under a bound each scan stops at the bound, which
    // still finds every due row whose deadline is within it.
    // With a null bound only rows without a deadline count: a resumable row has one
    // unless its tls_exp_date is NULL, and then the expiry scan finds it.
    const renewalScan = (p: (value: unknown) => string): string =>
      bound === null
        ? ''
        : `SELECT domain_id FROM autotls_domain_state WHERE next_renewal_at <= ${p(bound !== undefined && bound < now ? bound : now)}
          UNION SELECT domain_id FROM autotls_domain_state WHERE phase IN ('stored', 'uploaded') UNION `;
    const expiryScan = (p: (value: unknown) => string): string =>
      bound === null
        ? `${at('tls_exp_date')} IS NULL`
        : `${at('tls_exp_date')} < ${at(p(cutoff))}${bound === undefined ? '' : ` AND ${at('tls_exp_date')} <= ${at(p(bound))}`}`;
    return {
      where: (p) => {
        // Candidate ids from three index range scans (due renewal times, resumable
        // phases, Let's Encrypt certificates expiring before the cutoff); the full
        // condition below then decides. Without them no index can drive the query
        // and it walks every domain. PostgreSQL: ARRAY(...) runs first and is probed
        // through the primary key; with IN (...) the planner misjudges the union's size.
        const candidates = `${renewalScan(p)}SELECT id FROM domains WHERE tls_issuer = '${LETS_ENCRYPT_ISSUER}' AND ${expiryScan(p)}`;
        return `${this.provider === 'postgresql' ? `d.id = ANY (ARRAY(${candidates}))` : `d.id IN (${candidates})`}
        AND d.tls_issuer = '${LETS_ENCRYPT_ISSUER}'
        AND (
          s.next_renewal_at <= ${p(now)}
          OR s.phase IN ('stored', 'uploaded')
          OR (${at('d.tls_exp_date')} < ${at(p(cutoff))} AND ${noRenewalTime})
        )`;
      },
      deadline,
      // A handful of due rows: sorting them costs nothing.
      orderBy: () => (this.provider === 'sqlite' ? `julianday(${deadline}) ASC, d.id ASC` : `${deadline} ASC NULLS FIRST, d.id ASC`),
    };
  }

  private async queryEligible(condition: Condition, options: EligibilityOptions & { onlyId?: number }, limit: number): Promise<RankedCandidate[]> {
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return this.provider === 'postgresql' ? `$${params.length}` : '?';
    };
    const now = this.clock.now();
    const exclusion = options.excluded.length > 0 ? `AND d.name NOT IN (${options.excluded.map(param).join(', ')})` : '';
    const backoff = param(now);
    const extra = condition.where(param);
    const sql = `SELECT d.id AS id, d.name AS name, d.zone_id AS "zoneId", ${this.readDate('d.tls_exp_date')} AS "tlsExpDate",
        d.tls_issuer AS "tlsIssuer", ${this.readDate(condition.deadline)} AS deadline
      FROM domains d LEFT JOIN autotls_domain_state s ON s.domain_id = d.id
      WHERE d.owned = ${this.provider === 'postgresql' ? 'true' : '1'}
        AND (d.status IS NULL OR d.status NOT IN ('Parked', 'Expired'))
        AND d.zone_id IS NOT NULL AND d.zone_id <> ''
        ${exclusion}
        AND (s.backoff_until IS NULL OR s.backoff_until <= ${backoff} OR s.phase IN ('stored', 'uploaded'))
        AND ${extra}
        ${options.uploadsHeld ? `AND (s.phase IS NULL OR s.phase <> 'stored')` : ''}
        ${options.onlyId === undefined ? '' : `AND d.id = ${param(options.onlyId)}`}
      ORDER BY ${condition.orderBy()} LIMIT ${param(limit)}`;
    const rows = await this.db.$queryRawUnsafe<RawCandidate[]>(sql, ...params);
    return rows.map(normalise);
  }

  /** Otherwise eligible domains that sit in their failure backoff (reported as `deferred`). */
  async selectBackedOff(limit: number, excluded: readonly string[]): Promise<Array<DomainCandidate & { backoffUntil: Date }>> {
    const rows = await this.db.domainState.findMany({
      where: {
        backoffUntil: { gt: this.clock.now() },
        phase: { notIn: [...RESUMABLE_PHASES] },
        // The same base rules as selectDue.
        domain: managedDomain(excluded),
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
   * `domains` row, and AutoTLS's own state moves to `recorded` (through the
   * state store, under the run's lease: a lost lease rolls it all back).
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
      await this.state.markRecorded(tx, record.domainId, record.leaseOwner, { nextRenewalAt: record.nextRenewalAt, ariCheckAfter: record.ariCheckAfter });
      return tls.id;
    });
  }

  // --- The operator's view and edits (CLI `domains ...` and `status`) -------

  /** Adds an owned domain; an existing name is returned unchanged. */
  async addDomain(name: string, zoneId: string): Promise<{ added: DomainRecord } | { existing: DomainRecord }> {
    const existing = await this.db.domain.findUnique({ where: { name } });
    if (existing) return { existing: toRecord(existing) };
    const row = await this.db.domain.create({ data: { name, tld: tldOf(name), zoneId, owned: true } });
    return { added: toRecord(row) };
  }

  async listDomains(): Promise<DomainRecord[]> {
    const rows = await this.db.domain.findMany({ orderBy: { name: 'asc' } });
    return rows.map(toRecord);
  }

  /**
   * Adds or updates (zone, status) every row, in one transaction: all or nothing.
   * Prisma ends an interactive transaction after 5 s by default, which a CSV of
   * thousands of rows on a busy PostgreSQL outlasts; the import gets a minute per
   * 10,000 rows (at least one).
   */
  async importDomains(rows: ReadonlyArray<{ name: string; zoneId: string; status: string | null }>): Promise<{ added: number; updated: number }> {
    const timeout = 60_000 * Math.max(1, Math.ceil(rows.length / 10_000));
    return this.db.$transaction(async (tx) => {
      let added = 0;
      let updated = 0;
      for (const row of rows) {
        const existing = await tx.domain.findUnique({ where: { name: row.name } });
        if (existing) {
          await tx.domain.update({ where: { name: row.name }, data: { zoneId: row.zoneId, status: row.status } });
          updated++;
        } else {
          await tx.domain.create({ data: { name: row.name, tld: tldOf(row.name), zoneId: row.zoneId, status: row.status, owned: true } });
          added++;
        }
      }
      return { added, updated };
    }, { timeout, maxWait: 10_000 });
  }

  /**
   * Every domain with AutoTLS's state, soonest expiry first (no expiry last).
   * Sorted here by instant: in SQLite the Python AutoTLS's dates and ours would
   * sort as text.
   */
  async statusRows(): Promise<Array<DomainRecord & { state: DomainState | null }>> {
    const rows = await this.db.domain.findMany({ include: { state: true } });
    const expiry = (d: { tlsExpDate: Date | null }): number => d.tlsExpDate?.getTime() ?? Number.POSITIVE_INFINITY;
    return rows
      .map((d) => ({ ...toRecord(d), state: d.state }))
      .sort((a, b) => expiry(a) - expiry(b) || a.name.localeCompare(b.name));
  }
}

/** A `domains` row as the operator sees it. */
/**
 * The base rules of selectDue as a Prisma filter on `domains`: owned, not
 * Parked or Expired, with a zone, not excluded. Domains outside them are not
 * AutoTLS's to process (selectBackedOff, the failing-domain metrics).
 */
export function managedDomain(excluded: readonly string[]) {
  return {
    owned: true,
    NOT: [{ zoneId: null }, { zoneId: '' }],
    name: { notIn: [...excluded] },
    OR: [{ status: null }, { status: { notIn: ['Parked', 'Expired'] } }],
  };
}

export interface DomainRecord {
  id: number;
  name: string;
  zoneId: string | null;
  status: string | null;
  owned: boolean;
  tlsIssuer: string | null;
  tlsExpDate: Date | null;
}

function toRecord(d: { id: number; name: string; zoneId: string | null; status: string | null; owned: boolean | null; tlsIssuer: string | null; tlsExpDate: Date | null }): DomainRecord {
  return { id: d.id, name: d.name, zoneId: d.zoneId, status: d.status, owned: Boolean(d.owned), tlsIssuer: d.tlsIssuer, tlsExpDate: d.tlsExpDate };
}

/** The `tld` column of the seed's table: the last label. */
export function tldOf(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

/** One class of candidates: its SQL condition, its deadline and its index-friendly order. */
interface Condition {
  where: (param: (value: unknown) => string) => string;
  deadline: string;
  orderBy: () => string;
}

interface RawCandidate {
  id: number | bigint;
  name: string;
  zoneId: string | null;
  tlsExpDate: Date | string | null;
  tlsIssuer: string | null;
  deadline: Date | string | null;
}

function toDate(value: Date | string | null): Date | null {
  return value === null ? null : new Date(value);
}

function normalise(row: RawCandidate): RankedCandidate {
  return {
    id: Number(row.id),
    name: row.name,
    zoneId: row.zoneId ?? '',
    tlsExpDate: toDate(row.tlsExpDate),
    tlsIssuer: row.tlsIssuer,
    deadline: toDate(row.deadline),
  };
}

/** Contract section 4: no certificate first, then the earliest deadline; the id breaks ties, as in the SQL. */
export function byUrgency(a: { id: number; deadline: Date | null }, b: { id: number; deadline: Date | null }): number {
  if (a.deadline === null || b.deadline === null) {
    if (a.deadline !== b.deadline) return a.deadline === null ? -1 : 1;
  } else if (a.deadline.getTime() !== b.deadline.getTime()) {
    return a.deadline.getTime() - b.deadline.getTime();
  }
  return a.id - b.id;
}

function withoutDeadline({ deadline: _deadline, ...candidate }: RankedCandidate): DomainCandidate {
  return candidate;
}
