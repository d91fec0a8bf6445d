// SCHEDULE=continuous through the public contract: the service triggers its
// own runs at each pending event, with no /process call. Zones z58–z59.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { continuousWake } from '../../src/server.js';
import { GATHER_MS } from '../../src/domains/pending-events.js';

const DOMAINS = ['z58.test', 'z59.test'];
let h: Harness;
let shared: SharedDeployment;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  // The domains are in the table before the service starts, as after an upgrade.
  shared = await createDeployment();
  await applyMigrations(shared.databaseUrl, 'sqlite', createLogger({ level: 'silent' }));
  const db = await openDatabase(shared.databaseUrl, 'sqlite');
  await db.client.domain.createMany({ data: DOMAINS.map((name) => ({ name, tld: 'test', zoneId: name, owned: true })) });
  await db.close();
  h = await startHarness({ shared, env: { SCHEDULE: 'continuous', MAX_DOMAINS_PER_RUN: '1' } });
});
afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
});

describe('SCHEDULE=continuous', () => {
  it('wakes by itself and processes everything due, with no per-run cap', async () => {
    const db = h.components.database.client;
    const recorded = await until('both domains recorded', async () => {
      const rows = await db.domain.findMany({ where: { name: { in: DOMAINS } } });
      return rows.every((r) => r.tlsIssuer === 'Lets Encrypt') ? rows : undefined;
    });
    expect(recorded).toHaveLength(2);
    // Nobody called /process: the runs were the service's own.
    const res = await h.request('/runs?limit=20');
    const { runs } = (await res.json()) as { runs: RunDocument[] };
    const issued = runs.flatMap((r) => r.results).filter((r) => r.outcome === 'issued').map((r) => r.domain);
    expect(issued.sort()).toEqual(DOMAINS);
    // MAX_DOMAINS_PER_RUN=1 binds only cron-triggered runs: one wake took both.
    expect(runs.some((r) => r.results.filter((x) => x.outcome === 'issued').length === 2)).toBe(true);
    expect(h.logLines.some((l) => l.includes('continuous schedule enabled'))).toBe(true);
  });

  it('a wake with nothing due records no run', async () => {
    const before = await h.components.database.client.run.count();
    await continuousWake(h.components, false);
    expect(await h.components.database.client.run.count()).toBe(before);
  });

  it('then sleeps until the next event: nothing is due now', async () => {
    const next = await h.components.pendingEvents.nextEventAt();
    expect(next).toBeDefined();
    expect(await h.components.pendingEvents.workDue()).toBe(false);
    // The nearest event is the certificates' next ARI check (Pebble 2.7: Retry-After 6 hours) or their
    // renewal time, each gathered with what falls due in the half hour after it.
    expect((next as Date).getTime()).toBeGreaterThan(Date.now() + 60_000);
    const states = await h.components.database.client.domainState.findMany({ where: { domain: { name: { in: DOMAINS } } } });
    const earliest = Math.min(...states.flatMap((s) => [s.ariCheckAfter, s.nextRenewalAt]).filter((d): d is Date => d !== null).map((d) => d.getTime()));
    expect((next as Date).getTime()).toBe(earliest + GATHER_MS);
  });
});
