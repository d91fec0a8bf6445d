import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (contract section 7). Names follow cert-manager's where
 * they exist. One registry per service instance, so tests can build several.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly certificateExpiration = new Gauge({
    name: 'autotls_certificate_expiration_timestamp_seconds',
    help: 'The notAfter of the certificate AutoTLS last recorded for a domain, as a Unix timestamp.',
    labelNames: ['domain'],
    registers: [this.registry],
  });
  readonly certificateRenewal = new Gauge({
    name: 'autotls_certificate_renewal_timestamp_seconds',
    help: 'When AutoTLS will next renew the certificate of a domain, as a Unix timestamp.',
    labelNames: ['domain'],
    registers: [this.registry],
  });
  readonly issuance = new Counter({
    name: 'autotls_issuance_total',
    help: 'Domains processed, by outcome (issued, renewed, failed, skipped, deferred, in-progress).',
    labelNames: ['outcome'],
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

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'autotls_' });
  }

  recordCertificate(domain: string, notAfter: Date, renewalAt: Date): void {
    this.certificateExpiration.set({ domain }, Math.floor(notAfter.getTime() / 1000));
    this.certificateRenewal.set({ domain }, Math.floor(renewalAt.getTime() / 1000));
  }
}
