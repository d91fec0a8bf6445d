// Many instances, one truth: leases on PostgreSQL, async runs, crash-safe
// resume, graceful shutdown, the built-in schedule. Zones z21–z30.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitPem } from '../testbed/helpers.js';
import {
  API_KEY,
  baseEnv,
  challengeRecords,
  createDeployment,
  startHarness,
  stopDeployment,
  type Harness,
  type SharedDeployment,
} from './harness.js';
import { spawnService, waitFor } from './service-process.js';
import type { RunDocument } from '../../src/orchestrator/runs.js';

let shared: SharedDeployment;
const instances: Harness[] = [];

beforeAll(async () => {
  shared = await createDeployment('postgresql');
  for (let i = 0; i < 3; i++) instances.push(await startHarness({ shared, env: { LEASE_TTL_SECONDS: '5' } }));
});
afterAll(async () => {
  for (const h of instances) await h.stop();
  if (shared) await stopDeployment(shared);
});

const db = () => (instances[0] as Harness).components.database.client;

async function finalRun(h: Harness, runId: string): Promise<RunDocument> {
  return waitFor(`run ${runId}`, async () => {
    const res = await h.request(`/runs/${runId}`);
    const doc = (await res.json()) as RunDocument;
    return doc.status !== 'running' && doc;
  }, 60_000);
}

describe('three instances on one PostgreSQL', () => {
  it('issue exactly one certificate per domain under 20 concurrent /process requests', async () => {
    const domains = ['z21.test', 'z22.test', 'z23.test', 'z24.test', 'z25.test', 'z26.test', 'z27.test', 'z28.test', 'z29.test', 'z30.test'];
    for (const d of domains) await (instances[0] as Harness).addDomain(d);

    const responses = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const h = instances[i % 3] as Harness;
        const res = await h.request(i % 4 === 0 ? '/process?wait=false' : '/process');
        const body = (await res.json()) as RunDocument & { runId: string };
        return { h, status: res.status, body, location: res.headers.get('location') };
      }),
    );
    for (const r of responses) expect([200, 202], JSON.stringify(r.body)).toContain(r.status);
    // Async runs reach a final status, readable from any instance.
    for (const r of responses.filter((x) => x.status === 202)) {
      expect(r.location).toBe(`/runs/${r.body.runId}`);
      const doc = await finalRun(instances[2] as Harness, r.body.runId);
      expect(['succeeded', 'nothing-to-do']).toContain(doc.status);
    }
    // Every domain issued exactly once: one order, one bulk-certificate creation.
    for (const d of domains) {
      expect(await db().acmeOrder.count({ where: { domain: d } }), d).toBe(1);
      const row = await db().domain.findUniqueOrThrow({ where: { name: d } });
      expect(row.tlsIssuer).toBe('Lets Encrypt');
    }
    const creations = shared.fastly.requests.filter((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates');
    expect(creations).toHaveLength(domains.length);
    for (const d of domains) expect([...shared.fastly.certs.values()].filter((c) => c.domains.includes(d)), d).toHaveLength(1);
    const issuedResults = responses.flatMap((r) => (r.status === 200 ? r.body.results : [])).filter((x) => x.outcome === 'issued');
    expect(issuedResults.length).toBeLessThanOrEqual(domains.length);
    const runs = await (instances[1] as Harness).request('/runs?limit=50');
    const listed = ((await runs.json()) as { runs: RunDocument[] }).runs;
    expect(listed.length).toBeGreaterThanOrEqual(20);
    // Every one of the 20 runs, started on any instance, is listed by another, final.
    const byId = new Map(listed.map((doc) => [doc.runId, doc]));
    for (const r of responses) {
      expect(byId.get(r.body.runId)?.status, `run ${r.body.runId}`).toMatch(/^(succeeded|nothing-to-do)$/);
    }
    // Across the 20 runs, each domain was issued by exactly one; the others saw it held or done.
    const ours = responses.map((r) => byId.get(r.body.runId) as RunDocument);
    for (const d of domains) {
      const outcomes = ours.flatMap((doc) => doc.results.filter((x) => x.domain === d).map((x) => x.outcome));
      expect(outcomes.filter((o) => o === 'issued'), `${d}: ${outcomes.join(', ')}`).toHaveLength(1);
      expect(outcomes.every((o) => o === 'issued' || o === 'in-progress' || o === 'skipped'), `${d}: ${outcomes.join(', ')}`).toBe(true);
    }
  });
});

