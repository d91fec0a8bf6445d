// /metrics after a real /process run (harness: rfc2136 + BIND + Pebble + file
// secrets + SQLite + Fastly fake), read with our own Prometheus text parser.
// Zones z43–z45.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitPem } from '../testbed/helpers.js';
import { startHarness, type Harness } from './harness.js';
import { parsePrometheusText, samplesOf, valueOf, type MetricFamily } from './prom-parse.js';

const DOMAINS = ['z43.test', 'z44.test', 'z45.test'];
/** Made to need attention after the run (one failing, one in backoff), so they have per-domain series; z43 stays healthy. */
const WATCHED = ['z44.test', 'z45.test'];

describe('the Prometheus text parser', () => {
  it('reads HELP/TYPE, labels with escapes, special values, timestamps and histogram parts', () => {
    const text = [
      '# HELP x_total A help with a \\\\ backslash\\nand a newline.',
      '# TYPE x_total counter',
      'x_total{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 3 1700000000000',
      'x_total{a="plain", } 1e3',
      '# a comment',
      '# TYPE h histogram',
      'h_bucket{le="1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 1.5',
      'h_count 2',
      'g Nan',
      'g2 -Inf',
      '',
    ].join('\n');
    const families = parsePrometheusText(text);
    const x = families.get('x_total') as MetricFamily;
    expect(x.help).toBe('A help with a \\ backslash\nand a newline.');
    expect(x.type).toBe('counter');
    expect(x.samples[0]).toEqual({ name: 'x_total', labels: { a: 'q"uote', b: 'back\\slash', c: 'new\nline' }, value: 3, timestamp: 1700000000000 });
    expect(valueOf(families, 'x_total', { a: 'plain' })).toBe(1000);
    expect(families.get('h')?.samples).toHaveLength(4);
    expect(valueOf(families, 'h_bucket', { le: '+Inf' })).toBe(2);
    expect(valueOf(families, 'g')).toBeNaN();
    expect(valueOf(families, 'g2')).toBe(-Infinity);
  });

  it('rejects malformed input with the line number', () => {
    expect(() => parsePrometheusText('ok 1\nbad{a="x} 1')).toThrow(/line 2: unterminated/);
    expect(() => parsePrometheusText('m{a="\\t"} 1')).toThrow(/line 1: invalid escape/);
    expect(() => parsePrometheusText('m one')).toThrow(/line 1: not a number/);
    expect(() => parsePrometheusText('# TYPE m wobbly')).toThrow(/unknown type/);
  });
});

