import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/notifier.js';
import type { FleetCohorts } from '../domains/fleet-cohorts.js';
import type { RunDocument } from './runs.js';
import { capacity, forecast, letsEncryptLifetime, shortfallWarning, type Forecast, type ForecastSettings } from './forecast.js';
import { cronRunsBetween } from './scheduler.js';
import { errorMessage } from '../util/errors.js';

const DAY_MS = 86_400_000;
/** Seconds one domain takes when no run has been measured yet (order, propagation, validation, upload). */
const DEFAULT_SECONDS_PER_DOMAIN = 60;
/** A shortfall is announced when a certificate would expire within this many days. */
export const SHORTFALL_HORIZON_DAYS = 30;

export interface CapacityPlannerSettings {
  schedule: string | undefined;
  maxDomainsPerRun: number;
  concurrency: number;
  orderBudget: number;
  excludedDomains: string[];
  windowDays: number;
  profile: string | undefined;
}

export interface CapacityPlannerDeps {
  cohorts: FleetCohorts;
  /** Recent runs, newest first: how often an outside cron calls /process, and how long a domain takes. */
  recentRuns: (limit: number) => Promise<RunDocument[]>;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  settings: CapacityPlannerSettings;
}

/**
 * Forecasts whether the configured capacity keeps the fleet valid, and warns
 * (through the notifier, at most once a day) when a certificate would expire
 * within SHORTFALL_HORIZON_DAYS.
 */
export class CapacityPlanner {
  private lastWarning = 0;
  private latest: Forecast | undefined;

  constructor(private readonly deps: CapacityPlannerDeps) {}

  /** The most recent forecast (for the gauges), if any was made. */
  get last(): Forecast | undefined {
    return this.latest;
  }

  async forecast(days: number): Promise<Forecast> {
    const { settings, clock } = this.deps;
    const now = clock.now();
    const [cohorts, runs] = await Promise.all([
      this.deps.cohorts.read({ excluded: settings.excludedDomains, windowDays: settings.windowDays }),
      this.deps.recentRuns(200),
    ]);
    const measured = measureRuns(runs, now, settings.concurrency);
    const forecastSettings: ForecastSettings = {
      schedule: settings.schedule,
      externalRunsPerDay: measured.runsPerDay ?? 3,
      externalRunsMeasured: measured.runsPerDay !== undefined,
      maxDomainsPerRun: settings.maxDomainsPerRun,
      concurrency: settings.concurrency,
      orderBudget: settings.orderBudget,
      secondsPerDomain: measured.secondsPerDomain ?? DEFAULT_SECONDS_PER_DOMAIN,
      cronRuns: cronRunsBetween,
    };
    this.latest = forecast(cohorts, capacity(forecastSettings, now), letsEncryptLifetime(settings.profile), now, days);
    return this.latest;
  }

  /** Forecasts and warns when capacity falls short; never throws. */
  async check(): Promise<Forecast | undefined> {
    try {
      const f = await this.forecast(SHORTFALL_HORIZON_DAYS + 30);
      const warning = shortfallWarning(f, SHORTFALL_HORIZON_DAYS);
      const now = this.deps.clock.now().getTime();
      if (warning && now - this.lastWarning >= DAY_MS) {
        this.lastWarning = now;
        this.deps.logger.warn({ firstExpiry: f.firstExpiry, capacityPerDay: f.capacityPerDay, neededPerDay: f.neededPerDay }, 'capacity shortfall');
        await this.deps.notifier.alert(warning);
      }
      return f;
    } catch (error) {
      this.deps.logger.warn({ err: errorMessage(error) }, 'capacity forecast failed');
      return undefined;
    }
  }
}

/**
 * From the last week's runs: how many /process runs a day an outside cron
 * makes, and the seconds one domain takes (run time × workers / domains).
 */
export function measureRuns(runs: readonly RunDocument[], now: Date, concurrency: number): { runsPerDay?: number; secondsPerDomain?: number } {
  const since = now.getTime() - 7 * DAY_MS;
  const recent = runs.filter((r) => Date.parse(r.startedAt) >= since && r.finishedAt !== null);
  const worked = recent.filter((r) => r.results.some((x) => x.outcome === 'issued' || x.outcome === 'renewed'));
  const perDomain = worked
    .map((r) => {
      const n = r.results.filter((x) => x.outcome === 'issued' || x.outcome === 'renewed').length;
      return ((Date.parse(r.finishedAt as string) - Date.parse(r.startedAt)) / 1000) * Math.min(concurrency, n) / n;
    })
    .sort((a, b) => a - b);
  const oldest = recent.at(-1);
  const span = oldest ? (now.getTime() - Date.parse(oldest.startedAt)) / DAY_MS : 0;
  return {
    ...(recent.length >= 2 && span >= 1 ? { runsPerDay: recent.length / span } : {}),
    ...(perDomain.length > 0 ? { secondsPerDomain: Math.max(1, perDomain[Math.floor(perDomain.length / 2)] as number) } : {}),
  };
}
