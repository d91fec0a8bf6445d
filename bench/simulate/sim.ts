/**
 * The lifecycle simulator (issue 13 item 1): the real service, composed by
 * src/composition.ts (Orchestrator, DomainFlow, repository, state store, order
 * budget, renewal policy, ARI refresher, capacity planner, pending events), on
 * a fake clock, against SQLite or PostgreSQL, with the shared in-memory
 * counterparts of test/fakes at the network edges. See bench/README.md,
 * "Lifecycle simulator".
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { Cron } from 'croner';
import { compose, type Components } from '../../src/composition.js';
import { loadSettings } from '../../src/config/index.js';
import type { Settings } from '../../src/config/settings.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { continuousWake } from '../../src/server.js';
import { ContinuousScheduler } from '../../src/orchestrator/scheduler.js';
import type { Forecast } from '../../src/orchestrator/forecast.js';
import { createFakeWorld, type FakeWorld } from '../../test/fakes/world.js';
import { simpleWindow } from '../../test/fakes/memory-ca.js';
import { seededRandom } from '../../test/fakes/random.js';
import type { SimOptions } from './args.js';
import { round } from '../lib/util.js';
import { splitCosts, type CostSplit, type WakeSample } from './cost-split.js';
import { guarded, guardedFunction, Life, severDatabase, tappedFastly, type ServedChange } from './edges.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const IMPORT_SLICE = 100;

/** What one domain is served at Fastly, as the tap saw it. */
interface Served {
  serial: string;
  notBefore: number;
  notAfter: number;
  /** Start and end of the CA's suggested window (Boulder's RenewalInfoSimple). */
  windowStart: number;
  windowEnd: number;
  /** ARI announced this certificate's revocation (its window moved into the past). */
  revocationAnnounced: boolean;
  revokedAt: number | undefined;
  /** Already counted as served while expired / revoked (the hourly sweep). */
  expiredSeen: boolean;
  revokedSeen: boolean;
}

export interface DayRow {
  date: string;
  renewals: number;
  newCertificates: number;
  orders: number;
  /** Least remaining lifetime across the served fleet at any sample of the day, in days. */
  minRemainingDays: number;
  /** Most domains due (past their window start, or with nothing served) at any sample of the day. */
  backlog: number;
  rateLimitHits: number;
  expiredDomains: number;
}

export interface SimResult {
  summary: Record<string, unknown>;
  days: DayRow[];
  spans: Array<{ from: number; to: number; label: string }>;
  markers: Array<{ at: number; label: string }>;
}

export interface Progress {
  (line: string): void;
}

