// Prints the Markdown results table of bench/README.md ("Scenario results") from
// bench/results/simulate-*/summary.json: `node --import tsx bench/simulate/results-table.ts [dir ...]`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../lib/args.js';

interface Summary {
  domains?: number;
  initialDomains?: number;
  profile?: string;
  database?: string;
  schedule?: string;
  days?: number;
  simulatedDays?: number;
  truncated?: boolean;
  wallSeconds?: number;
  warmUpWallSeconds?: number;
  simDaysPerWallSecond?: number;
  projectedWallSecondsForAllDays?: number | null;
  expired?: number;
  servedRevoked?: number;
  rateLimitRejections?: number;
  budgetExceeded?: boolean;
  worstRemainingHoursAtRenewal?: number | null;
  renewalsPastWindowEnd?: number;
  loadAverage?: { atStart: number[]; afterWarmUp: number[]; atEnd: number[] };
  commit?: string | null;
}

const cell = (v: unknown): string => (v === undefined || v === null ? '–' : String(v));

const results = join(repoRoot, 'bench/results');
const dirs = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(results).filter((d) => d.startsWith('simulate-')).map((d) => join(results, d));
const rows: string[] = [
  '| result | domains | profile, db | simulated days | wall s (warm-up) | sim-days/s | expired | servedRevoked | rateLimitRejections | budgetExceeded | worstRemainingHoursAtRenewal | renewalsPastWindowEnd | load (1-min: start / after warm-up / end) | commit |',
  '|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|',
];
for (const dir of dirs) {
  const file = join(dir, 'summary.json');
  if (!existsSync(file)) continue;
  const s = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  const name = dir.split('/').pop() ?? dir;
  const size = s.initialDomains !== undefined && s.domains !== s.initialDomains ? `${cell(s.initialDomains)} + ${(s.domains ?? 0) - s.initialDomains}` : cell(s.domains);
  const days = s.truncated ? `**${cell(s.simulatedDays)} of ${cell(s.days)} (truncated)**` : cell(s.simulatedDays ?? s.days);
  const wall = `${cell(s.wallSeconds)}${s.warmUpWallSeconds !== undefined ? ` (${s.warmUpWallSeconds})` : ''}`;
  const rate = `${cell(s.simDaysPerWallSecond)}${s.projectedWallSecondsForAllDays ? `; all ${cell(s.days)} days ≈ ${Math.round(s.projectedWallSecondsForAllDays / 60)} min` : ''}`;
  const load = s.loadAverage ? `${s.loadAverage.atStart[0]} / ${s.loadAverage.afterWarmUp[0]} / ${s.loadAverage.atEnd[0]}` : '–';
  rows.push(
    `| \`${name}\` | ${size} | ${cell(s.profile)}, ${cell(s.database)} | ${days} | ${wall} | ${rate} | ${cell(s.expired)} | ${cell(s.servedRevoked)} | ${cell(s.rateLimitRejections)} | ${cell(s.budgetExceeded)} | ${cell(s.worstRemainingHoursAtRenewal)} | ${cell(s.renewalsPastWindowEnd)} | ${load} | ${cell(s.commit)} |`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
