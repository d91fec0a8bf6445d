// Stage 5: DomainRepository.selectDue over 100k `domains` rows, on SQLite and
// PostgreSQL, through the same Prisma client AutoTLS uses. The seeded rows are
// checked against a reference implementation of the eligibility rules, the
// query plans are captured (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE), and
// candidate indexes can be tried on the bench's copy of the schema.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openDatabase, type Database, type Db, type DbProvider } from '../../src/db/client.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { DomainRepository, LETS_ENCRYPT_ISSUER, type DomainCandidate, type EligibilityOptions } from '../../src/domains/repository.js';
import { PrismaClient as PostgresClient } from '../../src/generated/postgres/client.js';
import { PrismaClient as SqliteClient } from '../../src/generated/sqlite/client.js';
import { createLogger } from '../../src/logger.js';
import type { Clock } from '../../src/clock.js';
import type { BenchTestbed } from './testbed.js';
import { errorText, log, percentile, round } from './util.js';
import { seededRandom } from '../../test/fakes/random.js';

const DAY = 86_400_000;
const LIMIT = 10;
const WINDOW_DAYS = 15;

export type Scenario = 'mixed' | 'steady' | 'quiet';

export const SCENARIOS: Record<Scenario, string> = {
  mixed: 'mixed issuers: 45% Lets Encrypt with AutoTLS state (~8% of them due), 15% Lets Encrypt without state (inherited from the Python AutoTLS), 25% other issuers eligible, 15% not eligible (not owned, Parked/Expired, no zone)',
  steady: 'steady state: 80% Lets Encrypt renewed by AutoTLS (next_renewal_at spread over 60 days, ~0.3% due), 20% other issuers not eligible, 5 eligible domains of other issuers',
  quiet: 'nothing due (the usual daily run): 80% Lets Encrypt renewed by AutoTLS, none due, 20% other issuers not eligible',
};

interface DomainRow {
  id: number;
  name: string;
  zoneId: string | null;
  status: string | null;
  owned: boolean;
  tlsExpDate: number | null;
  tlsIssuer: string | null;
}

interface StateRow {
  domainId: number;
  phase: string;
  nextRenewalAt: number | null;
  certNotBefore: number | null;
  certNotAfter: number | null;
  failureCount: number;
  backoffUntil: number | null;
}

interface Dataset {
  now: number;
  domains: DomainRow[];
  states: StateRow[];
  excluded: string[];
}

/** Deterministic PRNG (mulberry32): the one the in-memory counterparts use. */
const prng = seededRandom;

const OTHER_ISSUERS = ['DigiCert', 'Sectigo', 'GlobalSign', null] as const;