describe('/metrics after a run', () => {
  let h: Harness;
  let families: Map<string, MetricFamily>;
  /** The scrape right after the run, when every certificate is fresh and healthy. */
  let healthy: Map<string, MetricFamily>;
  let contentType: string | null;

  beforeAll(async () => {
    h = await startHarness();
    for (const d of DOMAINS) await h.addDomain(d);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results.map((r) => r.outcome)).toEqual(['issued', 'issued', 'issued']);
    const res = await h.request('/metrics', { key: null });
    expect(res.status).toBe(200);
    contentType = res.headers.get('content-type');
    healthy = parsePrometheusText(await res.text());
    // Per-domain series are kept for domains that need attention: make two of them so.
    const db = h.components.database.client;
    const id = async (d: string): Promise<number> => (await h.components.repository.findByName(d))?.id as number;
    await db.domainState.update({ where: { domainId: await id('z44.test') }, data: { lastOutcome: 'failed' } });
    await db.domainState.update({ where: { domainId: await id('z45.test') }, data: { backoffUntil: new Date(Date.now() + 3600_000), failureCount: 1 } });
    families = parsePrometheusText(await (await h.request('/metrics', { key: null })).text());
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function leaf(domain: string): Promise<X509Certificate> {
    const fullchain = await h.components.secrets.get(`pem-secret/${domain}/fullchain`);
    return new X509Certificate(splitPem(fullchain as string)[0] as string);
  }

  it('is served without the API key in the Prometheus text format', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const [name, type] of [
      ['autotls_certificate_expiration_timestamp_seconds', 'gauge'],
      ['autotls_certificate_renewal_timestamp_seconds', 'gauge'],
      ['autotls_issuance_total', 'counter'],
      ['autotls_run_duration_seconds', 'histogram'],
      ['autotls_acme_requests_total', 'counter'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help, name).toBeTruthy();
    }
  });

  it('healthy fresh certificates have no per-domain series; the fleet histogram counts them', () => {
    expect(samplesOf(healthy, 'autotls_certificate_expiration_timestamp_seconds')).toEqual([]);
    expect(samplesOf(healthy, 'autotls_certificate_renewal_timestamp_seconds')).toEqual([]);
    expect(healthy.get('autotls_certificate_remaining_lifetime_seconds')?.type).toBe('histogram');
    expect(valueOf(healthy, 'autotls_certificate_remaining_lifetime_seconds_count')).toBe(DOMAINS.length);
    expect(valueOf(healthy, 'autotls_certificate_remaining_lifetime_seconds_bucket', { le: String(14 * 86400) })).toBe(0);
    expect(valueOf(healthy, 'autotls_certificate_remaining_lifetime_seconds_bucket', { le: '+Inf' })).toBe(DOMAINS.length);
  });

  it('only the domains that need attention get per-domain series', () => {
    const domains = samplesOf(families, 'autotls_certificate_expiration_timestamp_seconds').map((s) => s.labels.domain);
    expect(domains.sort()).toEqual(WATCHED);
  });

  it("autotls_certificate_expiration_timestamp_seconds is each certificate's notAfter", async () => {
    for (const domain of WATCHED) {
      const notAfter = new Date((await leaf(domain)).validTo).getTime() / 1000;
      expect(valueOf(families, 'autotls_certificate_expiration_timestamp_seconds', { domain })).toBe(notAfter);
    }
  });

  it('autotls_certificate_renewal_timestamp_seconds lies between notBefore and notAfter', async () => {
    for (const domain of WATCHED) {
      const cert = await leaf(domain);
      const renewal = valueOf(families, 'autotls_certificate_renewal_timestamp_seconds', { domain });
      expect(renewal).toBeGreaterThan(new Date(cert.validFrom).getTime() / 1000);
      expect(renewal).toBeLessThan(new Date(cert.validTo).getTime() / 1000);
      const state = await h.components.state.get((await h.components.repository.findByName(domain))?.id as number);
      expect(renewal).toBe(Math.floor((state?.nextRenewalAt?.getTime() ?? 0) / 1000));
    }
  });

  it('autotls_issuance_total counts the issued domains', () => {
    expect(valueOf(families, 'autotls_issuance_total', { outcome: 'issued' })).toBe(DOMAINS.length);
    expect(samplesOf(families, 'autotls_issuance_total', { outcome: 'failed' })).toEqual([]);
  });

  it('autotls_run_duration_seconds has counted the run, with consistent buckets', () => {
    const count = valueOf(families, 'autotls_run_duration_seconds_count');
    expect(count).toBeGreaterThanOrEqual(1);
    expect(valueOf(families, 'autotls_run_duration_seconds_sum')).toBeGreaterThan(0);
    const buckets = samplesOf(families, 'autotls_run_duration_seconds_bucket');
    expect(buckets.at(-1)?.labels.le).toBe('+Inf');
    expect(buckets.at(-1)?.value).toBe(count);
    buckets.slice(1).forEach((b, i) => expect(b.value).toBeGreaterThanOrEqual((buckets[i] as { value: number }).value));
  });

  it('autotls_acme_requests_total counts requests by endpoint and status', () => {
    const requests = samplesOf(families, 'autotls_acme_requests_total');
    for (const sample of requests) expect(sample.labels.status).toMatch(/^\d+$/);
    const count = (endpoint: string): number =>
      samplesOf(families, 'autotls_acme_requests_total', { endpoint }).filter((s) => /^2\d\d$/.test(s.labels.status ?? '')).reduce((n, s) => n + s.value, 0);
    expect(count('newOrder')).toBe(DOMAINS.length);
    expect(count('finalize')).toBeGreaterThanOrEqual(DOMAINS.length);
    expect(count('newNonce')).toBeGreaterThanOrEqual(1);
  });

  it('certificate gauges survive a restart: a new instance on the same database exposes them', async () => {
    const restarted = await startHarness({ shared: h.shared });
    try {
      const after = parsePrometheusText(await (await restarted.request('/metrics', { key: null })).text());
      for (const domain of WATCHED) {
        for (const name of ['autotls_certificate_expiration_timestamp_seconds', 'autotls_certificate_renewal_timestamp_seconds']) {
          expect(valueOf(after, name, { domain }), `${name} ${domain}`).toBe(valueOf(families, name, { domain }));
        }
      }
      expect(samplesOf(after, 'autotls_issuance_total')).toEqual([]);
    } finally {
      await restarted.stop();
    }
  });

  it('the series the deploy/monitoring alerts read: last successful run, account pause, failing domains', async () => {
    const { runs } = (await (await h.request('/runs?limit=1')).json()) as { runs: Array<{ finishedAt: string }> };
    const finished = Math.floor(Date.parse(runs[0]?.finishedAt ?? '') / 1000);
    expect(valueOf(families, 'autotls_last_successful_run_timestamp_seconds')).toBe(finished);
    expect(families.get('autotls_last_successful_run_timestamp_seconds')?.type).toBe('gauge');
    expect(valueOf(families, 'autotls_acme_account_paused')).toBe(0);
    expect(samplesOf(families, 'autotls_acme_account_paused_until_timestamp_seconds')).toEqual([]);
    // No domain failed: no failing-since series (the two made to need attention were edited, not failed).
    expect(samplesOf(families, 'autotls_domain_failing_since_timestamp_seconds')).toEqual([]);
    expect(families.get('autotls_domain_failing_since_timestamp_seconds')?.type).toBe('gauge');
    const db = h.components.database.client;
    const z44 = (await h.components.repository.findByName('z44.test'))?.id as number;
    const since = new Date(Date.now() - 30 * 3_600_000);
    await db.domainState.update({ where: { domainId: z44 }, data: { failingSince: since, failureCount: 3 } });
    try {
      const after = parsePrometheusText(await (await h.request('/metrics', { key: null })).text());
      expect(valueOf(after, 'autotls_domain_failing_since_timestamp_seconds', { domain: 'z44.test' })).toBe(Math.floor(since.getTime() / 1000));
    } finally {
      await db.domainState.update({ where: { domainId: z44 }, data: { failingSince: null, failureCount: 0 } });
    }
  });

  it('includes the default process and Node.js metrics', () => {
    for (const name of [
      'autotls_process_cpu_user_seconds_total',
      'autotls_process_resident_memory_bytes',
      'autotls_process_start_time_seconds',
      'autotls_nodejs_heap_size_used_bytes',
      'autotls_nodejs_eventloop_lag_seconds',
      'autotls_nodejs_version_info',
    ]) {
      expect(families.has(name), name).toBe(true);
      expect(families.get(name)?.samples.length, name).toBeGreaterThan(0);
    }
  });
});
