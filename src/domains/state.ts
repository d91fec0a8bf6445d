import { empty, join, sqltag as sql, type Sql } from '@prisma/client/runtime/client';
import type { Db, DbTx } from '../db/client.js';
import type { Clock } from '../clock.js';
import { LETS_ENCRYPT_ISSUER, managedDomain } from './repository.js';
import type { FailingDomain } from '../db/fleet-metrics.js';
import type { DomainState } from '../generated/postgres/client.js';

export type { DomainState };

/**
 * A domain's journey, persisted so that a reader and a restarted process can see
 * where it stands:
 *
 *   due ─▶ ordered ─▶ stored ─▶ uploaded ─▶ recorded
 *
 * - `ordered`: an ACME order exists. Its freshly generated key and CSR were put
 *   in the secrets store (`<base>/<domain>/pending`) before the phase moved here,
 *   so a crash costs neither the order nor the key: the next run finds the order
 *   (`latestOrderUrl`) and finalises or downloads it with the pending key.
 * - `stored`: the certificate and its key are in the secrets store. From here on
 *   the next run resumes from the stored material; it never orders again.
 * - `uploaded`: Fastly serves it; only the database record is missing.
 * - `recorded`: done; `next_renewal_at` says when the journey starts again.
 */
export type Phase = 'due' | 'ordered' | 'stored' | 'uploaded' | 'recorded';

export type StatePatch = Partial<Omit<DomainState, 'domainId' | 'updatedAt' | 'leaseOwner' | 'leaseExpiresAt'>> & { phase?: Phase };

/** What the ARI refresh may change (RFC 9773): the renewal time and when to ask again. */
export interface AriCheck {
  /** The certificate that was checked: nothing is written once another is recorded. */
  certId: string;
  /** Omitted: the renewal time stays as it is (no window, or an unchanged one). */
  nextRenewalAt?: Date;
  ariCheckAfter: Date;
}

/** A certificate just recorded in `tls`/`domains` (DomainRepository.recordCertificate). */
export interface RecordedState {
  nextRenewalAt: Date;
  ariCheckAfter: Date | null;
}

/** A recorded certificate ARI can be asked about. */
export interface AriCandidate {
  domainId: number;
  domain: string;
  certId: string;
  /** The CA that issued it (`cert_ca`; null: the primary): ARI is asked there. */
  certCa: string | null;
  nextRenewalAt: Date | null;
  ariCheckAfter: Date | null;
}

/** Which certificates a page of ARI candidates holds. */
export interface AriPageQuery {
  /** `due`: only those whose next check has come and that no run holds, in order of next check. `all`: every one, by id. */
  which: 'due' | 'all';
  /** Only this domain. */
  domain?: string;
  /** The last candidate of the previous page (keyset paging). */
  after?: AriCandidate;
  take: number;
}

/**
 * The only writer of `autotls_domain_state`: per-domain leases and state.
 *
 * A lease is claimed with one conditional UPDATE (free, expired, or already
 * ours), so two runs — in this process or on another instance sharing the
 * database — never work on one domain at once. Every write of a run goes through
 * `update` (or `markRecorded`), which checks that the lease is still ours.
 *
 * Lease-free by design, and only these: `recordAriCheck` and `patch`. They never
 * hold a lease because they take no decision a run could contradict; instead
 * each is one conditional UPDATE that writes only while no other run holds a
 * live lease, so they cannot overwrite what a renewal in flight is writing.
 */