export async function simulate(options: SimOptions, progress: Progress): Promise<SimResult> {
  const wallStart = performance.now();
  // The machine is shared: its load average goes with every timing.
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  // The code that runs is the code at start (another commit may land during a long run).
  const commitAtStart = gitCommit();
  const start = options.start.getTime();
  let end = start + options.days * DAY;
  let truncated = false;
  const random = seededRandom(options.seed * 7919 + 17);
  const world: FakeWorld = createFakeWorld({ start: options.start, seed: options.seed, ca: { defaultProfile: options.profile } });
  const { clock, ca } = world;
  const logger: Logger = createLogger({ level: options.logLevel });
  // The SQLite file on tmpfs where there is one: the disk is an edge like the network. Every
  // write transaction fsyncs the WAL (synchronous=FULL), 0.2-0.4 ms each on this machine's
  // disk and about a fifth of a simulated renewal; the service's own work is what is measured.
  const tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'autotls-sim-'));

  // ---- the database ----------------------------------------------------------
  let databaseUrl = `file:${join(tmp, 'sim.db')}`;
  let stopPostgres: (() => Promise<void>) | undefined;
  let databaseNote = 'SQLite file in a temp directory';
  if (options.db === 'postgresql') {
    const fromEnv = process.env.SIMULATE_DATABASE_URL;
    if (fromEnv) {
      databaseUrl = fromEnv;
      databaseNote = 'SIMULATE_DATABASE_URL';
    } else {
      const { startPostgres } = await import('../../test/testbed/services.js');
      const { createTestbedDir, destroyTestbedDir } = await import('../../test/testbed/process.js');
      const dir = createTestbedDir();
      const postgres = await startPostgres({ dir });
      databaseUrl = await postgres.createDatabase(`sim_${Date.now()}`);
      stopPostgres = async () => {
        await postgres.stop();
        await destroyTestbedDir(dir);
      };
      databaseNote = `throwaway cluster (test/testbed startPostgres) on port ${postgres.port}`;
    }
  }

  const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const env: Record<string, string> = {
    APP_ENV: 'production',
    API_KEY: randomBytes(24).toString('hex'),
    LOG_LEVEL: options.logLevel,
    DATABASE_URL: databaseUrl,
    ACME_KEY_TYPE: 'ec256',
    ACME_PROFILE: options.profile,
    LE_ACCOUNT_KEY_SECRET: accountKeyPem,
    FASTLY_API_TOKEN: 'simulated-token',
    FASTLY_TLS_CONFIGURATION_ID: 'cfg-simulated',
    SCHEDULE: options.schedule,
    SECRETS_PROVIDER: 'file',
    SECRETS_DIR: join(tmp, 'secrets'),
    DNS_PROVIDER: 'rfc2136',
    RFC2136_NAMESERVER: '127.0.0.1:53',
    RFC2136_TSIG_KEY: 'simulated.',
    RFC2136_TSIG_SECRET: randomBytes(32).toString('base64'),
    ...(options.maxPerRun === undefined ? {} : { MAX_DOMAINS_PER_RUN: String(options.maxPerRun) }),
    ...(options.concurrency === undefined ? {} : { CONCURRENCY: String(options.concurrency) }),
  };
  const settings: Settings = loadSettings(env);

  // ---- bookkeeping from the fakes' own state -----------------------------------
  const served = new Map<string, Served>();
  const stats = {
    issuancesAtStart: 0,
    renewals: 0,
    newCertificates: 0,
    worstRemainingHoursAtRenewal: Number.POSITIVE_INFINITY,
    worstRenewalDomain: '',
    renewalsPastWindowEnd: 0,
    expiredDomains: new Set<string>(),
    expiredDomainHours: 0,
    firstExpiryAt: undefined as number | undefined,
    revokedDomains: new Set<string>(),
    revokedDomainHours: 0,
    ariChecksAtStart: 0,
    crashes: [] as string[],
    wakes: 0,
    runs: 0,
  };
  let measuring = false;
  let dayIndex = 0;
  const dayRows: DayRow[] = [];
  const newDay = (i: number): DayRow => ({
    date: new Date(start + i * DAY).toISOString().slice(0, 10),
    renewals: 0,
    newCertificates: 0,
    orders: 0,
    minRemainingDays: Number.POSITIVE_INFINITY,
    backlog: 0,
    rateLimitHits: 0,
    expiredDomains: 0,
  });
  const today = (): DayRow => {
    const i = Math.min(Math.max(0, Math.floor((clock.now().getTime() - start) / DAY)), Math.ceil(options.days) - 1);
    while (dayRows.length <= i) dayRows.push(newDay(dayRows.length));
    dayIndex = i;
    return dayRows[i] as DayRow;
  };

  const onServed = (change: ServedChange): void => {
    const now = clock.now().getTime();
    const window = simpleWindow(change.notBefore, change.notAfter);
    for (const domain of change.domains) {
      const old = served.get(domain);
      if (old && old.serial === change.serial) continue;
      if (measuring) {
        const row = today();
        if (old) {
          stats.renewals++;
          row.renewals++;
          const remaining = (old.notAfter - now) / HOUR;
          if (remaining < stats.worstRemainingHoursAtRenewal) {
            stats.worstRemainingHoursAtRenewal = remaining;
            stats.worstRenewalDomain = domain;
          }
          if (!old.revocationAnnounced && now > old.windowEnd) stats.renewalsPastWindowEnd++;
          if (old.notAfter < now) {
            stats.expiredDomains.add(domain);
            stats.expiredDomainHours += (now - old.notAfter) / HOUR;
            stats.firstExpiryAt = Math.min(stats.firstExpiryAt ?? Number.POSITIVE_INFINITY, old.notAfter);
          }
          if (old.revokedAt !== undefined && old.revokedAt < now) {
            stats.revokedDomains.add(domain);
            stats.revokedDomainHours += (now - old.revokedAt) / HOUR;
          }
        } else {
          stats.newCertificates++;
          row.newCertificates++;
          importCovered.set(domain, now);
        }
      }
      served.set(domain, {
        serial: change.serial,
        notBefore: change.notBefore.getTime(),
        notAfter: change.notAfter.getTime(),
        windowStart: window.start.getTime(),
        windowEnd: window.end.getTime(),
        revocationAnnounced: false,
        revokedAt: undefined,
        expiredSeen: false,
        revokedSeen: false,
      });
    }
  };
  const importCovered = new Map<string, number>();
  const fastly = tappedFastly(world.fastly, onServed);

  // ---- crashes ---------------------------------------------------------------
  const crash = options.faults.find((f) => f.kind === 'crash');
  const crashRate = crash?.kind === 'crash' ? crash.perWeek / (7 * DAY) : 0;
  const nextCrash = (from: number): number => (crashRate > 0 ? from - Math.log(1 - random()) / crashRate : Number.POSITIVE_INFINITY);
  let nextCrashAt = Number.POSITIVE_INFINITY;
  const crashDue = (): boolean => {
    const now = clock.now().getTime();
    if (now < nextCrashAt) return false;
    stats.crashes.push(clock.now().toISOString());
    nextCrashAt = nextCrash(now);
    return true;
  };

  // ---- one service instance ----------------------------------------------------
  let instanceCount = 0;
  const composeInstance = async (): Promise<{ components: Components; life: Life }> => {
    const life = new Life(++instanceCount);
    const components = await compose(settings, {
      clock,
      random: seededRandom(options.seed * 104_729 + instanceCount),
      instanceId: `sim-instance-${instanceCount}`,
      logger,
      migrate: instanceCount === 1,
      overrides: {
        issuer: guarded(ca, life, crashDue),
        publisher: guarded(world.publisher, life, crashDue),
        fastly: guarded(fastly, life, crashDue),
        secrets: guarded(world.secrets, life, crashDue),
        probe: guardedFunction(world.probe, life, crashDue),
        notifier: world.notifier,
      },
    });
    return { components, life };
  };
  let current = await composeInstance();
  const dead: Components[] = [];

  // ---- the fleet ---------------------------------------------------------------
  let domainCount = 0;
  const names = (n: number): string[] => Array.from({ length: n }, () => `sim${String(++domainCount).padStart(6, '0')}.test`);
  const importRows = async (list: string[]): Promise<void> => {
    // In slices of 100: importDomains is one interactive transaction with a query or two per
    // row, and Prisma's default 5 s transaction timeout ran out on PostgreSQL at 600 rows under load.
    for (let i = 0; i < list.length; i += IMPORT_SLICE) {
      await current.components.repository.importDomains(list.slice(i, i + IMPORT_SLICE).map((name) => ({ name, zoneId: 'ZSIM', status: null })));
    }
  };
  const initial = names(options.domains);
  await importRows(initial);

  if (options.warm) {
    // Covered at --start: each domain was issued once by AutoTLS itself, at a time
    // spread over one renewal interval before --start (so renewals fall due evenly).
    const { lifetimeMs } = await import('../../test/fakes/memory-ca.js');
    const probeAt = new Date(start - DAY);
    const life = lifetimeMs(options.profile, probeAt);
    const renewAfter = life < 10 * DAY ? life / 2 : (2 * life) / 3;
    const order = initial.map((name, i) => ({ name, at: start - renewAfter + ((i + random()) / initial.length) * renewAfter * 0.98 }));
    order.sort((a, b) => a.at - b.at);
    let done = 0;
    for (const { name, at } of order) {
      clock.set(new Date(at));
      const run = await current.components.orchestrator.startSingle(name, false);
      await run.done;
      if (++done % 200 === 0) progress(`warming the fleet: ${done}/${order.length} certificates issued before ${options.start.toISOString().slice(0, 10)}`);
    }
    clock.set(options.start);
  }

  // ---- baselines: what happens from --start on is what counts -----------------------
  const base = {
    issued: ca.stats.issued,
    newOrders: ca.stats.newOrders,
    renewalInfo: ca.stats.renewalInfoRequests,
    rejections: ca.rejections.length,
    failedValidations: ca.stats.failedValidations,
    caFaults: ca.stats.faults,
    orders: ca.orders.size,
    messages: world.notifier.messages.length,
    fastlyCalls: world.fastly.calls.length,
    dnsFailed: world.dns.failedPublishes,
  };
  measuring = true;
  nextCrashAt = nextCrash(start);

  // ---- faults ------------------------------------------------------------------
  const spans: SimResult['spans'] = [];
  const markers: SimResult['markers'] = [];
  const dayOf = (t: number): number => Math.max(0, Math.min(Math.ceil(options.days) - 1, Math.floor((t - start) / DAY)));
  interface TimedEvent {
    at: number;
    run: () => Promise<void>;
  }
  const events: TimedEvent[] = [];
  const revocations: Array<{ at: string; certificates: number; noticeHours: number }> = [];
  const imports: Array<{ at: number; names: string[] }> = [];
  for (const fault of options.faults) {
    switch (fault.kind) {
      case 'ca-outage': {
        const from = start + fault.atDays * DAY;
        const to = from + fault.hours * HOUR;
        ca.faults.outages.push({ start: new Date(from), end: new Date(to) });
        spans.push({ from: dayOf(from), to: dayOf(to - 1), label: `CA outage ${fault.hours} h` });
        break;
      }
      case 'dns-fail':
        world.dns.faults.failurePercent = fault.percent;
        break;
      case 'fastly-503':
        world.fastly.faults.failurePercent = fault.percent;
        break;
      case 'crash':
        break;
      case 'revoke': {
        const at = start + fault.atDays * DAY;
        spans.push({ from: dayOf(at), to: dayOf(at + fault.noticeHours * HOUR), label: `revocation of ${fault.percent}% (${fault.noticeHours} h notice)` });
        events.push({
          at,
          run: async () => {
            const picked = [...served.entries()].filter(() => random() * 100 < fault.percent);
            for (const [, s] of picked) {
              const cert = ca.announceRevocation(s.serial, fault.noticeHours);
              s.revocationAnnounced = true;
              s.revokedAt = cert.revokedAt?.getTime();
              s.windowStart = clock.now().getTime() - HOUR;
            }
            revocations.push({ at: clock.now().toISOString(), certificates: picked.length, noticeHours: fault.noticeHours });
          },
        });
        break;
      }
      case 'import': {
        const at = start + fault.atDays * DAY;
        markers.push({ at: dayOf(at), label: `import of ${fault.count}` });
        events.push({
          at,
          run: async () => {
            const list = names(fault.count);
            imports.push({ at: clock.now().getTime(), names: list });
            await importRows(list);
          },
        });
        break;
      }
    }
  }
  events.sort((a, b) => a.at - b.at);

  // ---- the hourly sweep, the daily forecast --------------------------------------------
  let nextSweep = start;
  let nextForecast = start;
  let firstShortfall: { at: string; predictedFirstExpiry: string | null; message: string } | undefined;
  const forecasts: Array<{ at: string; firstExpiry: string | null; capacityPerDay: number; neededPerDay: number; backlog?: number }> = [];
  const sweep = (): void => {
    const now = clock.now().getTime();
    const row = today();
    let min = Number.POSITIVE_INFINITY;
    let backlog = 0;
    let expiredNow = 0;
    for (const [domain, s] of served) {
      const remaining = s.notAfter - now;
      if (remaining < min) min = remaining;
      if (now >= s.windowStart) backlog++;
      if (remaining < 0) {
        expiredNow++;
        if (!s.expiredSeen) {
          s.expiredSeen = true;
          stats.expiredDomains.add(domain);
          stats.firstExpiryAt = Math.min(stats.firstExpiryAt ?? Number.POSITIVE_INFINITY, s.notAfter);
        }
      }
      if (s.revokedAt !== undefined && s.revokedAt <= now && !s.revokedSeen) {
        s.revokedSeen = true;
        stats.revokedDomains.add(domain);
      }
    }
    backlog += domainCount - served.size;
    row.minRemainingDays = Math.min(row.minRemainingDays, min / DAY);
    row.backlog = Math.max(row.backlog, backlog);
    row.expiredDomains = Math.max(row.expiredDomains, expiredNow);
  };

  const forecastNow = async (): Promise<void> => {
    const before = world.notifier.messages.length;
    const f: Forecast | undefined = await current.components.planner.check();
    if (f) forecasts.push({ at: clock.now().toISOString(), firstExpiry: f.firstExpiry, capacityPerDay: f.capacityPerDay, neededPerDay: f.neededPerDay });
    const warning = world.notifier.messages.slice(before).find((m) => m.kind === 'alert' && m.message.startsWith('Capacity shortfall'));
    if (warning && warning.kind === 'alert' && !firstShortfall) {
      firstShortfall = { at: clock.now().toISOString(), predictedFirstExpiry: f?.firstExpiry ?? null, message: warning.message };
    }
  };

  /** Moves the clock to `to`, running every sweep, forecast and fault event on the way, in order. */
  const advanceTo = async (to: number): Promise<void> => {
    for (;;) {
      const nextEvent = events[0]?.at ?? Number.POSITIVE_INFINITY;
      const next = Math.min(nextSweep, nextForecast, nextEvent);
      if (next > to) break;
      if (next > clock.now().getTime()) clock.set(new Date(next));
      const began = performance.now();
      if (next === nextEvent) await (events.shift() as TimedEvent).run();
      else if (next === nextForecast) {
        await forecastNow();
        nextForecast += DAY;
        outside.forecast += performance.now() - began;
      } else {
        sweep();
        nextSweep += HOUR;
        outside.sweep += performance.now() - began;
      }
    }
    if (to > clock.now().getTime()) clock.set(new Date(to));
  };

  // ---- running the service ------------------------------------------------------
  const restart = async (): Promise<void> => {
    const old = current;
    // The process is gone: its connections close (so its lease keep-alive cannot
    // extend anything), its leases run out after LEASE_TTL on the fake clock.
    dead.push(old.components);
    await old.components.close().catch(() => undefined);
    severDatabase(old.components.database.client);
    current = await composeInstance();
  };

  /** Runs `work` on the current instance; a crash abandons it (it hangs for ever) and restarts the service. */
  const guardedWork = async (work: (c: Components) => Promise<void>): Promise<void> => {
    const { components, life } = current;
    const before = { issued: ca.stats.issued, newOrders: ca.stats.newOrders, ariChecks: ca.stats.renewalInfoRequests, at: performance.now() };
    const outcome = await Promise.race([
      work(components).then(
        () => 'done' as const,
        (error: unknown) => {
          logger.error({ err: String(error) }, 'simulated wake failed');
          return 'done' as const;
        },
      ),
      life.death.then(() => 'crashed' as const),
    ]);
    const issuances = ca.stats.issued - before.issued;
    wakeSamples.push({ ms: performance.now() - before.at, issuances, ariChecks: ca.stats.renewalInfoRequests - before.ariChecks, day: dayIndex });
    if (outcome === 'crashed') await restart();
    // The work took time: each domain's order, propagation, validation and upload, CONCURRENCY at a time.
    const worked = (ca.stats.newOrders - before.newOrders + issuances) / 2;
    const elapsed = (worked * options.secondsPerDomain * 1000) / settings.concurrency;
    if (elapsed > 0) await advanceTo(clock.now().getTime() + elapsed);
  };

  const continuous = options.schedule === 'continuous';
  // Where the time goes (summary.timing): each wake's, and the loop's own work between wakes.
  const wakeSamples: Array<WakeSample & { day: number }> = [];
  const outside = { nextWake: 0, forecast: 0, sweep: 0 };
  const cron = continuous ? undefined : new Cron(options.schedule, { paused: true });
  let lastProgress = 0;
  const report = (): void => {
    const wall = (performance.now() - wallStart) / 1000;
    if (wall - lastProgress < 0.5) return;
    lastProgress = wall;
    progress(
      `${clock.now().toISOString().slice(0, 16).replace('T', ' ')}  day ${dayIndex + 1}/${Math.ceil(options.days)}  issued ${ca.stats.issued - base.issued}  ` +
        `expired ${stats.expiredDomains.size}  crashes ${stats.crashes.length}  wall ${wall.toFixed(0)} s`,
    );
  };

  const simStartWall = performance.now();
  // Garbage collection during the simulated part (the fakes keep their whole history for the summary).
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const loadAfterWarmUp = loadavg().map((l) => Number(l.toFixed(2)));
  sweep();
  // The service's own scheduler decides when to wake; the simulator only moves the clock there.
  const scheduler = new ContinuousScheduler({
    clock,
    random,
    logger,
    nextEventAt: () => current.components.pendingEvents.nextEventAt(),
    wake: async () => undefined,
  });
  while (clock.now().getTime() < end) {
    let next: number;
    if (continuous) {
      const asked = performance.now();
      next = (await scheduler.nextWake()).getTime();
      outside.nextWake += performance.now() - asked;
    } else {
      next = (cron?.nextRun(clock.now()) ?? new Date(end)).getTime();
    }
    await advanceTo(Math.min(next, end));
    if (clock.now().getTime() >= end) break;
    if (options.wallLimitSeconds > 0 && performance.now() - wallStart > options.wallLimitSeconds * 1000) {
      truncated = true;
      end = clock.now().getTime();
      break;
    }
    stats.wakes++;
    if (continuous) await guardedWork((c) => continuousWake(c, false));
    else {
      await guardedWork(async (c) => {
        const run = await c.orchestrator.startProcess(false);
        await run.done;
      });
    }
    report();
  }
  await advanceTo(end);
  sweep();
  cron?.stop();
  const simWall = (performance.now() - simStartWall) / 1000;
  gcObserver.disconnect();

  // Still served expired at the end.
  for (const [domain, s] of served) {
    if (s.notAfter < end) {
      stats.expiredDomains.add(domain);
      stats.expiredDomainHours += (end - s.notAfter) / HOUR;
    }
    if (s.revokedAt !== undefined && s.revokedAt < end) {
      stats.revokedDomains.add(domain);
      stats.revokedDomainHours += (end - s.revokedAt) / HOUR;
    }
  }

  // ---- figures ---------------------------------------------------------------
  const ordersAfter = [...ca.orders.values()].slice(base.orders);
  for (const o of ordersAfter) {
    const row = dayRows[dayOf(o.createdAt.getTime())];
    if (row) row.orders++;
  }
  const rejections = ca.rejections.slice(base.rejections);
  for (const r of rejections) {
    const row = dayRows[dayOf(r.at.getTime())];
    if (row) row.rateLimitHits++;
  }
  const maxIn3h = (times: number[]): number => {
    times.sort((a, b) => a - b);
    let best = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while ((times[i] as number) - (times[j] as number) >= 3 * HOUR) j++;
      best = Math.max(best, i - j + 1);
    }
    return best;
  };
  const allOrderTimes = ordersAfter.map((o) => o.createdAt.getTime());
  const limitedOrderTimes = ordersAfter.filter((o) => !o.ariRenewal).map((o) => o.createdAt.getTime());
  const maxOrders3h = maxIn3h(allOrderTimes);
  const messages = world.notifier.messages.slice(base.messages);
  const fastlyCalls = world.fastly.calls.slice(base.fastlyCalls);
  const slackMessages = messages.filter((m) => m.kind !== 'domain');
  if (firstShortfall) markers.push({ at: dayOf(Date.parse(firstShortfall.at)), label: 'first shortfall warning' });
  if (stats.firstExpiryAt !== undefined) markers.push({ at: dayOf(stats.firstExpiryAt), label: 'first expiry' });
  const importFigures = imports.map((imp) => {
    const covered = imp.names.map((n) => importCovered.get(n));
    const missing = covered.filter((t) => t === undefined).length;
    const times = covered.filter((t): t is number => t !== undefined).sort((a, b) => a - b);
    const last = times.at(-1) ?? Number.NaN;
    const hoursToShare = (share: number): number | null => {
      const t = times[Math.ceil(share * imp.names.length) - 1];
      return t === undefined ? null : Number(((t - imp.at) / HOUR).toFixed(1));
    };
    return {
      at: new Date(imp.at).toISOString(),
      domains: imp.names.length,
      covered: imp.names.length - missing,
      hoursTo25Percent: hoursToShare(0.25),
      hoursTo50Percent: hoursToShare(0.5),
      hoursTo75Percent: hoursToShare(0.75),
      allCoveredAfterHours: missing === 0 ? Number(((last - imp.at) / HOUR).toFixed(1)) : null,
    };
  });
  const wallSeconds = (performance.now() - wallStart) / 1000;
  for (const c of [current.components]) await c.close().catch(() => undefined);
  if (stopPostgres) await stopPostgres();
  rmSync(tmp, { recursive: true, force: true });

  const summary = {
    domains: domainCount,
    initialDomains: options.domains,
    days: options.days,
    truncated,
    simulatedDays: Number(((end - start) / DAY).toFixed(2)),
    start: options.start.toISOString().slice(0, 10),
    end: new Date(end).toISOString().slice(0, 10),
    profile: options.profile,
    schedule: options.schedule,
    maxDomainsPerRun: settings.maxDomainsPerRun,
    concurrency: settings.concurrency,
    database: options.db,
    databaseNote,
    seed: options.seed,
    faults: options.faults,
    warmStart: options.warm,
    issuances: ca.stats.issued - base.issued,
    renewals: stats.renewals,
    newCertificates: stats.newCertificates,
    orders: ca.stats.newOrders - base.newOrders,
    ordersAriExempt: ordersAfter.filter((o) => o.ariRenewal).length,
    expired: stats.expiredDomains.size,
    expiredDomainHours: Number(stats.expiredDomainHours.toFixed(1)),
    firstExpiry: stats.firstExpiryAt === undefined ? null : new Date(stats.firstExpiryAt).toISOString(),
    servedRevoked: stats.revokedDomains.size,
    servedRevokedDomainHours: Number(stats.revokedDomainHours.toFixed(1)),
    revocations,
    rateLimitRejections: rejections.length,
    rateLimitRejectionsByLimit: countBy(rejections.map((r) => r.limit)),
    // Let's Encrypt's 300 new orders per 3 hours counts orders that are not exempt ARI renewals.
    budgetExceeded: maxIn3h([...limitedOrderTimes]) > 300,
    maxOrdersIn3h: maxOrders3h,
    maxRateLimitedOrdersIn3h: maxIn3h(limitedOrderTimes),
    worstRemainingHoursAtRenewal: Number.isFinite(stats.worstRemainingHoursAtRenewal) ? Number(stats.worstRemainingHoursAtRenewal.toFixed(1)) : null,
    worstRenewalDomain: stats.worstRenewalDomain || null,
    renewalsPastWindowEnd: stats.renewalsPastWindowEnd,
    failedValidations: ca.stats.failedValidations - base.failedValidations,
    caFaults: ca.stats.faults - base.caFaults,
    dnsFailedPublishes: world.dns.failedPublishes - base.dnsFailed,
    ariChecks: ca.stats.renewalInfoRequests - base.renewalInfo,
    fastlyWrites: fastlyCalls.filter((c) => c.write && c.status < 400).length,
    fastly429: fastlyCalls.filter((c) => c.status === 429).length,
    fastly503: fastlyCalls.filter((c) => c.status === 503).length,
    // What reaches Slack: the run summaries (per-domain lines are folded into them,
    // src/notify/slack.ts) and the alerts; paced at 1 a second (Slack's webhook limit).
    slackMessages: slackMessages.length,
    slackRunSummaries: slackMessages.filter((m) => m.kind === 'run').length,
    slackRunSummariesOfEmptyRuns: slackMessages.filter((m) => m.kind === 'run' && m.report.results.length === 0).length,
    slackAlerts: slackMessages.filter((m) => m.kind === 'alert').length,
    slackWithinOneSecond: withinOneSecond(slackMessages.map((m) => m.at.getTime())),
    crashes: stats.crashes.length,
    crashTimes: stats.crashes,
    wakes: stats.wakes,
    firstShortfallWarning: firstShortfall ?? null,
    shortfallWarningLeadDays:
      firstShortfall && stats.firstExpiryAt !== undefined ? Number(((stats.firstExpiryAt - Date.parse(firstShortfall.at)) / DAY).toFixed(1)) : null,
    imports: importFigures,
    wallSeconds: Number(wallSeconds.toFixed(1)),
    simulatedWallSeconds: Number(simWall.toFixed(1)),
    simDaysPerWallSecond: Number(((end - start) / DAY / simWall).toFixed(3)),
    warmUpWallSeconds: Number(((simStartWall - wallStart) / 1000).toFixed(1)),
    // The simulated part's wall time split (bench/simulate/cost-split.ts): per wake, issuance and
    // ARI check by least squares over the wakes; the scheduler's next-wake query, the daily
    // forecast and the simulator's hourly sweep between wakes.
    timing: { ...timingOf(splitCosts(wakeSamples), outside), gcSeconds: round(gcMs / 1000, 1), byMonth: costsByMonth(wakeSamples) },
    // A truncated run: what the whole --days would take at the rate reached (warm-up included), not a measurement.
    projectedWallSecondsForAllDays: truncated && end > start ? Number(((simStartWall - wallStart) / 1000 + (options.days * DAY * simWall) / (end - start)).toFixed(0)) : null,
    loadAverage: { atStart: loadAtStart, afterWarmUp: loadAfterWarmUp, atEnd: loadavg().map((l) => Number(l.toFixed(2))) },
    commit: commitAtStart,
    node: process.version,
    cores: (await import('node:os')).availableParallelism(),
    forecastsSampled: forecasts.filter((_, i) => i % 7 === 0),
  };
  return { summary, days: dayRows, spans, markers };
}

