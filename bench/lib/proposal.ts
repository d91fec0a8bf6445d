// A proposed change to the eligibility query, tested on the bench's seeded
// databases only (src/ is not changed by the bench): partial indexes plus the
// Lets Encrypt statement rewritten so that an index finds the due rows instead
// of a walk of the whole tls_exp_date index.
//
// This proposal landed in ec9b5f0 (migration 20261128020000_eligibility_indexes
// and DomainRepository.letsEncryptDue), so `--try-indexes` now measures the same
// thing twice; it stays as the template for the next experiment on the query.
//
// The SQL mirrors DomainRepository.queryEligible (src/domains/repository.ts);
// the rewritten part is marked. Results are checked against the reference
// implementation of the rules, like selectDue's.
import type { Db, DbProvider } from '../../src/db/client.js';
import { LETS_ENCRYPT_ISSUER, type DomainCandidate, type EligibilityOptions } from '../../src/domains/repository.js';

/** Indexes the proposal needs (names prefixed bench_ so that they are dropped afterwards). */
export function proposedIndexes(provider: DbProvider): string[] {
  const owned = provider === 'postgresql' ? 'owned = true' : 'owned = 1';
  return [
    // Statement 1 walks only eligible domains of other issuers (a handful in steady state).
    // The predicate repeats the query's terms verbatim, so both planners prove that it applies.
    `CREATE INDEX bench_domains_other_issuer_due_idx ON domains (tls_exp_date)
       WHERE ${owned} AND (status IS NULL OR status NOT IN ('Parked', 'Expired')) AND zone_id IS NOT NULL AND zone_id <> ''
         AND (tls_issuer IS NULL OR tls_issuer <> '${LETS_ENCRYPT_ISSUER}')`,
    // Statement 2's resumable branch (phase stored/uploaded: rare rows).
    `CREATE INDEX bench_state_resumable_idx ON autotls_domain_state (phase) WHERE phase IN ('stored', 'uploaded')`,
    // selectBackedOff filters and orders on backoff_until.
    'CREATE INDEX bench_state_backoff_until_idx ON autotls_domain_state (backoff_until)',
  ];
}

/** selectDue with the rewritten Lets Encrypt statement, through the same Prisma client. */
export async function proposedSelectDue(db: Db, provider: DbProvider, now: Date, options: EligibilityOptions): Promise<DomainCandidate[]> {
  const cutoff = new Date(now.getTime() + options.windowDays * 86_400_000);
  const nonLe = await query(db, provider, now, options, options.limit, () => `(d.tls_issuer IS NULL OR d.tls_issuer <> '${LETS_ENCRYPT_ISSUER}')`);
  const remaining = options.limit - nonLe.length;
  if (remaining <= 0) return nonLe;
  const le = await query(db, provider, now, options, remaining, (p) => {
    // A fresh parameter per use: SQLite's `?` placeholders are positional.
    // REWRITTEN: candidate ids from three index range scans (next_renewal_at,
    // the resumable phases, Lets Encrypt expiring before the cutoff), then the unchanged
    // condition. The old form was only the condition, which no index can drive.
    const candidates = `SELECT domain_id FROM autotls_domain_state WHERE next_renewal_at <= ${p(now)}
          UNION SELECT domain_id FROM autotls_domain_state WHERE phase IN ('stored', 'uploaded')
          UNION SELECT id FROM domains WHERE tls_issuer = '${LETS_ENCRYPT_ISSUER}' AND tls_exp_date < ${p(cutoff)}`;
    // PostgreSQL: ARRAY(...) is computed first (an InitPlan) and probed through the
    // primary key; with IN (...) the planner trusts its estimate of the union
    // (thousands: it multiplies the issuer's and the cutoff's selectivities) and
    // picks a sequential scan of domains with a hash join (~25 ms at 100k rows).
    return `${provider === 'postgresql' ? `d.id = ANY (ARRAY(${candidates}))` : `d.id IN (${candidates})`}
        AND d.tls_issuer = '${LETS_ENCRYPT_ISSUER}'
        AND (
          s.next_renewal_at <= ${p(now)}
          OR s.phase IN ('stored', 'uploaded')
          OR (d.tls_exp_date < ${p(cutoff)} AND (s.next_renewal_at IS NULL OR s.cert_not_after IS NULL OR d.tls_exp_date < s.cert_not_after))
        )`;
  });
  return [...nonLe, ...le];
}

async function query(
  db: Db,
  provider: DbProvider,
  now: Date,
  options: EligibilityOptions,
  limit: number,
  condition: (param: (value: unknown) => string) => string,
): Promise<DomainCandidate[]> {
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return provider === 'postgresql' ? `$${params.length}` : '?';
  };
  const exclusion = options.excluded.length > 0 ? `AND d.name NOT IN (${options.excluded.map(param).join(', ')})` : '';
  const backoff = param(now);
  const extra = condition(param);
  const sql = `SELECT d.id AS id, d.name AS name, d.zone_id AS "zoneId", d.tls_exp_date AS "tlsExpDate", d.tls_issuer AS "tlsIssuer"
      FROM domains d LEFT JOIN autotls_domain_state s ON s.domain_id = d.id
      WHERE d.owned = ${provider === 'postgresql' ? 'true' : '1'}
        AND (d.status IS NULL OR d.status NOT IN ('Parked', 'Expired'))
        AND d.zone_id IS NOT NULL AND d.zone_id <> ''
        ${exclusion}
        AND (s.backoff_until IS NULL OR s.backoff_until <= ${backoff} OR s.phase IN ('stored', 'uploaded'))
        AND ${extra}
      ORDER BY d.tls_exp_date ASC LIMIT ${param(limit)}`;
  const rows = await db.$queryRawUnsafe<DomainCandidate[]>(sql, ...params);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}