export function generate(rows: number, scenario: Scenario, now: number): Dataset {
  const rnd = prng(scenario === 'mixed' ? 42 : scenario === 'steady' ? 4242 : 424242);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const days = (lo: number, hi: number): number => Math.round((lo + rnd() * (hi - lo)) * DAY);
  const domains: DomainRow[] = [];
  const states: StateRow[] = [];
  let eligibleOther = 0;
  for (let i = 0; i < rows; i++) {
    const id = i + 1;
    const name = `d${String(id).padStart(6, '0')}.example${i % 97}.com`;
    const base: DomainRow = { id, name, zoneId: `Z${(i % 5000).toString(36).toUpperCase()}`, status: 'Active', owned: true, tlsExpDate: null, tlsIssuer: null };
    // Unique expiry instants (ties would make ORDER BY ... LIMIT ambiguous): + id ms.
    const r = rnd();
    const managed = scenario === 'mixed' ? r < 0.45 : r < 0.8;
    const inherited = scenario === 'mixed' && r >= 0.45 && r < 0.6;
    const other = scenario === 'mixed' ? r >= 0.6 && r < 0.85 : false;
    if (managed) {
      const nextRenewal = now + (scenario === 'mixed' ? days(-5, 60) : scenario === 'steady' ? days(-0.2, 60) : days(0.01, 60));
      const notAfter = nextRenewal + 30 * DAY + days(0, 1) + id;
      base.tlsIssuer = LETS_ENCRYPT_ISSUER;
      base.tlsExpDate = notAfter;
      const s: StateRow = { domainId: id, phase: 'recorded', nextRenewalAt: nextRenewal, certNotBefore: notAfter - 90 * DAY, certNotAfter: notAfter, failureCount: 0, backoffUntil: null };
      const q = rnd();
      if (scenario === 'quiet') {
        // nothing resumable, nothing due
      } else if (q < 0.01) {
        s.failureCount = 2;
        s.backoffUntil = now + days(0.1, 2);
        s.phase = 'due';
      } else if (q < 0.015) {
        s.phase = 'stored';
      }
      states.push(s);
    } else if (inherited) {
      base.tlsIssuer = LETS_ENCRYPT_ISSUER;
      base.tlsExpDate = now + days(-10, 90) + id;
    } else if (other) {
      base.tlsIssuer = pick(OTHER_ISSUERS);
      base.tlsExpDate = rnd() < 0.05 ? null : now + days(-30, 365) + id;
    } else {
      // Not eligible: other issuers on domains that are not owned, parked, expired or without a zone.
      base.tlsIssuer = pick(OTHER_ISSUERS);
      base.tlsExpDate = rnd() < 0.1 ? null : now + days(-60, 365) + id;
      const q = rnd();
      if (scenario === 'steady' && eligibleOther < 5 && i % 997 === 0) {
        eligibleOther++; // a few new domains that never had a certificate of ours
        base.tlsExpDate = eligibleOther % 2 === 0 ? null : base.tlsExpDate;
      } else if (q < 0.3) base.owned = false;
      else if (q < 0.5) base.status = 'Parked';
      else if (q < 0.7) base.status = 'Expired';
      else if (q < 0.85) base.zoneId = null;
      else base.zoneId = '';
    }
    domains.push(base);
  }
  // 20 excluded names, taken among eligible-looking rows so that the exclusion matters.
  const excluded: string[] = [];
  for (let i = 0; i < domains.length && excluded.length < 20; i += Math.max(1, Math.floor(rows / 20))) excluded.push((domains[i] as DomainRow).name);
  return { now, domains, states, excluded };
}

/** The eligibility rules and urgency order of DomainRepository.selectDue, in plain code. */
export function reference(ds: Dataset, _provider?: DbProvider): number[] {
  const now = ds.now;
  const cutoff = now + WINDOW_DAYS * DAY;
  const excluded = new Set(ds.excluded);
  const state = new Map(ds.states.map((s) => [s.domainId, s]));
  const resumable = (s: StateRow | undefined): boolean => s !== undefined && (s.phase === 'stored' || s.phase === 'uploaded');
  const base = (d: DomainRow): boolean => {
    const s = state.get(d.id);
    return d.owned && (d.status === null || (d.status !== 'Parked' && d.status !== 'Expired')) && d.zoneId !== null && d.zoneId !== '' && !excluded.has(d.name) &&
      (s === undefined || s.backoffUntil === null || s.backoffUntil <= now || resumable(s));
  };
  // Contract section 4: no certificate first, then by deadline (AutoTLS's
  // renewal time where it has a usable one, else tls_exp_date), ties by id.
  const deadline = (d: DomainRow): number | null => {
    if (d.tlsIssuer !== LETS_ENCRYPT_ISSUER) return d.tlsExpDate;
    const s = state.get(d.id);
    if (!s || s.nextRenewalAt === null || s.certNotAfter === null || (d.tlsExpDate !== null && d.tlsExpDate < s.certNotAfter)) return d.tlsExpDate;
    return s.nextRenewalAt;
  };
  const order = (a: DomainRow, b: DomainRow): number => {
    const x = deadline(a);
    const y = deadline(b);
    if (x === null || y === null) {
      if (x !== y) return x === null ? -1 : 1;
    } else if (x !== y) {
      return x - y;
    }
    return a.id - b.id;
  };
  const due = (d: DomainRow): boolean => {
    if (!base(d)) return false;
    if (d.tlsIssuer !== LETS_ENCRYPT_ISSUER) return true;
    const s = state.get(d.id);
    if (s?.nextRenewalAt != null && s.nextRenewalAt <= now) return true;
    if (resumable(s)) return true;
    return d.tlsExpDate !== null && d.tlsExpDate < cutoff && (s === undefined || s.nextRenewalAt === null || s.certNotAfter === null || d.tlsExpDate < s.certNotAfter);
  };
  return ds.domains.filter(due).sort(order).slice(0, LIMIT).map((d) => d.id);
}

