import type { Db, DbProvider } from './client.js';

/**
 * Read-only queries behind /metrics, run at scrape time (never at start-up):
 * the domains that deserve a series of their own, and the fleet's remaining
 * certificate lifetime as cumulative histogram buckets, counted by the
 * database in one aggregate query. Kept apart from DomainRepository on purpose:
 * it only reads, and /metrics must not grow with the repository's concerns.
 */

/** A domain exposed with its own series. */
export interface WatchedCertificate {
  domain: string;
  notAfter: Date;
  renewalAt: Date | null;
}

export interface LifetimeHistogram {
  /** Upper bounds in seconds, ascending; `+Inf` is implied by `count`. */
  bounds: readonly number[];
  /** Cumulative counts, one per bound: certificates with remaining lifetime <= bound. */
  cumulative: number[];
  /** Sum of the remaining lifetimes in seconds (negative for expired certificates). */
  sum: number;
  count: number;
}

/** A managed domain in a run of consecutive failures. */
export interface FailingDomain {
  domain: string;
  /** The first failure after its last success. */
  since: Date;
}

/** What /metrics tells about runs (autotls_runs): when the last one succeeded, and how often they start. */
export interface RunTimes {
  /** When the latest `/process` run that did not fail (succeeded, partial, nothing-to-do) finished. */
  lastSuccessfulRunAt: Date | undefined;
  /** Start times of the latest `/process` runs, newest first (at most RECENT_RUNS). */
  recentStarts: Date[];
}

export interface FleetSnapshot {
  watched: WatchedCertificate[];
  /** True when more domains matched than `maxWatched` (the most urgent are kept). */
  truncated: boolean;
  lifetime: LifetimeHistogram;
  /** Failing managed domains, longest-failing first, at most `maxWatched`. */
  failing: FailingDomain[];
  runs: RunTimes;
  /** Since when the longest-waiting ARI check has been due (DomainStateStore.oldestPendingAriCheck). */
  ariOldestPendingCheck: Date | undefined;
}

export interface FleetQueryOptions {
  now: Date;
  /** A certificate this close to expiry gets its own series; default 14 days. */
  expiringWithinMs?: number;
  /** At most this many per-domain series (most urgent first); default 5000. */
  maxWatched?: number;
  bounds: readonly number[];
  /** EXCLUDED_DOMAINS: never reported as failing (they are not processed). */
  excluded?: readonly string[];
}

/** Runs read for the measured interval between runs (21 starts give 20 gaps). */
export const RECENT_RUNS = 21;

export const DEFAULT_EXPIRING_WITHIN_MS = 14 * 86_400_000;
export const DEFAULT_MAX_WATCHED = 5000;

/** The text form the Prisma better-sqlite3 adapter stores a DateTime in (ISO 8601, `+00:00`). */
function sqliteTime(d: Date): string {
  return d.toISOString().replace('Z', '+00:00');
}

/**
 * Domains whose certificate matters now: renewal due (inside the renewal
 * window), failing (in backoff, or the last outcome failed) or expiring within
 * `expiringWithinMs`. Ordered by expiry, so a cap keeps the most urgent.
 */
export async function watchedCertificates(db: Db, options: FleetQueryOptions): Promise<{ watched: WatchedCertificate[]; truncated: boolean }> {
  const { now } = options;
  const max = options.maxWatched ?? DEFAULT_MAX_WATCHED;
  const soon = new Date(now.getTime() + (options.expiringWithinMs ?? DEFAULT_EXPIRING_WITHIN_MS));
  const rows = await db.domainState.findMany({
    where: {
      certNotAfter: { not: null },
      OR: [{ nextRenewalAt: { lte: now } }, { backoffUntil: { gt: now } }, { lastOutcome: 'failed' }, { certNotAfter: { lte: soon } }],
    },
    select: { certNotAfter: true, nextRenewalAt: true, domain: { select: { name: true } } },
    orderBy: { certNotAfter: 'asc' },
    take: max + 1,
  });
  const watched: WatchedCertificate[] = [];
  for (const row of rows.slice(0, max)) {
    if (row.certNotAfter) watched.push({ domain: row.domain.name, notAfter: row.certNotAfter, renewalAt: row.nextRenewalAt });
  }
  return { watched, truncated: rows.length > max };
}

/**
 * Remaining lifetime of every recorded certificate, bucketed by the database:
 * one `SELECT` with a `SUM(CASE ...)` per bucket, so the rows never reach Node.
 */
