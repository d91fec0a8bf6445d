// deploy/monitoring (issue 17 item 3): the alert rules and the Grafana dashboard
// use only metrics the service exports (taken from the real registry of
// src/metrics.ts), every alert is well formed and has a firing and a quiet
// promtool test case, and the dashboard has the structure Grafana imports.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { headingIds } from '../docs/markdown.js';
import { Metrics } from '../../../src/metrics.js';
import { ROOT } from '../../e2e/cli-helpers.js';
import { exportedName, metricNames } from './promql.js';

const DIR = join(ROOT, 'deploy/monitoring');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; datasource?: { uid?: string }; query?: string | { query?: string }; definition?: string }> };
}

const rules = parse(readFileSync(join(DIR, 'autotls.rules.yml'), 'utf8')) as RuleFile;
const ruleTests = parse(readFileSync(join(DIR, 'autotls.rules.test.yml'), 'utf8')) as {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
};
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as Dashboard;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');

/** name → type of every metric the service registers, with its default process metrics: the real registry. */
async function exportedMetrics(): Promise<Map<string, string>> {
  const metrics = new Metrics({ defaultMetrics: true });
  const out = new Map<string, string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) out.set(m.name, String(m.type));
  return out;
}

/** Series Prometheus makes itself for every target (https://prometheus.io/docs/concepts/jobs_instances/). */
const PROMETHEUS_SERIES = new Set(['up']);

/** Every PromQL expression of a dashboard: panel targets (rows included) and the metric of a label_values() variable. */
export function dashboardExpressions(d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const visit = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ where: `panel ${p.id} "${p.title}" ${t.refId ?? ''}`, expr: t.expr ?? '' });
      visit(p.panels ?? []);
    }
  };
  visit(d.panels);
  for (const v of d.templating.list) {
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /^\s*label_values\(\s*(.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/.exec(query);
    if (m) out.push({ where: `variable $${v.name}`, expr: m[1] as string });
    else if (/^\s*(query_result|metrics)\(/.test(query)) throw new Error(`variable $${v.name}: query not understood: ${query}`);
  }
  return out;
}

/** Every PromQL expression of the rules: `expr`, and the queries annotation templates run (`query` after a string). */
function ruleExpressions(file: RuleFile): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const r of file.groups.flatMap((g) => g.rules)) {
    const name = r.alert ?? r.record ?? '?';
    out.push({ where: `rule ${name}`, expr: r.expr });
    for (const [key, text] of Object.entries(r.annotations ?? {})) {
      for (const m of text.matchAll(/(?:with|range)?\s*(?:printf\s+)?"((?:[^"\\]|\\.)*)"[^|}]*\|\s*query/g)) {
        out.push({ where: `rule ${name} annotation ${key}`, expr: (m[1] as string).replace(/%q/g, '"x"') });
      }
    }
  }
  return out;
}

/** The metric names among `expressions` that the service does not export. */
function unknownMetrics(expressions: Array<{ where: string; expr: string }>, exported: ReadonlyMap<string, string>): string[] {
  const unknown: string[] = [];
  for (const { where, expr } of expressions) {
    for (const name of metricNames(expr)) {
      if (!PROMETHEUS_SERIES.has(name) && exportedName(name, exported) === undefined) unknown.push(`${where}: ${name}`);
    }
  }
  return unknown;
}

describe('the PromQL metric-name reader', () => {
  it('finds metric names and leaves out functions, keywords, label lists, matchers, ranges and numbers', () => {
    expect(metricNames('time() - min by (job, domain) (a_seconds{job=~"$job",le="1"}) > 86400')).toEqual(['a_seconds']);
    expect(metricNames('sum by (status) (rate(b_total{x="y}"}[$__rate_interval])) / on (job) group_left (z) c offset 5m')).toEqual(['b_total', 'c']);
    expect(metricNames('(x - time()) / 86400 < 1e9 unless on (job, domain) (y > bool 0.5) or vector(0)')).toEqual(['x', 'y']);
    expect(metricNames('histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m:1m])))')).toEqual(['h_bucket']);
  });

  it('counts _bucket, _sum and _count as parts of an exported histogram only', () => {
    const exported = new Map([['h', 'histogram'], ['g', 'gauge']]);
    expect(exportedName('h_bucket', exported)).toBe('h');
    expect(exportedName('h_sum', exported)).toBe('h');
    expect(exportedName('g', exported)).toBe('g');
    expect(exportedName('g_count', exported)).toBeUndefined();
    expect(exportedName('nope', exported)).toBeUndefined();
  });
});