/** The cost split per 30 simulated days: whether an issuance or an ARI check gets dearer as history piles up. */
function costsByMonth(samples: ReadonlyArray<WakeSample & { day: number }>): Array<Record<string, number>> {
  const months = new Map<number, WakeSample[]>();
  for (const s of samples) {
    const month = Math.floor(s.day / 30);
    const list = months.get(month) ?? [];
    list.push(s);
    months.set(month, list);
  }
  return [...months.entries()].flatMap(([month, list]) => {
    const split = splitCosts(list);
    if (!split) return [];
    return [{ fromDay: month * 30 + 1, wakes: split.wakes, ...rounded(split), issuances: list.reduce((n, s) => n + s.issuances, 0) }];
  });
}

/** A cost split as the summary gives it. */
function rounded(split: CostSplit): Record<string, number> {
  return { inWakeSeconds: round(split.inWakeSeconds, 1), perWakeMs: round(split.perWakeMs, 2), perIssuanceMs: round(split.perIssuanceMs, 2), perAriCheckMs: round(split.perAriCheckMs, 4) };
}

function timingOf(split: CostSplit | undefined, outside: { nextWake: number; forecast: number; sweep: number }): Record<string, number> {
  return {
    ...(split ? rounded(split) : {}),
    nextWakeSeconds: round(outside.nextWake / 1000, 1),
    forecastSeconds: round(outside.forecast / 1000, 1),
    sweepSeconds: round(outside.sweep / 1000, 1),
  };
}

/** The commit the simulator ran on (with "+dirty" when the tree had changes), for the results table. */
function gitCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
}

/** Messages sent less than a second after the previous one Slack accepted (it would answer 429). */
function withinOneSecond(times: readonly number[]): number {
  let last = Number.NEGATIVE_INFINITY;
  let count = 0;
  for (const t of [...times].sort((a, b) => a - b)) {
    if (t - last < 1000) count++;
    else last = t;
  }
  return count;
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
