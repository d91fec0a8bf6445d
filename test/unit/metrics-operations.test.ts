// The operational series of /metrics that deploy/monitoring's alerts need
// (issue 17 item 3): since when a domain fails, the last successful run and the
// interval runs come at, the oldest pending ARI check, the ACME account's pause,
// and the ARI checks by result. Read through the service's own stores over a
// real (migrated) SQLite database: test/unit/orchestrator/harness.ts.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fleetSnapshot } from '../../src/db/fleet-metrics.js';
import { Metrics, REMAINING_LIFETIME_BUCKETS } from '../../src/metrics.js';
import { continuousWake } from '../../src/server.js';
import { longestCronGapMs } from '../../src/orchestrator/scheduler.js';
import { createLogger } from '../../src/logger.js';
import type { Components } from '../../src/composition.js';
import { closeSharedDatabase, createHarness, type Harness } from './orchestrator/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
afterAll(closeSharedDatabase);

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/** A registry reading the harness's database the way composition.ts wires it. */
function metricsOf(t: Harness, excluded: readonly string[] = []): Metrics {
  const m = new Metrics({ defaultMetrics: false });
  m.attachFleet(() => fleetSnapshot(t.db, 'sqlite', { now: t.world.clock.now(), bounds: REMAINING_LIFETIME_BUCKETS, excluded }, t.state));
  return m;
}