export async function remainingLifetime(db: Db, provider: DbProvider, now: Date, bounds: readonly number[]): Promise<LifetimeHistogram> {
  const nowSeconds = now.getTime() / 1000;
  // Bounds are our own numbers (validated finite), never user input: inlined, so the query has one parameter shape.
  for (const b of bounds) if (!Number.isFinite(b)) throw new Error(`remaining-lifetime bucket bound ${b} is not finite`);
  let rows: Array<Record<string, unknown>>;
  if (provider === 'sqlite') {
    // Timestamps are ISO 8601 text; julianday() reads them, including the +00:00 offset.
    const remaining = `((julianday(cert_not_after) - julianday('${sqliteTime(now)}')) * 86400.0)`;
    const buckets = bounds.map((b, i) => `SUM(CASE WHEN ${remaining} <= ${b} THEN 1 ELSE 0 END) AS b${i}`).join(', ');
    rows = await db.$queryRawUnsafe(
      `SELECT COUNT(*) AS n, COALESCE(SUM(${remaining}), 0) AS total${buckets ? `, ${buckets}` : ''} FROM autotls_domain_state WHERE cert_not_after IS NOT NULL`,
    );
  } else {
    // TIMESTAMP(3) without time zone, holding UTC (Prisma's convention).
    const remaining = `(EXTRACT(EPOCH FROM cert_not_after) - ${nowSeconds})`;
    const buckets = bounds.map((b, i) => `COUNT(*) FILTER (WHERE ${remaining} <= ${b}) AS b${i}`).join(', ');
    rows = await db.$queryRawUnsafe(
      `SELECT COUNT(*) AS n, COALESCE(SUM(${remaining}), 0)::float8 AS total${buckets ? `, ${buckets}` : ''} FROM autotls_domain_state WHERE cert_not_after IS NOT NULL`,
    );
  }
  const row = rows[0] ?? {};
  const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0);
  return {
    bounds,
    cumulative: bounds.map((_b, i) => num(row[`b${i}`])),
    sum: num(row.total),
    count: num(row.n),
  };
}

/**
 * The latest successful `/process` run and the start times of the latest runs:
 * two reads along the `started_at` index, at most RECENT_RUNS + 1 rows.
 * A run succeeds unless every domain in it failed or it could not select any
 * (status `failed`): a partial run shows that the schedule and the service work,
 * and its failing domains have their own series.
 */
export async function runTimes(db: Db): Promise<RunTimes> {
  const [last, recent] = await Promise.all([
    db.run.findFirst({
      where: { kind: 'process', status: { in: ['succeeded', 'partial', 'nothing-to-do'] }, finishedAt: { not: null } },
      orderBy: { startedAt: 'desc' },
      select: { finishedAt: true },
    }),
    db.run.findMany({ where: { kind: 'process' }, orderBy: { startedAt: 'desc' }, take: RECENT_RUNS, select: { startedAt: true } }),
  ]);
  return { lastSuccessfulRunAt: last?.finishedAt ?? undefined, recentStarts: recent.map((r) => r.startedAt) };
}

/**
 * The domain-state queries of a snapshot, answered by DomainStateStore (which
 * owns those rules: which domains are managed, which certificates ARI checks).
 * Without it, a snapshot has no failing domains and no pending ARI check.
 */
export interface FleetStateQueries {
  failingDomains(options: { max: number; excluded: readonly string[] }): Promise<FailingDomain[]>;
  oldestPendingAriCheck(): Promise<Date | undefined>;
}

export async function fleetSnapshot(db: Db, provider: DbProvider, options: FleetQueryOptions, state?: FleetStateQueries): Promise<FleetSnapshot> {
  // Independent reads: PostgreSQL answers them on separate connections, SQLite one after the other.
  const [{ watched, truncated }, lifetime, runs, failing, ariOldestPendingCheck] = await Promise.all([
    watchedCertificates(db, options),
    remainingLifetime(db, provider, options.now, options.bounds),
    runTimes(db),
    state ? state.failingDomains({ max: options.maxWatched ?? DEFAULT_MAX_WATCHED, excluded: options.excluded ?? [] }) : [],
    state ? state.oldestPendingAriCheck() : undefined,
  ]);
  return { watched, truncated, lifetime, failing, runs, ariOldestPendingCheck };
}
