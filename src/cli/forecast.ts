import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Components } from '../composition.js';
import type { Forecast } from '../orchestrator/forecast.js';
import { renderChart } from '../util/svg-chart.js';
import { table, type Output } from './output.js';

export interface ForecastCommandDeps {
  withComponents: <T>(work: (c: Components) => Promise<T>) => Promise<T>;
  createOutput: (json: boolean) => Output;
  /** Parses a positive integer option, or throws the CLI's usage error. */
  positiveInt: (value: string, option: string) => number;
}

/** `autotls forecast [--days N] [--json] [--svg FILE]` (contract section 6). */
export function registerForecastCommand(program: Command, deps: ForecastCommandDeps): void {
  program
    .command('forecast')
    .description('renewals due per day against the capacity of the configured schedule and budgets; the first day a certificate would expire')
    .option('--days <n>', 'days to look ahead', '60')
    .option('--svg <file>', 'also draw the forecast as an SVG chart')
    .option('--json', 'JSON output')
    .action(async (opts: { days: string; svg?: string; json?: boolean }) => {
      const days = deps.positiveInt(opts.days, '--days');
      const out = deps.createOutput(Boolean(opts.json));
      await deps.withComponents(async (c) => {
        const f = await out.progress('Forecasting', c.planner.forecast(days));
        if (opts.svg) writeFileSync(opts.svg, forecastChart(f));
        out.print(describeForecast(f), f);
      });
    });
}

export function describeForecast(f: Forecast): string {
  const verdict =
    f.firstExpiry === null
      ? `No certificate expires in the next ${f.days} days at this capacity.`
      : `FIRST EXPIRY: ${f.firstExpiry.slice(0, 10)} (in ${f.daysUntilFirstExpiry} days), unless capacity grows.`;
  const busy = f.perDay.filter((d) => d.due > 0 || d.backlog > 0 || d.expired > 0);
  const rows = busy.slice(0, 40).map((d) => [d.date, String(d.due), String(d.renewed), String(d.backlog), String(d.expired)]);
  return [
    `Capacity: ${f.capacityPerDay} renewals a day (${f.limitedBy}); the fleet needs about ${f.neededPerDay} a day.`,
    `Due now: ${f.backlogNow}.`,
    verdict,
    '',
    rows.length > 0 ? table(['DAY', 'DUE', 'RENEWED', 'BACKLOG', 'EXPIRED'], rows) : 'Nothing falls due in this period.',
    ...(busy.length > 40 ? [`… ${busy.length - 40} more days (use --json)`] : []),
  ].join('\n');
}

export function forecastChart(f: Forecast): string {
  const expiryIndex = f.firstExpiry ? f.perDay.findIndex((d) => d.date === f.firstExpiry?.slice(0, 10)) : -1;
  return renderChart({
    title: `AutoTLS capacity forecast from ${f.from.slice(0, 10)}: ${f.capacityPerDay}/day (${f.limitedBy})`,
    labels: f.perDay.map((d) => d.date.slice(5)),
    leftAxis: 'certificates per day',
    rightAxis: 'backlog',
    series: [
      { name: 'due', kind: 'bar', color: '#5b9bd5', values: f.perDay.map((d) => d.due) },
      { name: 'renewed', kind: 'bar', color: '#70ad47', values: f.perDay.map((d) => d.renewed) },
      { name: 'capacity', kind: 'line', color: '#333333', values: f.perDay.map((d) => d.capacity) },
      { name: 'backlog', kind: 'line', color: '#ed7d31', axis: 'right', values: f.perDay.map((d) => d.backlog) },
    ],
    markers: expiryIndex >= 0 ? [{ at: expiryIndex, label: `first expiry ${f.firstExpiry?.slice(0, 10) ?? ''}` }] : [],
  });
}
