// `npm run simulate -- --help`: the lifecycle simulator (bench/README.md, "Lifecycle simulator").
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChart } from '../../src/util/svg-chart.js';
import { parseArgs, USAGE } from './args.js';
import { simulate, type SimResult } from './sim.js';

function chart(result: SimResult, title: string): string {
  const { days } = result;
  const finite = (v: number): number => (Number.isFinite(v) ? Number(v.toFixed(2)) : Number.NaN);
  return renderChart({
    title,
    labels: days.map((d) => d.date.slice(5)),
    series: [
      { name: 'renewals / day', kind: 'bar', color: '#2e86de', values: days.map((d) => d.renewals + d.newCertificates) },
      { name: 'orders / day', kind: 'bar', color: '#a4b0be', values: days.map((d) => d.orders) },
      { name: 'backlog (max of day)', kind: 'line', color: '#e67e22', values: days.map((d) => d.backlog) },
      { name: 'rate-limit hits / day', kind: 'line', color: '#c0392b', values: days.map((d) => d.rateLimitHits) },
      { name: 'min remaining lifetime, days', kind: 'line', color: '#27ae60', axis: 'right', values: days.map((d) => finite(d.minRemainingDays)) },
    ],
    leftAxis: 'domains per day',
    rightAxis: 'days of lifetime left (least in the fleet)',
    spans: result.spans,
    markers: result.markers,
  });
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const progress = (line: string): void => {
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
    else if (Date.now() - lastLine > 30_000) {
      lastLine = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
  const result = await simulate(options, progress);
  if (tty) process.stderr.write('\n');
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'summary.json'), `${JSON.stringify(result.summary, null, 2)}\n`);
  writeFileSync(join(options.out, 'days.json'), `${JSON.stringify(result.days)}\n`);
  const s = result.summary;
  const title = `AutoTLS simulated: ${String(s.domains)} domains, ${String(s.profile)}, ${String(s.schedule)}, ${String(s.start)} to ${String(s.end)}, ${String(s.database)}`;
  writeFileSync(join(options.out, 'chart.svg'), chart(result, title));
  const keys = ['domains', 'days', 'truncated', 'simulatedDays', 'issuances', 'expired', 'servedRevoked', 'rateLimitRejections', 'budgetExceeded', 'worstRemainingHoursAtRenewal', 'renewalsPastWindowEnd', 'crashes', 'wakes', 'wallSeconds', 'simDaysPerWallSecond', 'projectedWallSecondsForAllDays', 'loadAverage'];
  process.stdout.write(`${keys.map((k) => `${k}: ${JSON.stringify(s[k])}`).join('\n')}\nwritten: ${join(options.out, 'summary.json')}, chart.svg, days.json\n`);
  // Abandoned (crashed) instances leave promises that never settle and unref'd timers; nothing else is pending.
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`\nsimulate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