describe('deploy/monitoring uses only metrics the service exports', () => {
  it('the alert rules', async () => {
    const exported = await exportedMetrics();
    const expressions = ruleExpressions(rules);
    expect(expressions.length).toBeGreaterThan(alerts.length); // the backlog annotation's query is read too
    expect(unknownMetrics(expressions, exported)).toEqual([]);
  });

  it('the Grafana dashboard', async () => {
    const exported = await exportedMetrics();
    const expressions = dashboardExpressions(dashboard);
    expect(expressions.length).toBeGreaterThanOrEqual(20);
    expect(unknownMetrics(expressions, exported)).toEqual([]);
    // The panels the issue asks for read these.
    const all = expressions.map((e) => e.expr).join('\n');
    for (const name of ['autotls_certificate_remaining_lifetime_seconds_bucket', 'autotls_issuance_total', 'autotls_run_duration_seconds_bucket', 'autotls_acme_requests_total', 'autotls_renewal_backlog']) {
      expect(all, name).toContain(name);
    }
  });

  it('a panel naming a metric the service does not export is reported', async () => {
    const exported = await exportedMetrics();
    const broken = structuredClone(dashboard);
    (broken.panels.find((p) => p.targets?.length) as Panel).targets?.push({ refId: 'Z', expr: 'sum(rate(autotls_certificates_renewed_total[5m]))' });
    broken.templating.list.push({ name: 'v', type: 'query', query: { query: 'label_values(autotls_made_up_info, domain)' } });
    const unknown = unknownMetrics(dashboardExpressions(broken), exported);
    expect(unknown).toHaveLength(2);
    expect(unknown[0]).toMatch(/autotls_certificates_renewed_total$/);
    expect(unknown[1]).toBe('variable $v: autotls_made_up_info');
    // A histogram part of a gauge is no metric either.
    expect(unknownMetrics([{ where: 'x', expr: 'autotls_renewal_backlog_count' }], exported)).toEqual(['x: autotls_renewal_backlog_count']);
  });
});

describe('autotls.rules.yml', () => {
  it('has the alerts of issue 17, each with for, a severity, a summary, a description and a runbook that resolves', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'AutoTLSCertificateExpiringSoon',
        'AutoTLSDomainFailing',
        'AutoTLSNoSuccessfulRun',
        'AutoTLSRenewalBacklogExceedsCapacity',
        'AutoTLSARIChecksStale',
        'AutoTLSACMEAccountPaused',
      ]),
    );
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      expect(a.for, a.alert).toMatch(/^\d+[smhd]$/);
      expect(['warning', 'critical'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      const [file = '', anchor] = (a.annotations?.runbook ?? '').split('#');
      const markdown = readFileSync(join(ROOT, file), 'utf8');
      if (anchor) expect(headingIds(markdown), `${a.alert}: ${a.annotations?.runbook}`).toContain(anchor);
    }
  });

  it('every alert has a promtool test case where it fires and one where it stays quiet', () => {
    expect(ruleTests.rule_files).toEqual(['autotls.rules.yml']);
    const cases = ruleTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const own = cases.filter((c) => c.alertname === a.alert);
      expect(own.some((c) => c.exp_alerts.length > 0), `${a.alert} fires`).toBe(true);
      expect(own.some((c) => c.exp_alerts.length === 0), `${a.alert} stays quiet`).toBe(true);
    }
  });
});

describe('prometheusrule.yaml (Prometheus Operator)', () => {
  it('holds exactly the groups of autotls.rules.yml, as its regeneration command writes them', () => {
    const text = readFileSync(join(DIR, 'prometheusrule.yaml'), 'utf8');
    const resource = parse(text) as { apiVersion: string; kind: string; metadata: { name: string }; spec: RuleFile };
    expect(resource).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'autotls' } });
    expect(resource.spec.groups).toEqual(rules.groups);
    // Byte for byte: the header up to the marker, then autotls.rules.yml indented by two spaces.
    const marker = '# ---- rules ----\n';
    const header = text.slice(0, text.indexOf(marker) + marker.length);
    const indented = readFileSync(join(DIR, 'autotls.rules.yml'), 'utf8').replace(/^/gm, '  ').replace(/ {2}$/, '');
    expect(text, 'regenerate prometheusrule.yaml with the command in its header').toBe(header + indented);
  });
});

describe('grafana-dashboard.json', () => {
  it('is an importable dashboard: the datasource an input variable, unique panel ids, every panel with PromQL targets', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('autotls');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const ids = new Set<number>();
    const visit = (panels: Panel[]): void => {
      for (const p of panels) {
        expect(ids.has(p.id), `duplicate panel id ${p.id}`).toBe(false);
        ids.add(p.id);
        expect(p.gridPos, p.title).toMatchObject({ x: expect.any(Number), y: expect.any(Number), w: expect.any(Number), h: expect.any(Number) });
        if (p.type === 'row') {
          visit(p.panels ?? []);
          continue;
        }
        expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        const refIds = new Set<string>();
        for (const t of p.targets ?? []) {
          expect(t.expr?.trim(), p.title).toBeTruthy();
          expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
          expect(refIds.has(t.refId ?? ''), `${p.title}: refId ${t.refId}`).toBe(false);
          refIds.add(t.refId ?? '');
        }
      }
    };
    visit(dashboard.panels);
    for (const v of dashboard.templating.list) if (v.type === 'query') expect(v.datasource?.uid, v.name).toBe('${DS_PROMETHEUS}');
    // Every panel filters on the job variable, so several AutoTLS deployments can share one Prometheus.
    for (const { where, expr } of dashboardExpressions(dashboard).filter((e) => !e.where.startsWith('variable'))) {
      for (const name of metricNames(expr)) expect(expr, `${where}: ${name}`).toMatch(new RegExp(`${name}\\{[^}]*job=~"\\$job"`));
    }
  });
});
