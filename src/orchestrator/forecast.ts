/**
 * Capacity forecast: renewals due per day against what the configured
 * schedule, per-run cap, concurrency and order budget can do, and the first day
 * a certificate would expire if nothing changes.
 *
 * The fleet comes in as cohorts (certificates that fall due on the same day,
 * with the same lifetime), so that the forecast costs the same at 100 or
 * 100,000 domains. Each day, the due cohorts join the backlog; the day's
 * capacity renews the most urgent first (the selection's own order); a renewed
 * cohort comes due again one renewal interval later with a certificate of the
 * lifetime the CA then issues.
 */

import type { Cohort } from '../domains/fleet-cohorts.js';

export type { Cohort };

const DAY_MS = 86_400_000;


export interface CapacityModel {
  /** Domains that can be processed per day. */
  perDay: number;
  /**
   * New orders a day for domains that have no certificate yet (the order
   * budget). Renewals are not held to it: Let's Encrypt exempts ARI renewals
   * from its order limits, and AutoTLS's budget does too.
   */
  newPerDay: number;
  /** What sets that figure, in words an operator can act on. */
  limitedBy: string;
}

export interface ForecastSettings {
  /** SCHEDULE: a cron expression, `continuous`, or undefined (runs come from outside, e.g. cron calling /process). */
  schedule: string | undefined;
  /** Runs a day an external cron makes when SCHEDULE is unset (the seed's every-8-hours line: 3). */
  externalRunsPerDay: number;
  /** Whether externalRunsPerDay was measured from the recorded runs or assumed. */
  externalRunsMeasured: boolean;
  maxDomainsPerRun: number;
  concurrency: number;
  orderBudget: number;
  /** Seconds one domain takes, on average (order, DNS propagation, validation, upload). */
  secondsPerDomain: number;
  /** cron runs between two instants (injected: croner lives in scheduler.ts). */
  cronRuns: (expression: string, from: Date, to: Date) => number;
}

/** The lifetime of a certificate issued at `at`, and when it is renewed (as a fraction of it). */
export type LifetimePolicy = (at: Date) => { lifetimeMs: number; renewAfterMs: number };

export interface ForecastDay {
  date: string;
  /** Certificates that fell due this day. */
  due: number;
  /** Renewals the configured capacity allows this day. */
  capacity: number;
  renewed: number;
  /** Due but not renewed at the end of the day. */
  backlog: number;
  /** Certificates that expired this day while waiting. */
  expired: number;
}

export interface Forecast {
  from: string;
  days: number;
  capacityPerDay: number;
  limitedBy: string;
  /** Due now, before the first day's capacity. */
  backlogNow: number;
  /** The first day a certificate would expire at this capacity, or null. */
  firstExpiry: string | null;
  /** Days from `from` to `firstExpiry`, or null. */
  daysUntilFirstExpiry: number | null;
  /** Renewals the fleet needs per day in the steady state (certificates / renewal interval), against capacityPerDay. */
  neededPerDay: number;
  perDay: ForecastDay[];
}

/** What the configuration can renew per day. */
export function capacity(settings: ForecastSettings, from: Date): CapacityModel {
  const throughput = Math.floor((settings.concurrency * 86_400) / Math.max(1, settings.secondsPerDomain));
  const newPerDay = settings.orderBudget * 8;
  if (settings.schedule === 'continuous') {
    return { perDay: throughput, newPerDay, limitedBy: `CONCURRENCY=${settings.concurrency} at about ${settings.secondsPerDomain} s per domain (continuous schedule)` };
  }
  const runs =
    settings.schedule === undefined
      ? settings.externalRunsPerDay
      : settings.cronRuns(settings.schedule, from, new Date(from.getTime() + 7 * DAY_MS)) / 7;
  const perRun = settings.maxDomainsPerRun;
  const perDay = Math.floor(Math.min(runs * perRun, throughput));
  const how =
    settings.schedule === undefined
      ? `${runs.toFixed(1)} externally triggered runs a day (${settings.externalRunsMeasured ? 'measured over the last week' : "assumed: the seed's every-8-hours cron line"})`
      : `SCHEDULE="${settings.schedule}" (${runs.toFixed(1)} runs a day)`;
  return { perDay, newPerDay, limitedBy: `${how} × MAX_DOMAINS_PER_RUN=${perRun}` };
}

interface Waiting {
  dueAt: number;
  expiresAt: number;
  count: number;
}

