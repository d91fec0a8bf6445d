// Real responses of a running service (harness: rfc2136 + BIND + Pebble + file
// secrets + SQLite + Fastly fake) checked against docs/openapi.json: the status
// code is listed for the operation, the body matches its schema, required
// headers are there. Zones z46–z49.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunDocument } from '../../src/orchestrator/runs.js';
import { createApp } from '../../src/http/app.js';
import { loadOpenApi as loadServedOpenApi } from '../../src/http/openapi.js';
import { API_KEY, startHarness, type Harness } from './harness.js';
import { loadOpenApi, ResponseValidator, type Json } from './openapi-spec.js';

let h: Harness;
const validator = new ResponseValidator(loadOpenApi());

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

interface Checked {
  status: number;
  headers: Headers;
  body: Json | string;
}

/** Sends the request, validates the response against the operation `method pathTemplate`, returns it. */
async function call(pathTemplate: string, path: string, init: RequestInit & { key?: string | null } = {}): Promise<Checked> {
  const method = init.method ?? 'GET';
  const res = await h.request(path, init);
  const text = await res.text();
  const body = (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as Json) : text;
  const check = validator.check(pathTemplate, method, res.status, res.headers, body);
  expect(check.problems, `${method} ${path} → ${res.status} ${text.slice(0, 500)}`).toEqual([]);
  return { status: res.status, headers: res.headers, body };
}

const asRun = (c: Checked): RunDocument => c.body as unknown as RunDocument;

describe('responses match docs/openapi.json', () => {
  it('GET /healthcheck without a key: 200', async () => {
    expect((await call('/healthcheck', '/healthcheck', { key: null })).body).toEqual({ status: 'ok' });
  });

  it('GET /readyz: 200', async () => {
    expect((await call('/readyz', '/readyz')).status).toBe(200);
  });

  it('GET /metrics without a key: 200 text', async () => {
    const r = await call('/metrics', '/metrics', { key: null });
    expect(r.status).toBe(200);
    expect(r.body).toContain('# TYPE autotls_issuance_total counter');
  });

  it('GET /openapi.json: the generated document, as the service loads it', async () => {
    // The harness serves no document; an app over the same components, given what
    // `autotls serve` gives it (src/http/openapi.ts), does.
    const app = createApp({
      orchestrator: h.components.orchestrator,
      metrics: h.components.metrics,
      notifier: h.components.notifier,
      logger: h.components.logger,
      apiKey: API_KEY,
      forceTestmode: false,
      ready: async () => true,
      openapi: loadServedOpenApi(),
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`, { headers: { 'Flask-Key': API_KEY } });
      const body = (await res.json()) as Json;
      expect(validator.check('/openapi.json', 'get', res.status, res.headers, body).problems).toEqual([]);
      expect(res.status).toBe(200);
      expect(body).toEqual(validator.doc);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('GET /process: 200 and the run document (Bearer)', async () => {
    await h.addDomain('z46.test');
    const r = await call('/process', '/process', { key: null, headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(r.status).toBe(200);
    expect(asRun(r).results).toMatchObject([{ domain: 'z46.test', outcome: 'issued' }]);
    expect(r.headers.get('location')).toBe(`/runs/${asRun(r).runId}`);
  });

  it('POST /process?wait=false: 202, then /runs/{id} while running and when done', async () => {
    await h.addDomain('z47.test');
    const accepted = await call('/process', '/process?wait=false', { method: 'POST' });
    expect(accepted.status).toBe(202);
    const { runId } = accepted.body as { runId: string };
    expect(accepted.headers.get('location')).toBe(`/runs/${runId}`);
    let doc: RunDocument | undefined;
    for (let i = 0; i < 300 && doc?.status !== 'succeeded'; i++) {
      const r = await call('/runs/{id}', `/runs/${runId}`);
      expect(r.status).toBe(200);
      doc = asRun(r);
      if (doc.status === 'running') await new Promise((resolve) => setTimeout(resolve, 100));
      else expect(doc.status).toBe('succeeded');
    }
    expect(doc?.results).toMatchObject([{ domain: 'z47.test', outcome: 'issued' }]);
  });

  it('POST /process with a JSON body: 200 nothing-to-do', async () => {
    const r = await call('/process', '/process', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(200);
    expect(asRun(r)).toMatchObject({ status: 'nothing-to-do', results: [] });
  });

  it('GET /single/{domain}: 502 when the domain fails', async () => {
    await h.addDomain('z49.test');
    h.shared.fastly.inject({ type: 'status', status: 422, path: '/tls/bulk/certificates', method: 'POST', times: 1 });
    const r = await call('/single/{domain}', '/single/z49.test');
    expect(r.status).toBe(502);
    expect(asRun(r)).toMatchObject({ status: 'failed', results: [{ domain: 'z49.test', outcome: 'failed' }] });
  });

  it('GET /single/{domain}: 409 while another run holds the domain, 202 for that run', async () => {
    await h.addDomain('z48.test');
    const first = await call('/single/{domain}', '/single/z48.test?wait=false');
    expect(first.status).toBe(202);
    const busy = await call('/single/{domain}', '/single/z48.test');
    expect(busy.status).toBe(409);
    expect(busy.body).toEqual({ error: 'Domain z48.test is being processed by another run' });
    const { runId } = first.body as { runId: string };
    for (let i = 0; i < 300; i++) {
      const r = await call('/runs/{id}', `/runs/${runId}`);
      if (asRun(r).status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('GET /runs: the latest runs', async () => {
    const r = await call('/runs', '/runs?limit=3');
    expect(r.status).toBe(200);
    expect((r.body as unknown as { runs: RunDocument[] }).runs).toHaveLength(3);
  });

  it('400: invalid domain, query parameter, run id or limit', async () => {
    for (const [template, path] of [
      ['/single/{domain}', '/single/bad..name.test'],
      ['/single/{domain}', '/single/a_b.test'],
      ['/process', '/process?wait=maybe'],
      ['/process', '/process?testmode=a&testmode=b'],
      ['/runs/{id}', '/runs/not-a-run-id'],
      ['/runs', '/runs?limit=0'],
    ] as const) {
      expect((await call(template, path)).status, path).toBe(400);
    }
  });

  it('404: unknown domain or run', async () => {
    const domain = await call('/single/{domain}', '/single/unknown.test');
    expect(domain.status).toBe(404);
    expect(domain.body).toEqual({ error: 'Domain unknown.test not available for TLS' });
    expect((await call('/runs/{id}', `/runs/${randomUUID()}`)).status).toBe(404);
  });

  it('413 and 415: bodies that are too large or not JSON', async () => {
    const large = await call('/process', '/process', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(20_000) }) });
    expect(large.status).toBe(413);
    const text = await call('/single/{domain}', '/single/z46.test', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
  });

  it('401 without or with a wrong key; 429 once a client keeps trying', async () => {
    expect((await call('/process', '/process', { key: null })).status).toBe(401);
    expect((await call('/single/{domain}', '/single/z46.test', { key: 'wrong-key' })).status).toBe(401);
    expect((await call('/runs', '/runs', { key: null, headers: { Authorization: 'Bearer wrong-key' } })).status).toBe(401);
    expect((await call('/runs/{id}', `/runs/${randomUUID()}`, { key: null })).status).toBe(401);
    let last: Checked | undefined;
    for (let i = 0; i < 12 && last?.status !== 429; i++) last = await call('/runs', '/runs', { key: 'wrong-key' });
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
