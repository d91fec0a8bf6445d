// The results: comparisons against the targets, a Markdown table on stdout
// (pasted into bench/README.md), and the JSON record in bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AutotlsResult } from './autotls.js';
import type { BareResult } from './bare.js';
import type { CertbotResult } from './certbot.js';
import type { LegoResult } from './lego.js';
import type { SelectionResult } from './selection.js';

export const TARGETS = {
  speedupVsCertbot: 10,
  speedupVsLego: 10,
  throughputVsBare: 0.8,
  selectionP95Ms: 50,
  peakRssMb: 200,
} as const;

export interface StageError {
  stage: string;
  error: string;
}

export interface Comparison {
  database: string;
  concurrency: number;
  /** certbot renew time / AutoTLS time. */
  speedupVsCertbot: number | undefined;
  /** lego total time / AutoTLS time. */
  speedupVsLego: number | undefined;
  /** AutoTLS certificates per second / bare loop's at the same concurrency. */
  throughputVsBare: number | undefined;
}

export interface TargetCheck {
  target: string;
  value: string;
  met: boolean | undefined;
}

export interface BenchReport {
  date: string;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  versions: Record<string, unknown>;
  autotls: AutotlsResult[];
  bare: BareResult[];
  certbot: CertbotResult | undefined;
  lego: LegoResult | undefined;
  selection: SelectionResult | undefined;
  comparisons: Comparison[];
  targets: TargetCheck[];
  verdict: { allSucceeded: boolean; targetsMet: boolean };
  errors: StageError[];
}

type Inputs = Omit<BenchReport, 'comparisons' | 'targets' | 'verdict'>;

/** With --repeat: one representative per variant, the run with the median wall time (all runs stay in the JSON). */
export function medianRuns<T extends { wallMs: number }>(runs: readonly T[], key: (r: T) => string): T[] {
  const groups = new Map<string, T[]>();
  for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return [...groups.values()].map((g) => [...g].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((g.length - 1) / 2)] as T);
}

