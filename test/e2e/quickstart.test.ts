// The quickstart: no configuration at all, the service on SQLite at
// ./data/autotls.db, and the HTTP surface of contract section 2.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, type ServiceProcess } from './service-process.js';
import { startHarness } from './harness.js';

let service: ServiceProcess;
let key: string;

beforeAll(async () => {
  service = await spawnService({});
  key = readFileSync(join(service.cwd, 'data/api-key'), 'utf8').trim();
});
afterAll(async () => {
  service?.kill('SIGTERM');
  await service?.exited;
});

describe('quickstart with no configuration', () => {
  it('serves /healthcheck and /readyz with a fresh ./data/autotls.db', async () => {
    const res = await fetch(`${service.url}/healthcheck`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(existsSync(join(service.cwd, 'data/autotls.db'))).toBe(true);
    expect((await fetch(`${service.url}/readyz`, { headers: { 'Flask-Key': key } })).status).toBe(200);
    // Open since issue 17: `curl -f localhost:8000/readyz` succeeds without a key.
    const open = await fetch(`${service.url}/readyz`);
    expect(open.status).toBe(200);
    expect(await open.json()).toEqual({ status: 'ready' });
  });

  it('answers /process with nothing-to-do, in testmode, with the key as Flask-Key or Bearer', async () => {
    const keyed: Array<Record<string, string>> = [{ 'Flask-Key': key }, { Authorization: `Bearer ${key}` }];
    for (const headers of keyed) {
      const res = await fetch(`${service.url}/process`, { headers });
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { status: string; testmode: boolean; results: unknown[]; runId: string };
      expect(doc).toMatchObject({ status: 'nothing-to-do', testmode: true, results: [] });
      expect(res.headers.get('location')).toBe(`/runs/${doc.runId}`);
    }
    const post = await fetch(`${service.url}/process`, { method: 'POST', headers: { 'Flask-Key': key } });
    expect(post.status).toBe(200);
  });

  it('refuses a missing or wrong key with 401 JSON, and runs nothing', async () => {
    const before = (await (await fetch(`${service.url}/runs?limit=100`, { headers: { 'Flask-Key': key } })).json()) as { runs: unknown[] };
    const bad: Array<Record<string, string>> = [{}, { 'Flask-Key': 'wrong-key-0123456789' }, { Authorization: 'Bearer nope' }, { Authorization: `Basic ${key}` }];
    for (const headers of bad) {
      const res = await fetch(`${service.url}/process`, { headers });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toMatch(/key/i);
    }
    const after = (await (await fetch(`${service.url}/runs?limit=100`, { headers: { 'Flask-Key': key } })).json()) as { runs: unknown[] };
    expect(after.runs.length).toBe(before.runs.length);
  });

  it('answers 400 for malformed names before anything runs, and 404 for unknown ones', async () => {
    for (const path of ['..%2Fetc', '%2e%2e%2fetc', 'a..b.com', '*.example.com', 'exa%20mple.com', `${'a'.repeat(64)}.com`, 'localhost', 'example.com.']) {
      const res = await fetch(`${service.url}/single/${path}`, { headers: { 'Flask-Key': key } });
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/Invalid domain name/);
    }
    const res = await fetch(`${service.url}/single/Unknown.Example.COM`, { headers: { 'Flask-Key': key } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'Domain unknown.example.com not available for TLS' });
  });

  it('answers wait=false with 202 and a run that reaches a final status', async () => {
    const res = await fetch(`${service.url}/process?wait=false`, { headers: { 'Flask-Key': key } });
    expect(res.status).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    expect(res.headers.get('location')).toBe(`/runs/${runId}`);
    let status = 'running';
    for (let i = 0; i < 50 && status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = ((await (await fetch(`${service.url}/runs/${runId}`, { headers: { 'Flask-Key': key } })).json()) as { status: string }).status;
    }
    expect(status).toBe('nothing-to-do');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    service.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  });
});

describe('APP_ENV', () => {
  it('forces testmode in staging: no Fastly upload', async () => {
    const h = await startHarness({ env: { APP_ENV: 'staging' } });
    try {
      await h.addDomain('stage.z20.test', 'z20.test');
      const { status, doc } = await h.run('/process');
      expect(status, JSON.stringify(doc)).toBe(200);
      expect(doc.testmode).toBe(true);
      expect(doc.results[0]).toMatchObject({ domain: 'stage.z20.test', outcome: 'issued' });
      expect(h.shared.fastly.requests).toHaveLength(0);
    } finally {
      await h.stop();
    }
  });
});
