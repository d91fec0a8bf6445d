// Fault injection at the database: PostgreSQL connections dropped (and refused)
// between issuance and the record step, while the Fastly upload is in flight.
// The domain fails; the domain processed before the outage is unaffected; once
// the database is back, the next run records the certificate from the secrets
// store WITHOUT a new order. Zone z39.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { challengeRecords, startHarness, type Harness } from './harness.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';

let h: Harness;
let admin: pg.Client;
let database: string;
let interruptedRunId = '';

beforeAll(async () => {
  h = await startHarness({ database: 'postgresql', env: { CONCURRENCY: '1', LEASE_TTL_SECONDS: '5' } });
  database = new URL(h.shared.databaseUrl).pathname.slice(1);
  admin = new pg.Client({ connectionString: inject('testbed').postgres.adminUrl });
  await admin.connect();
}, 120_000);

afterAll(async () => {
  await admin?.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
  await admin?.end();
  await h?.stop();
});

/** The database goes away: new connections are refused and open ones are terminated. */
async function dropDatabaseConnections(): Promise<number> {
  await admin.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS false`);
  const res = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  return res.rowCount ?? 0;
}

async function restoreDatabase(): Promise<void> {
  await admin.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS true`);
}

describe('database connection dropped between issuance and the record step', () => {
  it('fails that domain; the next run records the stored, uploaded certificate without a new order', async () => {
    const [first, victim] = ['db1.z39.test', 'db2.z39.test'];
    const day = (n: number): Date => new Date(Date.now() + n * 86_400_000);
    await h.addDomain(first, 'z39.test', { tlsExpDate: day(1) });
    await h.addDomain(victim, 'z39.test', { tlsExpDate: day(2) });
    const db = h.components.database.client;
    const fastly = h.shared.fastly;

    // Both bulk-certificate creations take 1.5 s; the database goes away while the
    // second one (the victim's) is in flight.
    fastly.inject({ type: 'latency', ms: 1500, path: '/tls/bulk/certificates', method: 'POST', times: 2 });
    let terminated = -1;
    const watcher = (async () => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const creations = fastly.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates').length;
        if (creations >= 2) {
          terminated = await dropDatabaseConnections();
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const res = await h.request('/process');
    const doc = (await res.json()) as RunDocument;
    await watcher;
    expect(terminated).toBeGreaterThan(0);
    expect(res.status, JSON.stringify(doc.results)).toBe(502);
    expect(Object.fromEntries(doc.results.map((r) => [r.domain, r.outcome]))).toEqual({ [first]: 'issued', [victim]: 'failed' });
    expect(doc.results[1]?.messages.join(' ')).toMatch(/Fastly certificate \S+ created/); // uploaded before the record step failed
    expect(h.logLines.some((l) => /could not record the failure|could not persist/.test(l))).toBe(true);

    await restoreDatabase();
    expect((await h.request('/readyz')).status).toBe(200); // the service reconnects by itself
    // The victim's lease could not be released while the database was away: it
    // expires (LEASE_TTL_SECONDS=5) before another run may take the domain.
    await new Promise((r) => setTimeout(r, 5500));
    const state = await db.domainState.findFirstOrThrow({ where: { domain: { name: victim } } });
    expect(['stored', 'uploaded']).toContain(state.phase);

    const creationsBefore = fastly.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates').length;
    const again = await h.run('/process');
    expect(again.status, JSON.stringify(again.doc.results)).toBe(200);
    expect(again.doc.results.map((r) => [r.domain, r.outcome])).toEqual([[victim, 'issued']]);
    expect(again.doc.results[0]?.messages.join(' ')).toMatch(/Resuming with the stored certificate .*no new order/);
    expect(await db.acmeOrder.count({ where: { domain: victim } })).toBe(1);
    expect(await db.acmeOrder.count({ where: { domain: first } })).toBe(1);
    // One bulk certificate for the victim: the one created before the outage, replaced in place at most.
    expect([...fastly.certs.values()].filter((c) => c.domains.includes(victim))).toHaveLength(1);
    expect(fastly.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates').length).toBe(creationsBefore);
    const row = await db.domain.findUniqueOrThrow({ where: { name: victim } });
    expect(row.tlsIssuer).toBe('Lets Encrypt');
    expect(row.tlsId).not.toBeNull();
    for (const d of [first, victim]) expect(await challengeRecords(d), d).toEqual([]);
    interruptedRunId = doc.runId;
  });

  // The run's final writes (the victim's result, the status) failed while the
  // database was away; the orchestrator keeps retrying them in the background, so
  // once the database is back the run is persisted with every result.
  it('does not leave the interrupted run "running"', async () => {
    const res = await h.request(`/runs/${interruptedRunId}`);
    const persisted = (await res.json()) as RunDocument;
    expect(persisted.status, JSON.stringify(persisted)).not.toBe('running');
    expect(persisted.results).toHaveLength(2);
  });
});