/** The value of an unlabelled series, or of the one with `domain`, in the exposition; undefined when absent. */
function value(text: string, name: string, domain?: string): number | undefined {
  const head = domain === undefined ? `${name} ` : `${name}{domain="${domain}"} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? undefined : Number(line.slice(head.length));
}

describe('autotls_domain_failing_since_timestamp_seconds', () => {
  it('is the first failure of the current run of failures, kept through retries, gone after a success', async () => {
    const t = (h = await createHarness());
    await t.addDomain('ok.test');
    await t.addDomain('bad.test');
    const healthy = metricsOf(t);
    await (await t.orchestrator.startProcess(false)).done; // both issued
    expect(value(await healthy.registry.metrics(), 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBeUndefined();

    // bad.test is renewed now (as `autotls revoke` does), and that fails from now on.
    const firstFailure = t.world.clock.now();
    t.world.dns.faults.failurePercent = 100;
    const run = await (await t.orchestrator.startSingle('bad.test', false, { force: true })).done;
    expect(run.results[0]?.outcome).toBe('failed');
    const text = await metricsOf(t).registry.metrics();
    expect(value(text, 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBe(seconds(firstFailure));
    expect(value(text, 'autotls_domain_failing_since_timestamp_seconds', 'ok.test')).toBeUndefined();
    expect(text).toContain('# TYPE autotls_domain_failing_since_timestamp_seconds gauge');

    // A day later it fails again: the series still says since when.
    t.world.clock.advanceHours(25);
    expect((await (await t.orchestrator.startSingle('bad.test', false, { force: true })).done).results[0]?.outcome).toBe('failed');
    expect((await t.stateOf('bad.test'))?.failureCount).toBe(2);
    expect(value(await metricsOf(t).registry.metrics(), 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBe(seconds(firstFailure));

    // Excluded or parked domains are not processed any more: no series that no run would clear.
    expect(value(await metricsOf(t, ['bad.test']).registry.metrics(), 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBeUndefined();
    await t.db.domain.update({ where: { name: 'bad.test' }, data: { status: 'Parked' } });
    expect(value(await metricsOf(t).registry.metrics(), 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBeUndefined();
    await t.db.domain.update({ where: { name: 'bad.test' }, data: { status: null } });

    // Fixed: the next success clears it.
    t.world.dns.faults.failurePercent = 0;
    expect(['issued', 'renewed']).toContain((await (await t.orchestrator.startSingle('bad.test', false, { force: true })).done).results[0]?.outcome);
    expect((await t.stateOf('bad.test'))?.failingSince).toBeNull();
    expect(value(await metricsOf(t).registry.metrics(), 'autotls_domain_failing_since_timestamp_seconds', 'bad.test')).toBeUndefined();
  });
});

describe('autotls_last_successful_run_timestamp_seconds and autotls_schedule_interval_seconds', () => {
  it('the last /process run that did not fail, from the database; absent before the first', async () => {
    const t = (h = await createHarness());
    const m = metricsOf(t);
    expect(value(await m.registry.metrics(), 'autotls_last_successful_run_timestamp_seconds')).toBeUndefined();
    await (await t.orchestrator.startProcess(false)).done; // nothing-to-do counts
    const first = t.world.clock.now();
    expect(value(await m.registry.metrics(), 'autotls_last_successful_run_timestamp_seconds')).toBe(seconds(first));

    // A /process run in which every domain fails is not a success; /single runs do not count.
    t.world.clock.advanceHours(1);
    await t.addDomain('bad.test');
    t.world.dns.faults.failurePercent = 100;
    const failed = await (await t.orchestrator.startProcess(false)).done;
    expect(failed.status).toBe('failed');
    await (await t.orchestrator.startSingle('bad.test', false)).done;
    expect(value(await m.registry.metrics(), 'autotls_last_successful_run_timestamp_seconds')).toBe(seconds(first));

    // A partial run (some domains failed, not all) shows the schedule and the service work.
    t.world.clock.advanceHours(1);
    await t.runs.create('run-partial', 'process', false, 'i');
    await t.runs.complete('run-partial', 'partial', t.world.clock.now(), []);
    expect(value(await m.registry.metrics(), 'autotls_last_successful_run_timestamp_seconds')).toBe(seconds(t.world.clock.now()));
  });

  it('a continuous wake that finds nothing due counts as a successful run (it records none)', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const now = new Date('2027-03-01T12:00:00.000Z');
    const components = {
      ari: { refreshDue: async () => [] },
      orchestrator: { startProcess: () => Promise.reject(new Error('no run expected')) },
      logger: createLogger({ level: 'silent' }),
      pendingEvents: { workDue: async () => false },
      clock: { now: () => now },
      metrics: m,
    } as unknown as Components;
    await continuousWake(components, false);
    expect(value(await m.registry.metrics(), 'autotls_last_successful_run_timestamp_seconds')).toBe(seconds(now));
  });

  it('the interval: a cron SCHEDULE gives its longest gap, continuous its longest sleep plus jitter, an outside cron the measured one', async () => {
    const t = (h = await createHarness());
    const m = metricsOf(t);
    m.attachSchedule('0 2 * * 1-5'); // weekdays at 02:00: Friday to Monday is the longest gap
    expect(value(await m.registry.metrics(), 'autotls_schedule_interval_seconds')).toBe(3 * 86_400);
    m.attachSchedule('*/15 * * * *');
    expect(value(await m.registry.metrics(), 'autotls_schedule_interval_seconds')).toBe(900);
    m.attachSchedule('continuous');
    expect(value(await m.registry.metrics(), 'autotls_schedule_interval_seconds')).toBe(3900);

    m.attachSchedule(undefined);
    expect(value(await m.registry.metrics(), 'autotls_schedule_interval_seconds')).toBeUndefined(); // no run yet
    for (const hours of [1, 1, 3, 1]) {
      await (await t.orchestrator.startProcess(false)).done;
      t.world.clock.advanceHours(hours);
    }
    await (await t.orchestrator.startProcess(false)).done;
    expect(value(await m.registry.metrics(), 'autotls_schedule_interval_seconds')).toBe(3 * 3600);
  });

  it('longestCronGapMs reads the next run times of the expression', () => {
    expect(longestCronGapMs('0 0 1 * *', new Date('2027-01-15T00:00:00Z'), 2)).toBe(28 * 86_400_000); // Feb 1 to Mar 1
    expect(longestCronGapMs('0 0 1 * *', new Date('2027-01-15T00:00:00Z'), 3)).toBe(31 * 86_400_000); // then to Apr 1
    expect(longestCronGapMs('0 0 1 1 *', new Date('2027-01-15T00:00:00Z'), 1)).toBeUndefined();
  });
});

describe('autotls_ari_oldest_pending_check_timestamp_seconds and autotls_ari_checks_total', () => {
  it('is absent while no check is due, then says since when the longest-waiting one has been due', async () => {
    const t = (h = await createHarness());
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    await (await t.orchestrator.startProcess(false)).done;
    const m = metricsOf(t);
    expect(value(await m.registry.metrics(), 'autotls_ari_oldest_pending_check_timestamp_seconds')).toBeUndefined();

    const a = (await t.stateOf('a.test'))?.ariCheckAfter as Date;
    expect(a).toBeInstanceOf(Date);
    t.world.clock.set(new Date(a.getTime() + 30 * 3_600_000)); // no sweep for 30 hours
    expect(value(await m.registry.metrics(), 'autotls_ari_oldest_pending_check_timestamp_seconds')).toBe(
      seconds(new Date(Math.min(a.getTime(), ((await t.stateOf('b.test'))?.ariCheckAfter as Date).getTime()))),
    );

    // A certificate never checked counts from its notBefore.
    const b = await t.candidate('b.test');
    const notBefore = (await t.stateOf('b.test'))?.certNotBefore as Date;
    await t.db.domainState.update({ where: { domainId: b.id }, data: { ariCheckAfter: null } });
    expect(value(await m.registry.metrics(), 'autotls_ari_oldest_pending_check_timestamp_seconds')).toBe(seconds(notBefore));

    // The sweep catches up: nothing is pending any more.
    await t.ari.refresh(10);
    expect(value(await m.registry.metrics(), 'autotls_ari_oldest_pending_check_timestamp_seconds')).toBeUndefined();
  });

  it('counts every check by result through AriRefresher onCheck', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const { AriRefresher } = await import('../../src/orchestrator/ari-refresh.js');
    const t = (h = await createHarness());
    await t.addDomain('a.test');
    await t.addDomain('b.test');
    await (await t.orchestrator.startProcess(false)).done;
    const ari = new AriRefresher({
      state: t.state,
      issuer: async () => t.world.ca,
      clock: t.world.clock,
      random: () => 0.5,
      logger: createLogger({ level: 'silent' }),
      onCheck: (r) => m.ariChecks.inc({ result: r.status }),
    });
    await ari.refreshNow();
    t.world.ca.faults.failurePercent = 100;
    await ari.refreshNow({ domain: 'a.test' });
    const text = await m.registry.metrics();
    expect(value(text.replace(/\{result="unchanged"\}/, '{domain="u"}'), 'autotls_ari_checks_total', 'u')).toBe(2);
    expect(value(text.replace(/\{result="failed"\}/, '{domain="f"}'), 'autotls_ari_checks_total', 'f')).toBe(1);
  });
});

describe('autotls_acme_account_paused and autotls_acme_account_paused_until_timestamp_seconds', () => {
  it('read the order budget: 0 and no end while not paused, 1 and the end while paused, absent without an account', async () => {
    const t = (h = await createHarness());
    const m = new Metrics({ defaultMetrics: false });
    expect(value(await m.registry.metrics(), 'autotls_acme_account_paused')).toBeUndefined(); // nothing attached
    m.attachAccount(() => t.budget.pausedUntil());
    let text = await m.registry.metrics();
    expect(value(text, 'autotls_acme_account_paused')).toBe(0);
    expect(value(text, 'autotls_acme_account_paused_until_timestamp_seconds')).toBeUndefined();

    const until = new Date(t.world.clock.now().getTime() + 2 * 3_600_000);
    await t.budget.pause(until, 'too many new orders recently');
    text = await m.registry.metrics();
    expect(value(text, 'autotls_acme_account_paused')).toBe(1);
    expect(value(text, 'autotls_acme_account_paused_until_timestamp_seconds')).toBe(seconds(until));

    t.world.clock.set(new Date(until.getTime() + 1000)); // the pause has ended
    expect(value(await m.registry.metrics(), 'autotls_acme_account_paused')).toBe(0);

    let asked = 0;
    m.attachAccount(() => {
      asked++;
      return Promise.reject(new Error('No ACME account key'));
    });
    text = await m.registry.metrics();
    expect(value(text, 'autotls_acme_account_paused')).toBeUndefined();
    expect(value(text, 'autotls_acme_account_paused_until_timestamp_seconds')).toBeUndefined();
    // One scrape asks once; after a failure the next scrapes do not ask again at once (it may read a secret).
    await m.registry.metrics();
    expect(asked).toBe(1);
  });
});
