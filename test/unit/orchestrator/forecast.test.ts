import { describe, expect, it } from 'vitest';
import { capacity, forecast, letsEncryptLifetime, shortfallWarning, type Cohort, type ForecastSettings } from '../../../src/orchestrator/forecast.js';
import { cronRunsBetween } from '../../../src/orchestrator/scheduler.js';

const DAY = 86_400_000;
const from = new Date('2027-03-01T00:00:00Z');

const base: ForecastSettings = {
  schedule: '0 */8 * * *',
  externalRunsPerDay: 3,
  externalRunsMeasured: false,
  maxDomainsPerRun: 10,
  concurrency: 5,
  orderBudget: 300,
  secondsPerDomain: 60,
  cronRuns: cronRunsBetween,
};

/** `count` certificates of `lifetimeDays`, issued evenly over the last renewal interval: as many fall due every day. */
function steadyFleet(count: number, lifetimeDays: number): Cohort[] {
  const renewEvery = (lifetimeDays * 2) / 3;
  return Array.from({ length: Math.round(renewEvery) }, (_, day) => ({
    dueAt: new Date(from.getTime() + day * DAY),
    expiresAt: new Date(from.getTime() + day * DAY + (lifetimeDays - renewEvery) * DAY),
    count: Math.round(count / renewEvery),
  }));
}

describe('capacity', () => {
  it('cron: runs a day × MAX_DOMAINS_PER_RUN (the seed: every 8 hours, 10 a run = 30 a day)', () => {
    expect(capacity(base, from)).toMatchObject({ perDay: 30 });
    expect(capacity({ ...base, schedule: undefined }, from).perDay).toBe(30);
    expect(capacity({ ...base, schedule: '0 3 * * *' }, from).limitedBy).toMatch(/MAX_DOMAINS_PER_RUN=10/);
  });
  it('continuous: CONCURRENCY × what one worker does in a day', () => {
    expect(capacity({ ...base, schedule: 'continuous' }, from)).toMatchObject({ perDay: 7200 });
  });
});

describe('forecast', () => {
  it('names the first expiry when the seed setup cannot keep 2,000 45-day certificates', () => {
    const f = forecast(steadyFleet(2000, 45), capacity(base, from), letsEncryptLifetime('tlsserver'), from, 60);
    expect(f.capacityPerDay).toBe(30);
    expect(f.neededPerDay).toBeGreaterThan(60);
    expect(f.daysUntilFirstExpiry).not.toBeNull();
    // About 67 due a day against 30: the backlog outgrows the 15 days each certificate has left.
    expect(f.daysUntilFirstExpiry as number).toBeGreaterThanOrEqual(14);
    expect(f.daysUntilFirstExpiry as number).toBeLessThan(40);
    expect(f.perDay.at(-1)?.backlog).toBeGreaterThan(0);
    expect(shortfallWarning(f, 30)).toMatch(/first certificate would expire on \d{4}-\d\d-\d\d/);
  });

  it('finds no expiry when capacity keeps up, including the re-renewals inside the horizon', () => {
    const f = forecast(steadyFleet(2000, 45), capacity({ ...base, schedule: 'continuous' }, from), letsEncryptLifetime('tlsserver'), from, 120);
    expect(f.firstExpiry).toBeNull();
    expect(f.perDay.every((d) => d.backlog === 0)).toBe(true);
    // 120 days of 30-day renewal cycles: every certificate renewed about four times.
    expect(f.perDay.reduce((n, d) => n + d.renewed, 0)).toBeGreaterThan(7000);
    expect(shortfallWarning(f, 30)).toBeUndefined();
  });

  it('puts domains with no certificate in the backlog now, without an expiry', () => {
    const f = forecast([{ dueAt: from, expiresAt: null, count: 100 }], capacity(base, from), letsEncryptLifetime(undefined), from, 5);
    expect(f.backlogNow).toBe(100);
    expect(f.perDay.map((d) => d.renewed)).toEqual([30, 30, 30, 10, 0]);
    expect(f.firstExpiry).toBeNull();
  });
});

describe('forecast: onboarding', () => {
  it('spreads new domains over the order budget, while renewals keep their capacity', () => {
    const model = capacity({ ...base, schedule: 'continuous' }, from);
    expect(model.newPerDay).toBe(2400);
    const renewalsToday = { dueAt: from, expiresAt: new Date(from.getTime() + 10 * DAY), count: 500 };
    const f = forecast([{ dueAt: from, expiresAt: null, count: 5000 }, renewalsToday], model, letsEncryptLifetime(undefined), from, 4);
    expect(f.perDay.map((d) => d.renewed)).toEqual([2900, 2400, 200, 0]);
    expect(f.firstExpiry).toBeNull();
  });
});

describe('letsEncryptLifetime', () => {
  it("follows Let's Encrypt's schedule for the classic profile", () => {
    expect(letsEncryptLifetime('classic')(new Date('2027-01-01')).lifetimeMs).toBe(90 * DAY);
    expect(letsEncryptLifetime('classic')(new Date('2027-02-10')).lifetimeMs).toBe(64 * DAY);
    expect(letsEncryptLifetime(undefined)(new Date('2028-02-16')).lifetimeMs).toBe(45 * DAY);
    expect(letsEncryptLifetime('shortlived')(new Date('2027-01-01')).lifetimeMs).toBe(160 * 3_600_000);
    expect(letsEncryptLifetime('shortlived')(new Date('2027-01-01')).renewAfterMs).toBe(80 * 3_600_000);
  });
});