export function forecast(cohorts: readonly Cohort[], model: CapacityModel, lifetime: LifetimePolicy, from: Date, days: number): Forecast {
  const start = from.getTime();
  const pending: Waiting[] = cohorts
    .filter((c) => c.count > 0)
    .map((c) => ({ dueAt: c.dueAt.getTime(), expiresAt: c.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY, count: c.count }))
    .sort((a, b) => a.dueAt - b.dueAt);
  let backlog: Waiting[] = [];
  const perDay: ForecastDay[] = [];
  let firstExpiry: number | undefined;
  const fleet = pending.reduce((n, p) => n + p.count, 0);
  const backlogNow = pending.filter((p) => p.dueAt <= start).reduce((n, p) => n + p.count, 0);

  for (let day = 0; day < days; day++) {
    const dayStart = start + day * DAY_MS;
    const dayEnd = dayStart + DAY_MS;
    let due = 0;
    while (pending.length > 0 && (pending[0] as Waiting).dueAt < dayEnd) {
      const cohort = pending.shift() as Waiting;
      due += cohort.count;
      backlog.push(cohort);
    }
    // The selection's order: no certificate first, then the nearest deadline.
    backlog.sort((a, b) => a.expiresAt - b.expiresAt || a.dueAt - b.dueAt);
    let left = model.perDay;
    let newLeft = model.newPerDay;
    let renewed = 0;
    const renewedAt = dayStart + DAY_MS / 2;
    const next = lifetime(new Date(renewedAt));
    const still: Waiting[] = [];
    for (const cohort of backlog) {
      const isNew = cohort.expiresAt === Number.POSITIVE_INFINITY;
      const take = Math.min(left, cohort.count, isNew ? newLeft : Number.POSITIVE_INFINITY);
      if (take > 0) {
        left -= take;
        if (isNew) newLeft -= take;
        renewed += take;
        insertByDue(pending, { dueAt: renewedAt + next.renewAfterMs, expiresAt: renewedAt + next.lifetimeMs, count: take });
      }
      if (cohort.count > take) still.push({ ...cohort, count: cohort.count - take });
    }
    let expired = 0;
    backlog = [];
    for (const cohort of still) {
      if (cohort.expiresAt < dayEnd) {
        expired += cohort.count;
        firstExpiry ??= Math.max(dayStart, cohort.expiresAt);
        // An expired certificate is still renewed as soon as capacity allows.
        backlog.push({ ...cohort, expiresAt: Number.NEGATIVE_INFINITY });
      } else backlog.push(cohort);
    }
    perDay.push({
      date: new Date(dayStart).toISOString().slice(0, 10),
      due,
      capacity: model.perDay,
      renewed,
      backlog: backlog.reduce((n, c) => n + c.count, 0),
      expired,
    });
  }
  return {
    from: from.toISOString(),
    days,
    capacityPerDay: model.perDay,
    limitedBy: model.limitedBy,
    backlogNow,
    firstExpiry: firstExpiry === undefined ? null : new Date(firstExpiry).toISOString(),
    daysUntilFirstExpiry: firstExpiry === undefined ? null : Math.floor((firstExpiry - start) / DAY_MS),
    neededPerDay: Math.round((fleet * DAY_MS) / lifetime(from).renewAfterMs),
    perDay,
  };
}

function insertByDue(list: Waiting[], item: Waiting): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as Waiting).dueAt <= item.dueAt) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, item);
}

/**
 * Let's Encrypt's lifetimes by profile and issuance date
 * (https://letsencrypt.org/2025/12/02/from-90-to-45): classic 90 days, 64 from
 * 2027-02-10, 45 from 2028-02-16; tlsserver 45 days; shortlived 160 hours.
 * Renewal at two thirds of the lifetime, as ARI suggests (half under 10 days).
 */
export function letsEncryptLifetime(profile: string | undefined): LifetimePolicy {
  return (at) => {
    const t = at.getTime();
    let days: number;
    if (profile === 'shortlived') days = 160 / 24;
    else if (profile === 'tlsserver') days = 45;
    else if (t >= Date.UTC(2028, 1, 16)) days = 45;
    else if (t >= Date.UTC(2027, 1, 10)) days = 64;
    else days = 90;
    const lifetimeMs = days * DAY_MS;
    return { lifetimeMs, renewAfterMs: lifetimeMs * (days < 10 ? 1 / 2 : 2 / 3) };
  };
}

/** A shortfall worth a warning: a certificate would expire within `horizonDays`. */
export function shortfallWarning(f: Forecast, horizonDays: number): string | undefined {
  if (f.daysUntilFirstExpiry === null || f.daysUntilFirstExpiry > horizonDays || f.firstExpiry === null) return undefined;
  return (
    `Capacity shortfall: at ${f.capacityPerDay} renewals a day (${f.limitedBy}) against about ${f.neededPerDay} needed, ` +
    `the first certificate would expire on ${f.firstExpiry.slice(0, 10)} (in ${f.daysUntilFirstExpiry} days). ` +
    'Raise MAX_DOMAINS_PER_RUN, run more often, or set SCHEDULE=continuous.'
  );
}