// ---------------------------------------------------------------------------
// Seeding

/** The text form the Prisma better-sqlite3 adapter writes for a DateTime. */
const sqliteTime = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString().replace('Z', '+00:00'));
const pgTime = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function seedSqlite(file: string, ds: Dataset): void {
  const db = new BetterSqlite3(file);
  try {
    const d = db.prepare('INSERT INTO domains (id, name, tld, zone_id, status, owned, tls_exp_date, tls_issuer) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const s = db.prepare('INSERT INTO autotls_domain_state (domain_id, phase, next_renewal_at, cert_not_before, cert_not_after, failure_count, backoff_until) VALUES (?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const r of ds.domains) d.run(r.id, r.name, 'com', r.zoneId, r.status, r.owned ? 1 : 0, sqliteTime(r.tlsExpDate), r.tlsIssuer);
      for (const r of ds.states) s.run(r.domainId, r.phase, sqliteTime(r.nextRenewalAt), sqliteTime(r.certNotBefore), sqliteTime(r.certNotAfter), r.failureCount, sqliteTime(r.backoffUntil));
    })();
  } finally {
    db.close();
  }
}

async function seedPostgres(url: string, ds: Dataset): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const chunk = 10_000;
    for (let i = 0; i < ds.domains.length; i += chunk) {
      const part = ds.domains.slice(i, i + chunk);
      await client.query(
        `INSERT INTO domains (id, name, tld, zone_id, status, owned, tls_exp_date, tls_issuer)
         SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::timestamptz[], $8::text[])`,
        [part.map((r) => r.id), part.map((r) => r.name), part.map(() => 'com'), part.map((r) => r.zoneId), part.map((r) => r.status), part.map((r) => r.owned), part.map((r) => pgTime(r.tlsExpDate)), part.map((r) => r.tlsIssuer)],
      );
    }
    for (let i = 0; i < ds.states.length; i += chunk) {
      const part = ds.states.slice(i, i + chunk);
      // timestamp(3) without time zone: UTC wall-clock values, as Prisma writes them.
      await client.query(
        `INSERT INTO autotls_domain_state (domain_id, phase, next_renewal_at, cert_not_before, cert_not_after, failure_count, backoff_until)
         SELECT d, p, (n AT TIME ZONE 'UTC'), (b AT TIME ZONE 'UTC'), (a AT TIME ZONE 'UTC'), f, (o AT TIME ZONE 'UTC')
         FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::timestamptz[]) AS t(d, p, n, b, a, f, o)`,
        [part.map((r) => r.domainId), part.map((r) => r.phase), part.map((r) => pgTime(r.nextRenewalAt)), part.map((r) => pgTime(r.certNotBefore)), part.map((r) => pgTime(r.certNotAfter)), part.map((r) => r.failureCount), part.map((r) => pgTime(r.backoffUntil))],
      );
    }
    // As autovacuum would shortly after a bulk load.
    await client.query('ANALYZE');
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// Measuring

