import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric, type MetricValue } from 'prom-client';
import type { FleetSnapshot } from './db/fleet-metrics.js';
import type { Logger } from './logger.js';
import { CONTINUOUS, CONTINUOUS_MAX_INTERVAL_MS, CONTINUOUS_MAX_JITTER_MS, longestCronGapMs } from './orchestrator/scheduler.js';

/** Buckets of `autotls_certificate_remaining_lifetime_seconds`: 1h, 6h, 1d, 3d, 7d, 14d, 30d, 45d, 64d, 90d. */
export const REMAINING_LIFETIME_BUCKETS: readonly number[] = [1 / 24, 0.25, 1, 3, 7, 14, 30, 45, 64, 90].map((d) => Math.round(d * 86_400));

/** Reads the fleet from the database at scrape time. */
export type FleetSource = () => Promise<FleetSnapshot>;

/** The ACME account's pause (OrderBudget.pausedUntil): undefined while not paused. */
export type AccountPauseSource = () => Promise<{ until: Date } | undefined>;

/** Without an account key, the pause gauges ask again this long after a failure, not at every scrape. */
const ACCOUNT_RETRY_MS = 300_000;

/** Seconds since the epoch, whole. */
const unixSeconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/**
 * `load`, with one call in flight at a time: callers that come while it runs
 * (the gauges of one scrape) share its promise; the next call after it settled
 * loads again, so every scrape reads fresh values.
 */
function sharedWhilePending<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/** A custom unlabelled gauge whose series is absent while `read` gives undefined (prom-client's Gauge always has one). */
function optionalGauge(name: string, help: string, read: () => Promise<number | undefined>): Metric {
  const metric = {
    name,
    help,
    type: 'gauge',
    get: async () => {
      const value = await read();
      return { name, help, type: 'gauge', values: value === undefined ? [] : [{ labels: {}, value }], aggregator: 'omit' };
    },
  };
  return metric as unknown as Metric;
}

/**
 * Prometheus metrics (contract section 7). Names follow cert-manager's where
 * they exist. One registry per service instance, so tests can build several.
 *
 * The per-domain certificate gauges and the remaining-lifetime histogram come
 * from the database at scrape time (`attachFleet`), not from memory filled at
 * start-up: a domain has its own series only while it matters (renewal due,
 * failing, or expiring within 14 days); the rest of the fleet is in the
 * histogram. See docs/operations.md, "Metrics".
 *
 * The series deploy/monitoring's alerts read come from the same scrape: since
 * when each failing domain fails, the last successful run and the scheduling
 * interval to compare it with, the oldest pending ARI check, and the ACME
 * account's pause; each is an aggregate or a bounded indexed read.
 */
export class Metrics {
  readonly registry = new Registry();
  private fleet: { source: FleetSource; logger: Logger | undefined } | undefined;
  /** The query in flight: the metrics of one scrape share it. */
  /** The fleet snapshot of the scrape in progress (attachFleet). */
  private current: () => Promise<FleetSnapshot | undefined> = () => Promise.resolve(undefined);
  private warnedTruncated = false;