export class DomainStateStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async get(domainId: number): Promise<DomainState | null> {
    return this.db.domainState.findUnique({ where: { domainId } });
  }

  /** Claims the lease on a domain for `owner` for `ttlMs`. Returns false when another holder has it. */
  async claimLease(domainId: number, owner: string, ttlMs: number): Promise<boolean> {
    const claim = async (): Promise<boolean> => {
      const now = this.clock.now();
      const { count } = await this.db.domainState.updateMany({
        where: {
          domainId,
          OR: [{ leaseOwner: null }, { leaseExpiresAt: { lt: now } }, { leaseOwner: owner }],
        },
        data: { leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + ttlMs) },
      });
      return count === 1;
    };
    if (await claim()) return true;
    // Not claimed: held by another, or no row yet (a domain's first run). The row is
    // created only then, instead of an INSERT before every claim.
    if (await this.get(domainId)) return false;
    await this.ensureRow(domainId);
    return claim();
  }

  /** Extends a held lease. Returns false when the lease was lost (expired and taken over). */
  async extendLease(domainId: number, owner: string, ttlMs: number): Promise<boolean> {
    const { count } = await this.db.domainState.updateMany({
      where: { domainId, leaseOwner: owner },
      data: { leaseExpiresAt: new Date(this.clock.now().getTime() + ttlMs) },
    });
    return count === 1;
  }

  /** Releases the lease if it is still ours, writing `patch` with it (a run's last outcome). */
  async releaseLease(domainId: number, owner: string, patch: Pick<StatePatch, 'lastOutcome'> = {}): Promise<void> {
    await this.db.domainState.updateMany({
      where: { domainId, leaseOwner: owner },
      data: { ...patch, leaseOwner: null, leaseExpiresAt: null },
    });
  }

  /** Releases every lease whose owner starts with `ownerPrefix` (an instance, at shutdown). */
  async releaseAll(ownerPrefix: string): Promise<number> {
    const { count } = await this.db.domainState.updateMany({
      where: { leaseOwner: { startsWith: `${ownerPrefix}/` } },
      data: { leaseOwner: null, leaseExpiresAt: null },
    });
    return count;
  }

  /** Writes state under the lease; throws LeaseLostError when the lease is no longer ours. */
  async update(domainId: number, owner: string, patch: StatePatch): Promise<void> {
    await updateUnderLease(this.db, domainId, owner, patch);
  }

  /**
   * The state half of recording a certificate, inside the caller's transaction
   * (DomainRepository.recordCertificate): phase `recorded`, the new renewal
   * time, failures cleared. Under the lease: a lost lease rolls the whole
   * transaction back.
   */
  async markRecorded(tx: DbTx, domainId: number, owner: string, recorded: RecordedState): Promise<void> {
    await updateUnderLease(tx, domainId, owner, {
      phase: 'recorded',
      nextRenewalAt: recorded.nextRenewalAt,
      ariCheckAfter: recorded.ariCheckAfter,
      failureCount: 0,
      failingSince: null,
      backoffUntil: null,
      lastError: null,
    });
  }

  /**
   * Lease-free by design: state written outside a run (seeding, operator tools).
   * Writes only while no other run holds a live lease; returns whether it wrote.
   */
  async patch(domainId: number, patch: StatePatch): Promise<boolean> {
    await this.ensureRow(domainId);
    return this.writeUnlessLeased(domainId, patch);
  }

  private async writeUnlessLeased(domainId: number, data: StatePatch): Promise<boolean> {
    const { count } = await this.db.domainState.updateMany({ where: { domainId, ...this.unleased() }, data });
    return count === 1;
  }

  private async ensureRow(domainId: number): Promise<void> {
    // INSERT … ON CONFLICT DO NOTHING is race-free on both databases, unlike upsert.
    await this.db.$executeRaw`INSERT INTO autotls_domain_state (domain_id) VALUES (${domainId}) ON CONFLICT (domain_id) DO NOTHING`;
  }

  /**
   * The ARI refresh's write (RFC 9773), lease-free by design: it runs on its own
   * timer across the fleet and must not block renewals. Writes only while no run
   * holds a live lease, and only while the recorded certificate is still the one
   * checked (`certId`, phase `recorded`): a run that renewed meanwhile has
   * recorded a newer certificate with its own schedule. Returns whether it wrote.
   */
  async recordAriCheck(domainId: number, check: AriCheck): Promise<boolean> {
    const { count } = await this.db.domainState.updateMany({
      where: { domainId, phase: 'recorded', certId: check.certId, ...this.unleased() },
      data: { ariCheckAfter: check.ariCheckAfter, ...(check.nextRenewalAt ? { nextRenewalAt: check.nextRenewalAt } : {}) },
    });
    return count === 1;
  }

  /**
   * recordAriCheck for a page of checks at once, under the same conditions row by
   * row. Checks that write the same values (the usual page: the same next check,
   * the renewal time kept) are one UPDATE; only when it writes fewer rows than
   * it names (a run holds one, or renewed it) are they written one by one, which
   * is idempotent for those already written and says which ones were not. At
   * fleet size the refresh checks thousands of certificates every few hours: one
   * statement per certificate was most of its cost. Returns the domain ids written.
   */
  async recordAriChecks(checks: ReadonlyArray<AriCheck & { domainId: number }>): Promise<Set<number>> {
    const written = new Set<number>();
    const groups = new Map<string, Array<AriCheck & { domainId: number }>>();
    for (const check of checks) {
      const key = `${check.ariCheckAfter.getTime()}/${check.nextRenewalAt?.getTime() ?? '-'}`;
      const group = groups.get(key);
      if (group) group.push(check);
      else groups.set(key, [check]);
    }
    for (const group of groups.values()) {
      const [first] = group;
      if (!first) continue;
      if (group.length > 1) {
        // Raw SQL: Prisma compiles an OR of N pairs anew for every N (6.6 ms for 100 rows
        // on SQLite, against 1 ms). `cert_id IN` is the pairs' condition because a
        // certificate, so its CertID, belongs to one domain.
        const now = this.clock.now();
        const count = await this.db.$executeRaw`
          UPDATE autotls_domain_state AS s SET ari_check_after = ${first.ariCheckAfter},
            ${first.nextRenewalAt ? sql`next_renewal_at = ${first.nextRenewalAt},` : empty} updated_at = ${now}
          WHERE phase = 'recorded' AND ${unleasedSql(now)}
            AND domain_id IN (${join(group.map((c) => c.domainId))}) AND cert_id IN (${join(group.map((c) => c.certId))})`;
        if (count === group.length) {
          for (const c of group) written.add(c.domainId);
          continue;
        }
      }
      for (const c of group) if (await this.recordAriCheck(c.domainId, c)) written.add(c.domainId);
    }
    return written;
  }

  /**
   * A page of the certificates ARI can be asked about: recorded Let's Encrypt
   * certificates of managed domains (owned, not Parked or Expired) that have not
   * expired (RFC 9773 §4.3: do not check expired certificates). Keyset paging,
   * so the fleet is never read at once.
   */
  async ariCandidates(query: AriPageQuery): Promise<AriCandidate[]> {
    const now = this.clock.now();
    const only = query.domain !== undefined ? [{ domain: { name: query.domain } }] : [];
    if (query.which === 'all') {
      const rows = await this.db.domainState.findMany({
        where: { AND: [this.ariCheckable(now), ...only, query.after ? { domainId: { gt: query.after.domainId } } : {}] },
        select: ARI_SELECT,
        orderBy: { domainId: 'asc' },
        take: query.take,
      });
      return rows.map(toCandidate);
    }
    // Due, in order of next check, never-checked first. Two index walks (never
    // checked by id, then by next check and id) rather than one ORDER BY with
    // NULLS FIRST, which neither database reads from an index: it sorted every
    // due row for each page, and every recorded one for nextAriCheckAt.
    // Raw SQL, one statement per walk with the domain's name joined: through
    // Prisma a page of 100 took 7–13 ms on SQLite (a second query for the names,
    // and the rows mapped twice), against about 1 ms, and the ARI refresh reads
    // 40,000 rows a day at 10,000 domains.
    const after = query.after;
    const domain = query.domain !== undefined ? sql`AND d.name = ${query.domain}` : empty;
    const page = (walk: Sql, order: Sql, take: number): Promise<RawAriCandidate[]> =>
      this.db.$queryRaw<RawAriCandidate[]>`
        SELECT s.domain_id AS "domainId", d.name AS domain, s.cert_id AS "certId", s.cert_ca AS "certCa",
          s.next_renewal_at AS "nextRenewalAt", s.ari_check_after AS "ariCheckAfter"
        FROM autotls_domain_state s JOIN domains d ON d.id = s.domain_id
        WHERE s.phase = 'recorded' AND s.cert_id IS NOT NULL AND s.cert_not_after > ${now}
          AND NOT (d.tls_issuer <> ${LETS_ENCRYPT_ISSUER}) AND d.owned IS TRUE AND (d.status IS NULL OR d.status NOT IN ('Parked', 'Expired'))
          AND ${unleasedSql(now)} ${domain} AND ${walk}
        ORDER BY ${order} LIMIT ${take}`;
    const rows: AriCandidate[] = [];
    if (!after || after.ariCheckAfter === null) {
      const never = await page(sql`s.ari_check_after IS NULL ${after ? sql`AND s.domain_id > ${after.domainId}` : empty}`, sql`s.domain_id`, query.take);
      rows.push(...never.map(fromRawAri));
      if (rows.length >= query.take) return rows;
    }
    const cursor = after?.ariCheckAfter
      ? sql`AND (s.ari_check_after > ${after.ariCheckAfter} OR (s.ari_check_after = ${after.ariCheckAfter} AND s.domain_id > ${after.domainId}))`
      : empty;
    const checked = await page(sql`s.ari_check_after IS NOT NULL AND s.ari_check_after <= ${now} ${cursor}`, sql`s.ari_check_after, s.domain_id`, query.take - rows.length);
    rows.push(...checked.map(fromRawAri));
    return rows;
  }

  /** The earliest pending ARI check among checkable certificates; undefined when there is none. */
  async nextAriCheckAt(): Promise<Date | undefined> {
    const now = this.clock.now();
    // Two index lookups (see ariCandidates): a never-checked certificate is due now.
    const never = await this.db.domainState.findFirst({ where: { AND: [this.ariCheckable(now), { ariCheckAfter: null }] }, select: { domainId: true } });
    if (never) return now;
    const first = await this.db.domainState.findFirst({
      where: { AND: [this.ariCheckable(now), { ariCheckAfter: { not: null } }] },
      select: { ariCheckAfter: true },
      orderBy: [{ ariCheckAfter: 'asc' }, { domainId: 'asc' }],
    });
    return first?.ariCheckAfter ?? undefined;
  }

  /**
   * Managed domains in a run of consecutive failures (`failing_since`, set at
   * the first failure and cleared by markRecorded), longest failing first: an
   * indexed read of at most `max` rows (for /metrics). Domains no longer
   * managed (not owned, Parked, Expired, excluded) are left out: no run will
   * clear them.
   */
  async failingDomains(options: { max: number; excluded: readonly string[] }): Promise<FailingDomain[]> {
    const rows = await this.db.domainState.findMany({
      where: { failingSince: { not: null }, domain: managedDomain(options.excluded) },
      select: { failingSince: true, domain: { select: { name: true } } },
      orderBy: { failingSince: 'asc' },
      take: options.max,
    });
    return rows.flatMap((r) => (r.failingSince ? [{ domain: r.domain.name, since: r.failingSince }] : []));
  }

  /**
   * Since when the longest-waiting pending ARI check has been due (for
   * /metrics): the earliest `ari_check_after` that has passed among checkable
   * certificates, or for a certificate never checked, its notBefore. Undefined
   * when no check is pending. Two minimums; nothing of the fleet is read.
   */
  async oldestPendingAriCheck(): Promise<Date | undefined> {
    const now = this.clock.now();
    const [scheduled, never] = await Promise.all([
      this.db.domainState.findFirst({ where: { AND: [this.ariCheckable(now), { ariCheckAfter: { lte: now } }] }, select: { ariCheckAfter: true }, orderBy: { ariCheckAfter: 'asc' } }),
      this.db.domainState.findFirst({ where: { AND: [this.ariCheckable(now), { ariCheckAfter: null }] }, select: { certNotBefore: true }, orderBy: { certNotBefore: { sort: 'asc', nulls: 'first' } } }),
    ]);
    const times = [scheduled?.ariCheckAfter, never ? (never.certNotBefore ?? now) : undefined].filter((t): t is Date => t instanceof Date);
    return times.length > 0 ? new Date(Math.min(...times.map((t) => t.getTime()))) : undefined;
  }

  /** The earliest renewal time and end of a backoff still ahead (continuous schedule); each one indexed minimum. */
  async nextTimes(): Promise<{ renewalAt: Date | undefined; backoffEndsAt: Date | undefined }> {
    const future = { gt: this.clock.now() };
    const [renewal, backoff] = await Promise.all([
      this.db.domainState.findFirst({ where: { nextRenewalAt: future }, orderBy: { nextRenewalAt: 'asc' }, select: { nextRenewalAt: true } }),
      this.db.domainState.findFirst({ where: { backoffUntil: future }, orderBy: { backoffUntil: 'asc' }, select: { backoffUntil: true } }),
    ]);
    return { renewalAt: renewal?.nextRenewalAt ?? undefined, backoffEndsAt: backoff?.backoffUntil ?? undefined };
  }

  private ariCheckable(now: Date) {
    return {
      phase: 'recorded',
      certId: { not: null },
      certNotAfter: { gt: now },
      domain: {
        // NOT (tls_issuer <> LE), not tls_issuer = LE: the same rows, but SQLite
        // (without ANALYZE statistics) then drove the query from the partial index
        // domains_lets_encrypt_expiry_idx and sorted every recorded certificate,
        // instead of walking autotls_domain_state_ari_check_after_idx (2.9 ms
        // against 0.2 ms a call at 10,000 domains).
        NOT: [{ tlsIssuer: { not: LETS_ENCRYPT_ISSUER } }],
        owned: true,
        OR: [{ status: null }, { status: { notIn: ['Parked', 'Expired'] } }],
      },
    };
  }

  /** No run holds a live lease. */
  private unleased() {
    return { OR: [{ leaseOwner: null }, { leaseExpiresAt: null }, { leaseExpiresAt: { lt: this.clock.now() } }] };
  }
}

