// The certificate series of /metrics, read from a real SQLite database at scrape
// time: per-domain series only where they matter, the fleet in a histogram, and
// an exposition that `promtool check metrics` accepts.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { fleetSnapshot } from '../../src/db/fleet-metrics.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { Metrics, REMAINING_LIFETIME_BUCKETS } from '../../src/metrics.js';

const NOW = new Date('2027-03-01T12:00:00.000Z');
const DAY = 86_400_000;
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString().replace('Z', '+00:00'));

interface Row {
  name: string;
  notAfter: number | null;
  renewalAt: number | null;
  backoffUntil?: number | null;
  lastOutcome?: string | null;
}

const ROWS: Row[] = [
  { name: 'healthy-1.example', notAfter: NOW.getTime() + 80 * DAY, renewalAt: NOW.getTime() + 50 * DAY, lastOutcome: 'renewed' },
  { name: 'healthy-2.example', notAfter: NOW.getTime() + 40 * DAY, renewalAt: NOW.getTime() + 10 * DAY, lastOutcome: 'skipped' },
  { name: 'due.example', notAfter: NOW.getTime() + 25 * DAY, renewalAt: NOW.getTime() - 1 * DAY },
  { name: 'backoff.example', notAfter: NOW.getTime() + 60 * DAY, renewalAt: NOW.getTime() + 30 * DAY, backoffUntil: NOW.getTime() + 3600_000 },
  { name: 'failed.example', notAfter: NOW.getTime() + 60 * DAY, renewalAt: NOW.getTime() + 30 * DAY, lastOutcome: 'failed' },
  { name: 'soon.example', notAfter: NOW.getTime() + 10 * DAY, renewalAt: NOW.getTime() + 5 * DAY },
  { name: 'expired.example', notAfter: NOW.getTime() - 2 * DAY, renewalAt: NOW.getTime() - 20 * DAY },
  { name: 'new.example', notAfter: null, renewalAt: null, lastOutcome: 'failed' },
];

let dir: string;
let database: Database;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'autotls-metrics-'));
  const url = `file:${join(dir, 'fleet.db')}`;
  await applyMigrations(url, 'sqlite', pino({ level: 'silent' }));
  const raw = new BetterSqlite3(join(dir, 'fleet.db'));
  const d = raw.prepare("INSERT INTO domains (id, name, tld, zone_id) VALUES (?, ?, 'example', 'Z1')");
  const s = raw.prepare('INSERT INTO autotls_domain_state (domain_id, phase, next_renewal_at, cert_not_after, backoff_until, last_outcome) VALUES (?, ?, ?, ?, ?, ?)');
  ROWS.forEach((r, i) => {
    d.run(i + 1, r.name);
    s.run(i + 1, 'recorded', iso(r.renewalAt), iso(r.notAfter), iso(r.backoffUntil ?? null), r.lastOutcome ?? null);
  });
  raw.close();
  database = await openDatabase(url, 'sqlite');
});

