import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import type { FleetCohorts } from '../../../src/domains/fleet-cohorts.js';
import { CapacityPlanner, measureRuns } from '../../../src/orchestrator/capacity-planner.js';
import type { Cohort } from '../../../src/orchestrator/forecast.js';
import type { Notifier } from '../../../src/notify/notifier.js';
import type { RunDocument } from '../../../src/orchestrator/runs.js';

const DAY = 86_400_000;

function recordingNotifier(): Notifier & { alerts: string[] } {
  const alerts: string[] = [];
  return { name: 'recording', alerts, domainFinished: async () => undefined, runFinished: async () => undefined, alert: async (m) => void alerts.push(m) };
}

function planner(clock: FakeClock, cohorts: Cohort[], notifier: Notifier, schedule: string | undefined) {
  return new CapacityPlanner({
    cohorts: { read: async () => cohorts } as unknown as FleetCohorts,
    recentRuns: async () => [],
    notifier,
    clock,
    logger: pino({ level: 'silent' }),
    settings: { schedule, maxDomainsPerRun: 10, concurrency: 5, orderBudget: 300, excludedDomains: [], windowDays: 15, profile: 'tlsserver' },
  });
}

/** 2,000 certificates of 45 days, due evenly over the next 30 days. */
function fleet(clock: FakeClock): Cohort[] {
  const now = clock.now().getTime();
  return Array.from({ length: 30 }, (_, d) => ({ dueAt: new Date(now + d * DAY), expiresAt: new Date(now + (d + 15) * DAY), count: 67 }));
}

describe('CapacityPlanner.check', () => {
  it('warns through the notifier when a certificate would expire within 30 days, once a day', async () => {
    const clock = new FakeClock('2027-03-01T00:00:00Z');
    const notifier = recordingNotifier();
    const p = planner(clock, fleet(clock), notifier, '0 */8 * * *');
    const f = await p.check();
    expect(f?.daysUntilFirstExpiry).toBeGreaterThanOrEqual(14);
    expect(notifier.alerts).toHaveLength(1);
    expect(notifier.alerts[0]).toMatch(/Capacity shortfall: at 30 renewals a day .* the first certificate would expire on 2027-03-\d\d/);
    await p.check();
    expect(notifier.alerts).toHaveLength(1);
    clock.advance(DAY);
    await p.check();
    expect(notifier.alerts).toHaveLength(2);
  });

  it('stays quiet when capacity keeps up', async () => {
    const clock = new FakeClock('2027-03-01T00:00:00Z');
    const notifier = recordingNotifier();
    await planner(clock, fleet(clock), notifier, 'continuous').check();
    expect(notifier.alerts).toEqual([]);
  });

  it('never throws: a failed read is logged', async () => {
    const clock = new FakeClock('2027-03-01T00:00:00Z');
    const p = new CapacityPlanner({
      cohorts: { read: async () => Promise.reject(new Error('database away')) } as unknown as FleetCohorts,
      recentRuns: async () => [],
      notifier: recordingNotifier(),
      clock,
      logger: pino({ level: 'silent' }),
      settings: { schedule: undefined, maxDomainsPerRun: 10, concurrency: 5, orderBudget: 300, excludedDomains: [], windowDays: 15, profile: undefined },
    });
    await expect(p.check()).resolves.toBeUndefined();
  });
});

describe('measureRuns', () => {
  const now = new Date('2027-03-08T00:00:00Z');
  const run = (startedAt: number, seconds: number, renewed: number): RunDocument => ({
    runId: String(startedAt),
    status: 'succeeded',
    testmode: false,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(startedAt + seconds * 1000).toISOString(),
    results: Array.from({ length: renewed }, (_, i) => ({ domain: `d${i}`, certificateStatus: 'renew', outcome: 'renewed', notAfter: null, messages: [], errors: [] })),
  });
  it('measures the runs a day an outside cron makes, and the seconds per domain', () => {
    const runs = Array.from({ length: 21 }, (_, i) => run(now.getTime() - (i + 1) * 8 * 3_600_000, 100, 10)).filter((r) => Date.parse(r.startedAt) >= now.getTime() - 7 * DAY);
    const m = measureRuns(runs, now, 5);
    expect(m.runsPerDay).toBeCloseTo(3, 0);
    expect(m.secondsPerDomain).toBe(50); // 100 s × 5 workers / 10 domains
  });
  it('measures nothing without runs', () => {
    expect(measureRuns([], now, 5)).toEqual({});
  });
});