const ARI_SELECT = { domainId: true, nextRenewalAt: true, ariCheckAfter: true, certId: true, certCa: true, domain: { select: { name: true } } } as const;

/** An ARI candidate row as the raw page query returns it (SQLite: dates as Prisma's ISO text, ids maybe as bigint). */
interface RawAriCandidate {
  domainId: number | bigint;
  domain: string;
  certId: string;
  certCa: string | null;
  nextRenewalAt: Date | string | null;
  ariCheckAfter: Date | string | null;
}

function fromRawAri(r: RawAriCandidate): AriCandidate {
  const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));
  return { domainId: Number(r.domainId), domain: r.domain, certId: r.certId, certCa: r.certCa, nextRenewalAt: date(r.nextRenewalAt), ariCheckAfter: date(r.ariCheckAfter) };
}

/** No run holds a live lease (the raw-SQL form of DomainStateStore.unleased). */
function unleasedSql(now: Date): Sql {
  return sql`(s.lease_owner IS NULL OR s.lease_expires_at IS NULL OR s.lease_expires_at < ${now})`;
}

function toCandidate(r: { domainId: number; domain: { name: string }; certId: string | null; certCa: string | null; nextRenewalAt: Date | null; ariCheckAfter: Date | null }): AriCandidate {
  return { domainId: r.domainId, domain: r.domain.name, certId: r.certId as string, certCa: r.certCa, nextRenewalAt: r.nextRenewalAt, ariCheckAfter: r.ariCheckAfter };
}

async function updateUnderLease(db: Db | DbTx, domainId: number, owner: string, patch: StatePatch): Promise<void> {
  const { count } = await db.domainState.updateMany({ where: { domainId, leaseOwner: owner }, data: patch });
  if (count !== 1) throw new LeaseLostError(domainId);
}

export class LeaseLostError extends Error {
  constructor(domainId: number) {
    super(`Lease on domain ${domainId} was lost to another run`);
    this.name = 'LeaseLostError';
  }
}