describe('crash after the certificate was stored', () => {
  it('lets another instance upload the stored certificate without a new order', async () => {
    const domain = 'crash.z29.test';
    await (instances[0] as Harness).addDomain(domain, 'z29.test');
    // The upload hangs, so the instance is killed with the certificate stored but not uploaded.
    shared.fastly.inject({ type: 'hang', method: 'POST', path: '/tls/bulk/certificates', times: 1 });
    const victim = await spawnService({ ...baseEnv(shared), LEASE_TTL_SECONDS: '5' });
    const mark = shared.fastly.requests.length;
    try {
      const res = await fetch(`${victim.url}/single/${domain}?wait=false`, { headers: { 'Flask-Key': API_KEY } });
      expect(res.status).toBe(202);
      await waitFor('the hanging upload', async () =>
        shared.fastly.requests.slice(mark).some((r) => r.method === 'POST' && r.path === '/tls/bulk/certificates'),
      );
      const stored = await (instances[0] as Harness).components.secrets.get(`pem-secret/${domain}/fullchain`);
      expect(stored).toBeDefined();
      const state = await db().domainState.findFirstOrThrow({ where: { domain: { name: domain } } });
      expect(state.phase).toBe('stored');
      expect(state.leaseOwner).not.toBeNull();
      victim.kill('SIGKILL');
      await victim.exited;

      const serial = new X509Certificate(splitPem(stored as string)[0] as string).serialNumber;
      // Held until the dead instance's lease expires.
      const early = await (instances[1] as Harness).run(`/single/${domain}`);
      expect(early.status).toBe(409);
      await new Promise((r) => setTimeout(r, 5500));
      const { status, doc } = await (instances[1] as Harness).run('/process');
      expect(status, JSON.stringify(doc)).toBe(200);
      expect(doc.results.find((r) => r.domain === domain)).toMatchObject({ outcome: 'issued' });
      expect(await db().acmeOrder.count({ where: { domain } })).toBe(1);
      const uploaded = [...shared.fastly.certs.values()].find((c) => c.domains.includes(domain));
      expect(new X509Certificate(uploaded?.certPem as string).serialNumber).toBe(serial);
      expect(await challengeRecords(domain)).toEqual([]);
    } finally {
      victim.kill('SIGKILL');
      shared.fastly.clearFaults();
    }
  });
});

describe('SIGTERM during a run', () => {
  it('exits 0 within the deadline and releases every lease', async () => {
    const names = ['a.z28.test', 'b.z28.test', 'c.z28.test'];
    for (const n of names) await (instances[0] as Harness).addDomain(n, 'z28.test');
    shared.fastly.inject({ type: 'latency', ms: 1500, method: 'POST', path: '/tls/bulk/certificates', times: 3 });
    const service = await spawnService({ ...baseEnv(shared), SHUTDOWN_TIMEOUT: '15' });
    try {
      const res = await fetch(`${service.url}/process?wait=false`, { headers: { 'Flask-Key': API_KEY } });
      expect(res.status).toBe(202);
      await waitFor('a held lease', async () => (await db().domainState.count({ where: { leaseOwner: { not: null } } })) > 0);
      const started = Date.now();
      service.kill('SIGTERM');
      const exit = await service.exited;
      expect(exit.code, service.output.join('')).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(await db().domainState.count({ where: { leaseOwner: { not: null } } })).toBe(0);
    } finally {
      service.kill('SIGKILL');
      shared.fastly.clearFaults();
    }
  });
});

describe('built-in schedule', () => {
  it('triggers runs without an external cron', async () => {
    const scheduled = await startHarness({ shared, env: { SCHEDULE: '* * * * * *' } });
    try {
      const before = await db().run.count();
      await waitFor('a scheduled run', async () => (await db().run.count()) > before, 10_000);
    } finally {
      await scheduled.stop();
    }
  });
});