function spread<T extends { wallMs: number }>(runs: readonly T[], pick: (r: T) => boolean): string {
  const xs = runs.filter(pick).map((r) => r.wallMs);
  if (xs.length < 2) return '';
  return ` (${xs.length} runs: ${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)} s)`;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

export function buildReport(inputs: Inputs): BenchReport {
  const autotlsMedian = medianRuns(inputs.autotls, (a) => `${a.database}/${a.concurrency}`);
  const bareMedian = medianRuns(inputs.bare, (b) => String(b.concurrency));
  const comparisons: Comparison[] = autotlsMedian.map((a) => {
    const bare = bareMedian.find((b) => b.concurrency === a.concurrency);
    return {
      database: a.database,
      concurrency: a.concurrency,
      speedupVsCertbot: inputs.certbot ? r2(inputs.certbot.wallMs / a.wallMs) : undefined,
      speedupVsLego: inputs.lego ? r2(inputs.lego.wallMs / a.wallMs) : undefined,
      throughputVsBare: bare ? r2(a.certsPerSecond / bare.certsPerSecond) : undefined,
    };
  });
  const targets: TargetCheck[] = [];
  const check = (target: string, values: Array<number | undefined>, ok: (v: number) => boolean, fmt: (v: number) => string): void => {
    const present = values.filter((v): v is number => v !== undefined);
    if (present.length === 0) {
      targets.push({ target, value: 'not measured', met: undefined });
      return;
    }
    targets.push({ target, value: present.map(fmt).join(', '), met: present.every(ok) });
  };
  check(`AutoTLS >= ${TARGETS.speedupVsCertbot}x faster than certbot`, comparisons.map((c) => c.speedupVsCertbot), (v) => v >= TARGETS.speedupVsCertbot, (v) => `${v.toFixed(1)}x`);
  check(`AutoTLS >= ${TARGETS.speedupVsLego}x faster than lego`, comparisons.map((c) => c.speedupVsLego), (v) => v >= TARGETS.speedupVsLego, (v) => `${v.toFixed(1)}x`);
  check(`AutoTLS >= ${TARGETS.throughputVsBare * 100}% of the bare loop's throughput`, comparisons.map((c) => c.throughputVsBare), (v) => v >= TARGETS.throughputVsBare, (v) => `${Math.round(v * 100)}%`);
  const baseline = inputs.selection?.variants.filter((v) => v.mode === 'as migrated') ?? [];
  check(`selectDue p95 < ${TARGETS.selectionP95Ms} ms (${inputs.selection?.rows ?? 0} rows, schema as migrated)`, baseline.map((v) => v.selectDue.p95), (v) => v < TARGETS.selectionP95Ms, (v) => `${v} ms`);
  check(`AutoTLS peak RSS < ${TARGETS.peakRssMb} MB`, inputs.autotls.map((a) => a.peakRssMb), (v) => v < TARGETS.peakRssMb, (v) => `${v.toFixed(0)} MB`);

  const allSucceeded =
    inputs.errors.length === 0 &&
    inputs.autotls.every((a) => a.failed.length === 0 && (a.renewal?.failed.length ?? 0) === 0) &&
    inputs.bare.every((b) => b.failed.length === 0) &&
    (inputs.certbot?.failed.length ?? 0) === 0 &&
    (inputs.lego?.failed.length ?? 0) === 0 &&
    baseline.every((v) => v.matchesReference);
  return { ...inputs, comparisons, targets, verdict: { allSucceeded, targetsMet: targets.every((t) => t.met !== false) } };
}

function omit(o: Record<string, number>, key: string): Record<string, number> {
  const copy = { ...o };
  delete copy[key];
  // The bench process's reaped children are certbot/lego only; elsewhere they are noise (npm, openssl).
  if (key !== 'clients') delete copy.clients;
  return copy;
}

const s = (msValue: number): string => (msValue / 1000).toFixed(msValue < 10_000 ? 2 : 1);

export function formatTable(report: BenchReport): string {
  let r = report;
  const lines: string[] = [];
  const n = r.options.n as number;
  const allAutotls = r.autotls;
  const allBare = r.bare;
  r = { ...r, autotls: medianRuns(r.autotls, (a) => `${a.database}/${a.concurrency}`), bare: medianRuns(r.bare, (b) => String(b.concurrency)) };
  lines.push(`N = ${n} certificates (apex + wildcard, DNS-01 via RFC2136 to BIND, Pebble with PEBBLE_AUTHZREUSE=0), ${String(r.machine.cpus)} CPUs, ${r.date.slice(0, 16).replace('T', ' ')} UTC, commit ${String(r.versions.commit)}`);
  lines.push('');
  lines.push('| client | database | concurrency | ok / N | wall time | certs/s | vs bare loop | × faster than certbot | × faster than lego | peak RSS | first certificate after |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const first = (v: number | undefined): string => (v === undefined ? '–' : `${(v / 1000).toFixed(2)} s`);
  const concurrencies = [...new Set([...r.bare.map((b) => b.concurrency), ...r.autotls.map((a) => a.concurrency)])].sort((a, b) => a - b);
  for (const c of concurrencies) {
    const bare = r.bare.find((b) => b.concurrency === c);
    if (bare) lines.push(`| bare acme-client loop | – | ${c} | ${bare.succeeded}/${bare.n} | ${s(bare.wallMs)} s${spread(allBare, (x) => x.concurrency === c)} | ${bare.certsPerSecond.toFixed(2)} | 100% | ${r.certbot ? (r.certbot.wallMs / bare.wallMs).toFixed(1) : '–'} | ${r.lego ? (r.lego.wallMs / bare.wallMs).toFixed(1) : '–'} | – | – |`);
    for (const a of r.autotls.filter((x) => x.concurrency === c)) {
      const cmp = r.comparisons.find((x) => x.concurrency === c && x.database === a.database);
      const pct = cmp?.throughputVsBare !== undefined ? `${Math.round(cmp.throughputVsBare * 100)}%` : '–';
      lines.push(`| AutoTLS \`/process\` | ${a.database} | ${c} | ${a.succeeded}/${a.n} | ${s(a.wallMs)} s${spread(allAutotls, (x) => x.concurrency === c && x.database === a.database)} | ${a.certsPerSecond.toFixed(2)} | ${pct} | ${cmp?.speedupVsCertbot?.toFixed(1) ?? '–'} | ${cmp?.speedupVsLego?.toFixed(1) ?? '–'} | ${a.peakRssMb?.toFixed(0) ?? '?'} MB | ${first(a.firstIssuedMs)} |`);
    }
    for (const a of r.autotls.filter((x) => x.concurrency === c && x.renewal)) {
      const w = a.renewal;
      if (!w) continue;
      const pct = bare ? `${Math.round((w.certsPerSecond / bare.certsPerSecond) * 100)}%` : '–';
      lines.push(`| AutoTLS 2nd \`/process\` (renewals, warm) | ${a.database} | ${c} | ${w.succeeded}/${a.n} | ${s(w.wallMs)} s | ${w.certsPerSecond.toFixed(2)} | ${pct} | ${r.certbot ? (r.certbot.wallMs / w.wallMs).toFixed(1) : '–'} | ${r.lego ? (r.lego.wallMs / w.wallMs).toFixed(1) : '–'} | ${w.peakRssMb?.toFixed(0) ?? '?'} MB | ${first(w.firstIssuedMs)} |`);
    }
  }
  if (r.certbot) lines.push(`| certbot \`renew --force-renewal\` (one process) | – | 1 | ${r.certbot.succeeded}/${r.certbot.n} | ${s(r.certbot.wallMs)} s | ${r.certbot.certsPerSecond.toFixed(2)} | – | 1.0 | – | – | – |`);
  if (r.lego) lines.push(`| lego \`run\` (one process per certificate) | – | 1 | ${r.lego.succeeded}/${r.lego.n} | ${s(r.lego.wallMs)} s | ${r.lego.certsPerSecond.toFixed(2)} | – | – | 1.0 | – | – |`);
  if (r.certbot) lines.push('', `certbot: obtaining the ${r.certbot.n} lineages first (sequential \`certonly\`, not compared) took ${s(r.certbot.obtainMs)} s.`);
  if (r.lego) lines.push(`lego: single processes took ${s(r.lego.minMs)} to ${s(r.lego.maxMs)} s.`);

  const cpuRows: Array<{ label: string; n: number; wallMs: number; cpu: Record<string, number> }> = [
    ...r.bare.map((b) => ({ label: `bare loop c=${b.concurrency}`, n: b.succeeded, wallMs: b.wallMs, cpu: { client: b.cpu.bench ?? 0, ...omit(b.cpu, 'bench') } })),
    ...r.autotls.map((a) => ({ label: `AutoTLS ${a.database} c=${a.concurrency}`, n: a.succeeded, wallMs: a.wallMs, cpu: { client: a.cpu.autotls ?? 0, ...omit(a.cpu, 'autotls') } })),
    ...r.autotls.flatMap((a) => (a.renewal ? [{ label: `AutoTLS ${a.database} c=${a.concurrency}, 2nd run`, n: a.renewal.succeeded, wallMs: a.renewal.wallMs, cpu: { client: a.renewal.cpu.autotls ?? 0, ...omit(a.renewal.cpu, 'autotls') } }] : [])),
    ...(r.certbot ? [{ label: 'certbot renew', n: r.certbot.succeeded, wallMs: r.certbot.wallMs, cpu: { client: r.certbot.cpu.clients ?? 0, ...omit(r.certbot.cpu, 'clients') } }] : []),
    ...(r.lego ? [{ label: 'lego', n: r.lego.succeeded, wallMs: r.lego.wallMs, cpu: { client: r.lego.cpu.clients ?? 0, ...omit(r.lego.cpu, 'clients') } }] : []),
  ];
  if (cpuRows.length > 0) {
    const cores = Number(r.machine.cpus) || 1;
    lines.push('');
    lines.push(`Where the CPU went: CPU time (user+sys) per certificate, ms, by process; "busy" = all of it against wall time × ${cores} cores (other users of the machine not counted):`);
    lines.push('');
    lines.push('| run | client process | pebble | bind | postgres | bench process (Fastly fake) | busy |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const row of cpuRows) {
      const per = (k: string): string => (row.cpu[k] === undefined || row.n === 0 ? '–' : String(Math.round((row.cpu[k] as number) / row.n)));
      const total = Object.values(row.cpu).reduce((a, b) => a + b, 0);
      lines.push(`| ${row.label} | ${per('client')} | ${per('pebble')} | ${per('bind')} | ${per('postgres')} | ${per('bench')} | ${Math.round((total / (row.wallMs * cores)) * 100)}% |`);
    }
  }

  if (r.selection) {
    const sel = r.selection;
    lines.push('');
    lines.push(`Selecting due domains: \`DomainRepository.selectDue({ limit: 10, excluded: [20 names], windowDays: 15 })\`, ${sel.rows} domains, ${sel.iterations} timed calls (ms):`);
    lines.push('');
    lines.push('| database | data set | schema / query | selectDue p50 | p95 | p99 | its statements alone (raw driver, p50) | result = reference | selectBackedOff p50 / p95 |');
    lines.push('|---|---|---|---:|---:|---:|---:|---|---:|');
    for (const v of sel.variants) {
      const raw = v.plans.filter((p) => p.statement.startsWith('selectDue')).map((p) => p.rawMs).join(' + ');
      lines.push(`| ${v.database} | ${v.scenario} | ${v.mode} | ${v.selectDue.p50} | **${v.selectDue.p95}** | ${v.selectDue.p99} | ${raw} | ${v.matchesReference ? 'yes' : 'NO'} (${v.returned} rows) | ${v.selectBackedOff.p50} / ${v.selectBackedOff.p95} |`);
    }
    lines.push('');
    for (const [k, v] of Object.entries(sel.scenarios)) lines.push(`- data set \`${k}\`: ${v}`);
    const modes = new Set(sel.variants.map((v) => v.mode));
    for (const [k, v] of Object.entries(sel.modes)) if (modes.has(k as (typeof sel.variants)[number]['mode'])) lines.push(`- \`${k}\`: ${v}`);
  }
  lines.push('');
  lines.push('| target | measured | met |');
  lines.push('|---|---|---|');
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.value} | ${t.met === undefined ? '–' : t.met ? 'yes' : '**no**'} |`);
  const failures = [
    ...r.autotls.flatMap((a) => a.failed.map((f) => `AutoTLS ${a.database} c=${a.concurrency}: ${f}`)),
    ...r.autotls.flatMap((a) => a.renewal?.failed.map((f) => `AutoTLS ${a.database} c=${a.concurrency} 2nd run: ${f}`) ?? []),
    ...r.bare.flatMap((b) => b.failed.map((f) => `bare c=${b.concurrency}: ${f}`)),
    ...(r.certbot?.failed.map((f) => `certbot: ${f}`) ?? []),
    ...(r.lego?.failed.map((f) => `lego: ${f}`) ?? []),
    ...r.errors.map((e) => `${e.stage}: ${e.error.split('\n')[0] ?? ''}`),
  ];
  if (failures.length > 0) {
    lines.push('', `Failures (${failures.length}):`);
    for (const f of failures.slice(0, 20)) lines.push(`- ${f}`);
  }
  return lines.join('\n');
}

export function printTable(r: BenchReport): void {
  process.stdout.write(`\n${formatTable(r)}\n`);
}

export function writeJson(file: string, r: BenchReport): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
}