  readonly certificateExpiration: Gauge<'domain'>;
  readonly certificateRenewal: Gauge<'domain'>;
  readonly domainFailingSince: Gauge<'domain'>;
  readonly ariChecks = new Counter({
    name: 'autotls_ari_checks_total',
    help: 'ARI checks (RFC 9773) of recorded certificates, by result: moved, unchanged, no-ari, busy, failed.',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private schedule: { kind: 'continuous' | 'cron' | 'outside'; expression?: string } = { kind: 'outside' };
  private cronGap: { at: number; seconds: number | undefined } | undefined;
  /** The account pause of the scrape in progress (attachAccount); null while the account is unknown. */
  private readPause: (() => Promise<{ until: Date } | undefined | null>) | undefined;
  /** When the account source last failed: it is asked again only after ACCOUNT_RETRY_MS (it may read a secret). */
  private pauseFailedAt = Number.NEGATIVE_INFINITY;
  /** The latest continuous-schedule wake that completed with nothing due (it records no run). */
  private lastIdleWake: Date | undefined;
  readonly issuance = new Counter({
    name: 'autotls_issuance_total',
    help: 'Domains processed, by outcome (issued, renewed, failed, skipped, deferred, in-progress).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  /** Issue 16: certificates the second CA issued, by why the primary was passed over. */
  readonly fallbackIssuance = new Counter({
    name: 'autotls_fallback_issuance_total',
    help: 'Certificates issued by the fallback CA (ACME_FALLBACK_DIRECTORY_URL), by why the primary was passed over (unreachable, paused, expiring).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly runDuration = new Histogram({
    name: 'autotls_run_duration_seconds',
    help: 'Duration of renewal runs.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800],
    registers: [this.registry],
  });
  readonly acmeRequests = new Counter({
    name: 'autotls_acme_requests_total',
    help: 'Requests to the ACME server, by endpoint and HTTP status.',
    labelNames: ['endpoint', 'status'],
    registers: [this.registry],
  });
  readonly fleetQueryFailures = new Counter({
    name: 'autotls_fleet_metrics_query_failures_total',
    help: 'Scrapes whose certificate series could not be read from the database (those series are missing from that scrape).',
    registers: [this.registry],
  });

  /** The latest capacity forecast (CapacityPlanner): the backlog and the days to the first expiry. */
  private capacity: (() => { backlogNow: number; firstExpiry: string | null } | undefined) | undefined;

  readonly renewalBacklog = new Gauge({
    name: 'autotls_renewal_backlog',
    help: 'Domains due for a certificate now and not yet processed, from the latest capacity forecast (hourly).',
    registers: [this.registry],
    collect: () => {
      const f = this.capacity?.();
      if (f) this.renewalBacklog.set(f.backlogNow);
    },
  });
  readonly firstExpiry = new Gauge({
    name: 'autotls_capacity_first_expiry_timestamp_seconds',
    help: 'When the first certificate would expire at the configured capacity (schedule, cap, concurrency, budget), as a Unix timestamp, from the latest forecast; +Inf while none would expire within its horizon (60 days) or before the first forecast.',
    registers: [this.registry],
    collect: () => {
      const f = this.capacity?.();
      this.firstExpiry.set(f?.firstExpiry ? Math.floor(Date.parse(f.firstExpiry) / 1000) : Number.POSITIVE_INFINITY);
    },
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the gauge as `this`
    const self = this;
    this.certificateExpiration = new Gauge({
      name: 'autotls_certificate_expiration_timestamp_seconds',
      help: 'The notAfter of the certificate AutoTLS last recorded for a domain, as a Unix timestamp. Only domains whose renewal is due, that are failing, or that expire within 14 days; the whole fleet is in autotls_certificate_remaining_lifetime_seconds.',
      labelNames: ['domain'],
      registers: [this.registry],
      async collect() {
        await self.fill(this, (c) => c.notAfter);
      },
    });
    this.certificateRenewal = new Gauge({
      name: 'autotls_certificate_renewal_timestamp_seconds',
      help: 'When AutoTLS will next renew the certificate of a domain, as a Unix timestamp. Same domains as autotls_certificate_expiration_timestamp_seconds.',
      labelNames: ['domain'],
      registers: [this.registry],
      async collect() {
        await self.fill(this, (c) => c.renewalAt);
      },
    });
    this.domainFailingSince = new Gauge({
      name: 'autotls_domain_failing_since_timestamp_seconds',
      help: 'When the current run of consecutive failures of a domain began (its first failure since the last certificate was recorded), as a Unix timestamp. Only managed domains that are failing, longest failing first (at most 5000).',
      labelNames: ['domain'],
      registers: [this.registry],
      async collect() {
        if (!self.fleet) return;
        const snapshot = await self.current();
        this.reset();
        for (const f of snapshot?.failing ?? []) this.set({ domain: f.domain }, unixSeconds(f.since));
      },
    });
    this.registry.registerMetric(this.lifetimeHistogram() as unknown as Metric);
    this.registry.registerMetric(
      optionalGauge(
        'autotls_last_successful_run_timestamp_seconds',
        'When the latest /process run that did not fail (succeeded, partial or nothing-to-do) finished, as a Unix timestamp, from the database (every instance); with SCHEDULE=continuous also a wake of this instance that found nothing due. Absent before the first.',
        async () => {
          const fromDb = (await this.current())?.runs.lastSuccessfulRunAt;
          const times = [fromDb, this.lastIdleWake].filter((t): t is Date => t !== undefined);
          return times.length > 0 ? unixSeconds(new Date(Math.max(...times.map((t) => t.getTime())))) : undefined;
        },
      ),
    );
    this.registry.registerMetric(
      optionalGauge(
        'autotls_schedule_interval_seconds',
        'The longest expected time between two runs: for a cron SCHEDULE the longest gap among its next 50 run times; for SCHEDULE=continuous its longest sleep plus jitter (3900); without SCHEDULE (an outside cron calls /process) the longest gap between the latest 21 /process runs, absent before two.',
        async () => this.scheduleIntervalSeconds(),
      ),
    );
    this.registry.registerMetric(
      optionalGauge(
        'autotls_ari_oldest_pending_check_timestamp_seconds',
        'Since when the longest-waiting ARI check has been due, as a Unix timestamp: the earliest past next-check time among the certificates ARI is asked about (a certificate never checked counts from its notBefore). Absent while no check is pending.',
        async () => {
          const at = (await this.current())?.ariOldestPendingCheck;
          return at ? unixSeconds(at) : undefined;
        },
      ),
    );
    this.registry.registerMetric(
      optionalGauge(
        'autotls_acme_account_paused',
        '1 while the CA has paused the ACME account (a rate limit for the whole account: no new orders until it ends), else 0. Absent while the account key cannot be loaded.',
        async () => {
          const pause = await this.currentPause();
          return pause === null ? undefined : pause ? 1 : 0;
        },
      ),
    );
    this.registry.registerMetric(
      optionalGauge(
        'autotls_acme_account_paused_until_timestamp_seconds',
        'When the pause of the ACME account ends (the CA\'s Retry-After), as a Unix timestamp. Only while paused.',
        async () => {
          const pause = await this.currentPause();
          return pause ? unixSeconds(pause.until) : undefined;
        },
      ),
    );
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'autotls_' });
  }

  /** Serve the capacity gauges from the latest forecast. */
  attachCapacity(latest: () => { backlogNow: number; firstExpiry: string | null } | undefined): void {
    this.capacity = latest;
  }

  /** The configured SCHEDULE (a cron expression, `continuous`, or none), for autotls_schedule_interval_seconds. */
  attachSchedule(schedule: string | undefined): void {
    this.schedule = schedule === CONTINUOUS ? { kind: 'continuous' } : schedule ? { kind: 'cron', expression: schedule } : { kind: 'outside' };
    this.cronGap = undefined;
  }

  /** Serve the account-pause gauges from the order budget at scrape time. */
  attachAccount(source: AccountPauseSource): void {
    this.pauseFailedAt = Number.NEGATIVE_INFINITY;
    this.readPause = sharedWhilePending(() =>
      source().catch(() => {
        this.pauseFailedAt = Date.now();
        return null;
      }),
    );
  }

  /** A continuous-schedule wake completed with nothing due: it counts as a successful run (it records none). */
  recordIdleWake(at: Date): void {
    if (!this.lastIdleWake || at > this.lastIdleWake) this.lastIdleWake = at;
  }

  /** Serve the certificate series from the database at scrape time. */
  attachFleet(source: FleetSource, logger?: Logger): void {
    this.fleet = { source, logger };
    this.current = sharedWhilePending(() => this.readFleet(source, logger));
  }

  /**
   * Records a certificate just obtained. With a fleet source attached the next
   * scrape reads the database instead (where the flow has recorded it too).
   */
  recordCertificate(domain: string, notAfter: Date, renewalAt: Date): void {
    this.certificateExpiration.set({ domain }, unixSeconds(notAfter));
    this.certificateRenewal.set({ domain }, unixSeconds(renewalAt));
  }

  private readFleet(source: FleetSource, logger: Logger | undefined): Promise<FleetSnapshot | undefined> {
    return source().then(
      (snapshot) => {
        if (snapshot.truncated && !this.warnedTruncated) {
          this.warnedTruncated = true;
          logger?.warn({ series: snapshot.watched.length }, 'metrics: more domains need attention than per-domain series are kept; the most urgent are exposed');
        }
        return snapshot;
      },
      (error: unknown) => {
        this.fleetQueryFailures.inc();
        logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'metrics: reading the certificate series from the database failed');
        return undefined;
      },
    );
  }

  /** The pause shared by one scrape's gauges: undefined when not paused, null when unknown (no account, or it failed within ACCOUNT_RETRY_MS). */
  private currentPause(): Promise<{ until: Date } | undefined | null> {
    if (!this.readPause || Date.now() - this.pauseFailedAt < ACCOUNT_RETRY_MS) return Promise.resolve(null);
    return this.readPause();
  }

  private async scheduleIntervalSeconds(): Promise<number | undefined> {
    const { kind, expression } = this.schedule;
    if (kind === 'continuous') return (CONTINUOUS_MAX_INTERVAL_MS + CONTINUOUS_MAX_JITTER_MS) / 1000;
    if (kind === 'cron' && expression) {
      // The next 50 run times, computed again hourly (cheap, but not per scrape).
      const now = Date.now();
      if (!this.cronGap || now - this.cronGap.at > 3_600_000) {
        const gap = longestCronGapMs(expression, new Date(now));
        this.cronGap = { at: now, seconds: gap === undefined ? undefined : gap / 1000 };
      }
      return this.cronGap.seconds;
    }
    const starts = (await this.current())?.runs.recentStarts ?? [];
    let longest: number | undefined;
    for (let i = 1; i < starts.length; i++) longest = Math.max(longest ?? 0, (starts[i - 1] as Date).getTime() - (starts[i] as Date).getTime());
    return longest === undefined ? undefined : Math.round(longest / 1000);
  }

  private async fill(gauge: Gauge<'domain'>, pick: (c: FleetSnapshot['watched'][number]) => Date | null): Promise<void> {
    if (!this.fleet) return;
    const snapshot = await this.current();
    gauge.reset();
    for (const c of snapshot?.watched ?? []) {
      const at = pick(c);
      if (at) gauge.set({ domain: c.domain }, unixSeconds(at));
    }
  }

  /** A histogram computed from the database at scrape time (prom-client's Histogram only observes). */
  private lifetimeHistogram(): { name: string; help: string; type: 'histogram'; get(): Promise<unknown> } {
    const name = 'autotls_certificate_remaining_lifetime_seconds';
    const help = 'Remaining lifetime of every certificate AutoTLS has recorded, at scrape time (expired certificates count as negative).';
    return {
      name,
      help,
      type: 'histogram',
      get: async () => {
        const snapshot = await this.current();
        const values: Array<MetricValue<string> & { metricName: string }> = [];
        if (snapshot) {
          const { lifetime } = snapshot;
          lifetime.bounds.forEach((b, i) => values.push({ metricName: `${name}_bucket`, labels: { le: b }, value: lifetime.cumulative[i] ?? 0 }));
          values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: lifetime.count });
          values.push({ metricName: `${name}_sum`, labels: {}, value: Math.round(lifetime.sum) });
          values.push({ metricName: `${name}_count`, labels: {}, value: lifetime.count });
        }
        return { name, help, type: 'histogram', values, aggregator: 'sum' };
      },
    };
  }
}
