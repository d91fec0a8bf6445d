// The request log line (issue 15, item 6): method, path, status, duration and
// request id, nothing else: no headers (where the API key travels), no query.
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/http/app.js';
import { createLogger } from '../../../src/logger.js';
import { Metrics } from '../../../src/metrics.js';
import type { Notifier } from '../../../src/notify/notifier.js';
import type { Orchestrator } from '../../../src/orchestrator/orchestrator.js';

const API_KEY = 'api-key-0123456789abcdef';
const lines: string[] = [];
let base = '';
let close: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: 'info', secrets: [API_KEY], destination });
  const notifier: Notifier = { name: 'none', domainFinished: async () => undefined, runFinished: async () => undefined, alert: async () => undefined };
  const app = createApp({
    orchestrator: {} as Orchestrator,
    metrics: new Metrics({ defaultMetrics: false }),
    notifier,
    logger,
    apiKey: API_KEY,
    forceTestmode: false,
    ready: async () => true,
    openapi: { openapi: '3.1.0' },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
});
afterAll(() => close());

async function requestLine(path: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
  const before = lines.length;
  const res = await fetch(`${base}${path}`, { headers });
  await res.text();
  for (let i = 0; i < 50 && lines.length === before; i++) await new Promise((r) => setTimeout(r, 10));
  const line = lines.slice(before).find((l) => l.includes('"requestId"'));
  expect(line, 'a request log line').toBeDefined();
  expect(Buffer.byteLength(line as string)).toBeLessThan(300);
  expect(line).not.toContain(API_KEY);
  return JSON.parse(line as string) as Record<string, unknown>;
}

describe('request log lines', () => {
  it('carry method, path, status, duration and request id only', async () => {
    const entry = await requestLine(`/openapi.json?token=${API_KEY}`, { authorization: `Bearer ${API_KEY}`, 'x-request-id': 'edge-42', cookie: 'session=abc' });
    expect(Object.keys(entry).sort()).toEqual(['durationMs', 'level', 'method', 'msg', 'path', 'requestId', 'service', 'status', 'time']);
    expect(entry).toMatchObject({ level: 30, method: 'GET', path: '/openapi.json', status: 200, requestId: 'edge-42', msg: 'request completed' });
    expect(typeof entry.durationMs).toBe('number');
  });

  it('refused requests log at warn, with a generated request id when none (or a malformed one) is sent', async () => {
    const entry = await requestLine('/openapi.json', { 'flask-key': 'wrong-key-value', 'x-request-id': 'not ok; {"a":1}' });
    expect(Object.keys(entry).sort()).toEqual(['durationMs', 'level', 'method', 'msg', 'path', 'requestId', 'service', 'status', 'time']);
    expect(entry).toMatchObject({ level: 40, path: '/openapi.json', status: 401 });
    expect(entry.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(entry)).not.toContain('wrong-key-value');
  });
});

describe('/readyz (open, contract section 2)', () => {
  /** An app whose database check is `ready`; returns its base URL and a closer. */
  async function appWith(ready: () => Promise<boolean>): Promise<{ url: string; close: () => Promise<void> }> {
    const notifier: Notifier = { name: 'none', domainFinished: async () => undefined, runFinished: async () => undefined, alert: async () => undefined };
    const app = createApp({
      orchestrator: {} as Orchestrator,
      metrics: new Metrics({ defaultMetrics: false }),
      notifier,
      logger: createLogger({ level: 'silent', secrets: [API_KEY] }),
      apiKey: API_KEY,
      forceTestmode: false,
      ready,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it('answers 200 without a key when the database answers', async () => {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('answers 503 when the database fails, with a body that holds none of its error', async () => {
    const secretText = 'connect ECONNREFUSED 10.1.2.3:5432 password authentication failed for user "autotls" PostgreSQL 16.4';
    const app = await appWith(async () => {
      throw new Error(secretText);
    });
    try {
      const res = await fetch(`${app.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({ status: 'database unavailable' });
      for (const part of ['ECONNREFUSED', '10.1.2.3', '5432', 'password', 'autotls', 'PostgreSQL', '16.4']) expect(body).not.toContain(part);
      // The key is not needed for the 503 either, and sending a wrong one changes nothing.
      expect((await fetch(`${app.url}/readyz`, { headers: { 'flask-key': 'wrong-key-value' } })).status).toBe(503);
    } finally {
      await app.close();
    }
  });

  it('answers 503 when the database check reports not ready', async () => {
    const app = await appWith(async () => false);
    try {
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    } finally {
      await app.close();
    }
  });

  it('every other API endpoint still needs the key', async () => {
    for (const path of ['/process', '/runs', '/runs/x', '/single/example.com', '/openapi.json']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(401);
    }
  });
});
