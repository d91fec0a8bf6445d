// The scrape-time queries of /metrics (src/db/fleet-metrics.ts with the
// DomainStateStore queries it is given) on both databases: SQLite and the
// testbed's PostgreSQL, migrated from prisma/*/migrations (failing_since included).
import { afterAll, describe, expect, it } from 'vitest';
import type { DbProvider } from '../../../src/db/client.js';
import { fleetSnapshot } from '../../../src/db/fleet-metrics.js';
import { DomainStateStore } from '../../../src/domains/state.js';
import { REMAINING_LIFETIME_BUCKETS } from '../../../src/metrics.js';
import { freshDatabases } from './fresh-database.js';

const databases = freshDatabases('fleetmetrics');
afterAll(() => databases.cleanup());

const NOW = new Date('2027-03-01T12:00:00.000Z');
const HOUR = 3_600_000;
const at = (hours: number): Date => new Date(NOW.getTime() + hours * HOUR);

describe.each<DbProvider>(['sqlite', 'postgresql'])('fleetSnapshot on %s', (provider) => {
  it('reads the failing domains, the runs and the oldest pending ARI check', async () => {
    const { client: db } = await databases.fresh(provider);
    const domain = async (name: string, fields: { status?: string; tlsIssuer?: string } = {}): Promise<number> =>
      (await db.domain.create({ data: { name, tld: 'test', zoneId: 'Z1', owned: true, tlsIssuer: fields.tlsIssuer ?? 'Lets Encrypt', status: fields.status ?? null } })).id;
    const cert = (hours: number) => ({ phase: 'recorded', certId: `cert-${hours}`, certNotBefore: at(-24), certNotAfter: at(24 * 60), ariCheckAfter: at(hours) });
    await db.domainState.create({ data: { domainId: await domain('old-failure.test'), failureCount: 4, failingSince: at(-30), ...cert(1) } });
    await db.domainState.create({ data: { domainId: await domain('new-failure.test'), failureCount: 1, failingSince: at(-2), ...cert(-5) } });
    await db.domainState.create({ data: { domainId: await domain('parked.test', { status: 'Parked' }), failureCount: 9, failingSince: at(-300), ...cert(-500) } });
    await db.domainState.create({ data: { domainId: await domain('fine.test'), ...cert(-3) } });
    for (const [id, status, started] of [['r1', 'succeeded', -5], ['r2', 'partial', -3], ['r3', 'failed', -1]] as const) {
      await db.run.create({ data: { id, kind: 'process', status, testmode: false, instance: 'i', startedAt: at(started), finishedAt: at(started + 0.5) } });
    }
    await db.run.create({ data: { id: 's1', kind: 'single', status: 'succeeded', testmode: false, instance: 'i', startedAt: at(-0.5), finishedAt: at(-0.4) } });

    const state = new DomainStateStore(db, { now: () => NOW });
    const snapshot = await fleetSnapshot(db, provider, { now: NOW, bounds: REMAINING_LIFETIME_BUCKETS, excluded: [] }, state);
    expect(snapshot.failing).toEqual([
      { domain: 'old-failure.test', since: at(-30) },
      { domain: 'new-failure.test', since: at(-2) },
    ]);
    expect(snapshot.runs.lastSuccessfulRunAt).toEqual(at(-2.5)); // r2 (partial); r3 failed, s1 is /single
    expect(snapshot.runs.recentStarts).toEqual([at(-1), at(-3), at(-5)]);
    // parked.test's check (-500 h) does not count: it is not managed; new-failure.test's (-5 h) is the oldest.
    expect(snapshot.ariOldestPendingCheck).toEqual(at(-5));
    const excluded = await fleetSnapshot(db, provider, { now: NOW, bounds: REMAINING_LIFETIME_BUCKETS, excluded: ['old-failure.test'] }, state);
    expect(excluded.failing.map((f) => f.domain)).toEqual(['new-failure.test']);
  });
});
