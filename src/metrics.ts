import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric, type MetricValue } from 'prom-client';
import type { FleetSnapshot } from './db/fleet-metrics.js';
import type { Logger } from './logger.js';

/** Buckets of `autotls_certificate_remaining_lifetime_seconds`: 1h, 6h, 1d, 3d, 7d, 14d, 30d, 45d, 64d, 90d. */
export const REMAINING_LIFETIME_BUCKETS: readonly number[] = [1 / 24, 0.25, 1, 3, 7, 14, 30, 45, 64, 90].map((d) => Math.round(d * 86_400));

/** Reads the fleet from the database at scrape time. */
export type FleetSource = () => Promise<FleetSnapshot>;

/**
 * Prometheus metrics (contract section 7). Names follow cert-manager's where
 * they exist. One registry per service instance, so tests can build several.
 *
 * The per-domain certificate gauges and the remaining-lifetime histogram come
 * from the database at scrape time (`attachFleet`), not from memory filled at
 * start-up: a domain has its own series only while it matters (renewal due,
 * failing, or expiring within 14 days); the rest of the fleet is in the
 * histogram. See docs/operations.md, "Metrics".
 */
export class Metrics {
  readonly registry = new Registry();
  private fleet: { source: FleetSource; logger: Logger | undefined } | undefined;
  /** The query in flight: the metrics of one scrape share it. */
  private snapshot: Promise<FleetSnapshot | undefined> | undefined;
  private warnedTruncated = false;

  readonly certificateExpiration: Gauge<'domain'>;
  readonly certificateRenewal: Gauge<'domain'>;
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
    this.registry.registerMetric(this.lifetimeHistogram() as unknown as Metric);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'autotls_' });
  }

  /** Serve the capacity gauges from the latest forecast. */
  attachCapacity(latest: () => { backlogNow: number; firstExpiry: string | null } | undefined): void {
    this.capacity = latest;
  }

  /** Serve the certificate series from the database at scrape time. */
  attachFleet(source: FleetSource, logger?: Logger): void {
    this.fleet = { source, logger };
    this.snapshot = undefined;
  }

  /**
   * Records a certificate just obtained. With a fleet source attached the next
   * scrape reads the database instead (where the flow has recorded it too).
   */
  recordCertificate(domain: string, notAfter: Date, renewalAt: Date): void {
    this.certificateExpiration.set({ domain }, Math.floor(notAfter.getTime() / 1000));
    this.certificateRenewal.set({ domain }, Math.floor(renewalAt.getTime() / 1000));
  }

  private current(): Promise<FleetSnapshot | undefined> {
    const fleet = this.fleet;
    if (!fleet) return Promise.resolve(undefined);
    if (this.snapshot) return this.snapshot;
    const promise = fleet.source().then(
      (snapshot) => {
        if (snapshot.truncated && !this.warnedTruncated) {
          this.warnedTruncated = true;
          fleet.logger?.warn({ series: snapshot.watched.length }, 'metrics: more domains need attention than per-domain series are kept; the most urgent are exposed');
        }
        return snapshot;
      },
      (error: unknown) => {
        this.fleetQueryFailures.inc();
        fleet.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'metrics: reading the certificate series from the database failed');
        return undefined;
      },
    );
    this.snapshot = promise;
    void promise.finally(() => {
      if (this.snapshot === promise) this.snapshot = undefined;
    });
    return promise;
  }

  private async fill(gauge: Gauge<'domain'>, pick: (c: FleetSnapshot['watched'][number]) => Date | null): Promise<void> {
    if (!this.fleet) return;
    const snapshot = await this.current();
    gauge.reset();
    for (const c of snapshot?.watched ?? []) {
      const at = pick(c);
      if (at) gauge.set({ domain: c.domain }, Math.floor(at.getTime() / 1000));
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