export interface Timing {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

function timing(samples: number[]): Timing {
  return {
    p50: round(percentile(samples, 50), 2),
    p95: round(percentile(samples, 95), 2),
    p99: round(percentile(samples, 99), 2),
    max: round(Math.max(...samples), 2),
    mean: round(samples.reduce((a, b) => a + b, 0) / samples.length, 2),
  };
}

interface CapturedQuery {
  label: string;
  sql: string;
  params: unknown[];
}

/** The Prisma client with `$queryRawUnsafe` recorded, to EXPLAIN exactly what selectDue sends. */
function capturing(client: Db, into: CapturedQuery[], label: string): Db {
  return new Proxy(client, {
    get(target, prop) {
      if (prop === '$queryRawUnsafe') {
        return (sql: string, ...params: unknown[]) => {
          into.push({ label: `${label} statement ${into.filter((q) => q.label.startsWith(label)).length + 1}`, sql, params });
          return target.$queryRawUnsafe(sql, ...params);
        };
      }
      return Reflect.get(target, prop) as unknown;
    },
  });
}

interface QueryEvent {
  query: string;
  params: string;
}

/** The SQL Prisma generates for selectBackedOff (a second client with query events, used once). */
async function captureBackedOff(url: string, provider: DbProvider, ds: Dataset): Promise<CapturedQuery[]> {
  const events: QueryEvent[] = [];
  const log: Array<{ emit: 'event'; level: 'query' }> = [{ emit: 'event', level: 'query' }];
  const client = (provider === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: `file:${url.replace(/^file:/, '')}` }), log })
    : new PostgresClient({ adapter: new PrismaPg({ connectionString: url }), log })) as unknown as Db & { $on(event: 'query', cb: (e: QueryEvent) => void): void };
  client.$on('query', (e) => events.push(e));
  try {
    await new DomainRepository(client, provider, { now: () => new Date(ds.now) }).selectBackedOff(LIMIT, ds.excluded);
  } finally {
    await client.$disconnect();
  }
  return events
    .filter((e) => /^\s*SELECT/i.test(e.query))
    .map((e, i) => ({ label: `selectBackedOff statement ${i + 1}`, sql: e.query, params: (JSON.parse(e.params) as unknown[]) }));
}

export interface QueryPlan {
  statement: string;
  /** Time of this statement alone through the raw driver, median of 20, ms. */
  rawMs: number;
  plan: string;
}

export type SelectionMode = 'as migrated';

export const MODES: Record<SelectionMode, string> = {
  'as migrated': 'the schema and query of this commit',
};

export interface SelectionVariantResult {
  database: DbProvider;
  scenario: Scenario;
  mode: SelectionMode;
  rows: number;
  iterations: number;
  selectDue: Timing;
  selectBackedOff: Timing;
  /** Rows selectDue returned, and whether they equal the reference implementation's. */
  returned: number;
  matchesReference: boolean;
  plans: QueryPlan[];
}

export interface SelectionResult {
  stage: 'select';
  rows: number;
  iterations: number;
  scenarios: Record<string, string>;
  modes: Record<string, string>;
  variants: SelectionVariantResult[];
  seedMs: Record<string, number>;
}