afterAll(async () => {
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

function fleetMetrics(): Metrics {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.attachFleet(() => fleetSnapshot(database.client, 'sqlite', { now: NOW, bounds: REMAINING_LIFETIME_BUCKETS }));
  return metrics;
}

const seriesOf = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('certificate metrics read from the database at scrape time', () => {
  it('exposes per-domain series only for domains due, failing or expiring within 14 days', async () => {
    const text = await fleetMetrics().registry.metrics();
    const domains = seriesOf(text, 'autotls_certificate_expiration_timestamp_seconds').map((l) => /domain="([^"]+)"/.exec(l)?.[1]);
    expect(domains.sort()).toEqual(['backoff.example', 'due.example', 'expired.example', 'failed.example', 'soon.example']);
    expect(text).toContain(`autotls_certificate_expiration_timestamp_seconds{domain="soon.example"} ${(NOW.getTime() + 10 * DAY) / 1000}`);
    expect(text).toContain(`autotls_certificate_renewal_timestamp_seconds{domain="due.example"} ${(NOW.getTime() - DAY) / 1000}`);
    expect(seriesOf(text, 'autotls_certificate_renewal_timestamp_seconds')).toHaveLength(5);
  });

  it('counts the whole fleet in autotls_certificate_remaining_lifetime_seconds, bucketed by the database', async () => {
    const text = await fleetMetrics().registry.metrics();
    const bucket = (le: string): string | undefined =>
      seriesOf(text, 'autotls_certificate_remaining_lifetime_seconds_bucket').find((l) => l.includes(`le="${le}"`))?.split(' ')[1];
    expect(text).toContain('# TYPE autotls_certificate_remaining_lifetime_seconds histogram');
    expect(bucket('3600')).toBe('1'); // expired
    expect(bucket(String(14 * 86400))).toBe('2'); // + soon (10 d)
    expect(bucket(String(30 * 86400))).toBe('3'); // + due (25 d)
    expect(bucket(String(45 * 86400))).toBe('4'); // + healthy-2 (40 d)
    expect(bucket(String(64 * 86400))).toBe('6'); // + backoff, failed (60 d)
    expect(bucket(String(90 * 86400))).toBe('7'); // + healthy-1 (80 d)
    expect(bucket('+Inf')).toBe('7'); // new.example has no certificate
    expect(text).toContain('autotls_certificate_remaining_lifetime_seconds_count 7');
    const days = [80, 40, 25, 60, 60, 10, -2].reduce((a, b) => a + b, 0);
    expect(text).toContain(`autotls_certificate_remaining_lifetime_seconds_sum ${days * 86400}`);
  });

  it('caps the per-domain series, keeping the most urgent', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.attachFleet(() => fleetSnapshot(database.client, 'sqlite', { now: NOW, bounds: REMAINING_LIFETIME_BUCKETS, maxWatched: 2 }));
    const text = await metrics.registry.metrics();
    const domains = seriesOf(text, 'autotls_certificate_expiration_timestamp_seconds').map((l) => /domain="([^"]+)"/.exec(l)?.[1]);
    expect(domains).toEqual(['expired.example', 'soon.example']);
  });

  it('a failing query leaves those series out and counts the failure; the scrape still answers', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.attachFleet(() => Promise.reject(new Error('database is locked')));
    const text = await metrics.registry.metrics();
    expect(seriesOf(text, 'autotls_certificate_expiration_timestamp_seconds')).toEqual([]);
    // The counter is rendered alongside the failing query, so the next scrape shows it.
    expect(await metrics.registry.metrics()).toContain('autotls_fleet_metrics_query_failures_total 1');
  });

  it('passes promtool check metrics', async (ctx) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      ctx.skip('promtool is not installed (Debian package "prometheus"): exposition not checked');
      return;
    }
    const metrics = fleetMetrics();
    metrics.issuance.inc({ outcome: 'issued' });
    metrics.acmeRequests.inc({ endpoint: 'newOrder', status: '201' });
    metrics.runDuration.observe(3);
    const text = await metrics.registry.metrics();
    // promtool reads the exposition on stdin and exits non-zero on a format error or a lint problem.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(out.trim()).toBe('');
  });
});

describe('capacity gauges', () => {
  it('carry the latest forecast: the backlog and when the first certificate would expire (+Inf when none)', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let latest: { backlogNow: number; firstExpiry: string | null } | undefined;
    m.attachCapacity(() => latest);
    const text = async (): Promise<string> => m.registry.metrics();
    expect(await text()).toMatch(/^autotls_capacity_first_expiry_timestamp_seconds \+Inf$/m);
    latest = { backlogNow: 37, firstExpiry: '2027-03-28T12:00:00.000Z' };
    const out = await text();
    expect(out).toMatch(/^autotls_renewal_backlog 37$/m);
    expect(out).toMatch(new RegExp(`^autotls_capacity_first_expiry_timestamp_seconds ${Date.parse('2027-03-28T12:00:00Z') / 1000}$`, 'm'));
    latest = { backlogNow: 0, firstExpiry: null };
    expect(await text()).toMatch(/^autotls_capacity_first_expiry_timestamp_seconds \+Inf$/m);
  });
});