function sqliteParam(v: unknown): unknown {
  if (v instanceof Date) return sqliteTime(v.getTime());
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

function oneLine(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

async function explain(provider: DbProvider, url: string, captured: CapturedQuery[]): Promise<QueryPlan[]> {
  const plans: QueryPlan[] = [];
  if (provider === 'sqlite') {
    const db = new BetterSqlite3(url.replace(/^file:/, ''), { readonly: true });
    try {
      for (const q of captured) {
        const params = q.params.map(sqliteParam);
        const rows = db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...params) as Array<{ id: number; parent: number; detail: string }>;
        const depth = new Map<number, number>([[0, 0]]);
        const lines = rows.map((r) => {
          const d = (depth.get(r.parent) ?? 0) + 1;
          depth.set(r.id, d);
          return `${'  '.repeat(d - 1)}${r.detail}`;
        });
        const stmt = db.prepare(q.sql);
        const times: number[] = [];
        for (let k = 0; k < 20; k++) {
          const t = performance.now();
          stmt.all(...params);
          times.push(performance.now() - t);
        }
        plans.push({ statement: q.label, rawMs: round(percentile(times, 50), 2), plan: `${oneLine(q.sql)}\n${lines.join('\n')}` });
      }
    } finally {
      db.close();
    }
    return plans;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const q of captured) {
      const res = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${q.sql}`, q.params);
      const times: number[] = [];
      for (let k = 0; k < 20; k++) {
        const t = performance.now();
        await client.query(q.sql, q.params);
        times.push(performance.now() - t);
      }
      plans.push({ statement: q.label, rawMs: round(percentile(times, 50), 2), plan: `${oneLine(q.sql)}\n${res.rows.map((r) => r['QUERY PLAN']).join('\n')}` });
    }
  } finally {
    await client.end();
  }
  return plans;
}

async function measure(database: Database, url: string, ds: Dataset, iterations: number, scenario: Scenario, mode: SelectionMode): Promise<SelectionVariantResult> {
  const clock: Clock = { now: () => new Date(ds.now) };
  const options: EligibilityOptions = { limit: LIMIT, excluded: ds.excluded, windowDays: WINDOW_DAYS };
  const repo = new DomainRepository(database.client, database.provider, clock);
  const select = (client: Db): Promise<DomainCandidate[]> => new DomainRepository(client, database.provider, clock).selectDue(options);
  // Warm-up (connection, statement caches, page cache).
  for (let i = 0; i < 10; i++) await select(database.client);
  const due: number[] = [];
  const backedOff: number[] = [];
  for (let i = 0; i < iterations; i++) {
    let t = performance.now();
    await select(database.client);
    due.push(performance.now() - t);
    t = performance.now();
    await repo.selectBackedOff(LIMIT, ds.excluded);
    backedOff.push(performance.now() - t);
  }
  const captured: CapturedQuery[] = [];
  const got = await select(capturing(database.client, captured, 'selectDue'));
  const expected = reference(ds, database.provider);
  const matches = got.length === expected.length && got.every((c, i) => c.id === expected[i]);
  if (!matches) log(`selection ${database.provider}/${scenario}/${mode}: selectDue returned [${got.map((c) => c.id).join(',')}], reference [${expected.join(',')}]`);
  captured.push(...(await captureBackedOff(url, database.provider, ds)));
  return {
    database: database.provider,
    scenario,
    mode,
    rows: ds.domains.length,
    iterations,
    selectDue: timing(due),
    selectBackedOff: timing(backedOff),
    returned: got.length,
    matchesReference: matches,
    plans: await explain(database.provider, url, captured),
  };
}

export async function runSelection(tb: BenchTestbed, opts: { rows: number; iterations: number; databases: DbProvider[] }): Promise<SelectionResult> {
  const silent = createLogger({ level: 'silent' });
  const now = Date.now();
  const variants: SelectionVariantResult[] = [];
  const seedMs: Record<string, number> = {};
  // The experiments (extra indexes, rewritten statement) need fewer calls to show their effect.
  for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
    const ds = generate(opts.rows, scenario, now);
    for (const provider of opts.databases) {
      const t0 = performance.now();
      let url: string;
      if (provider === 'sqlite') {
        const dir = mkdtempSync(path.join(tb.dir, `select-${scenario}-`));
        url = `file:${path.join(dir, 'select.db')}`;
        await applyMigrations(url, 'sqlite', silent);
        seedSqlite(url.slice(5), ds);
      } else {
        if (!tb.postgres) throw new Error('PostgreSQL is not running');
        url = await tb.postgres.createDatabase(`bench_select_${scenario}`);
        await applyMigrations(url, 'postgresql', silent);
        await seedPostgres(url, ds);
      }
      const key = `${provider}/${scenario}`;
      seedMs[key] = Math.round(performance.now() - t0);
      log(`selection: ${key} seeded with ${ds.domains.length} domains (${ds.states.length} state rows) in ${seedMs[key]} ms`);
      const database = await openDatabase(url, provider);
      const record = (r: SelectionVariantResult): void => {
        variants.push(r);
        log(`selection: ${key} ${r.mode}: selectDue p50 ${r.selectDue.p50} ms, p95 ${r.selectDue.p95} ms (${r.returned} rows, reference ${r.matchesReference ? 'matches' : 'DIFFERS'}); selectBackedOff p95 ${r.selectBackedOff.p95} ms`);
      };
      try {
        record(await measure(database, url, ds, opts.iterations, scenario, 'as migrated'));
      } catch (error) {
        throw new Error(`selection ${key}: ${errorText(error)}`, { cause: error });
      } finally {
        await database.close();
      }
    }
  }
  return {
    stage: 'select',
    rows: opts.rows,
    iterations: opts.iterations,
    scenarios: SCENARIOS,
    modes: MODES,
    variants,
    seedMs,
  };
}

