// AcmeIssuer behaviour that needs no CA: unreachable or non-ACME endpoints on
// loopback, and Retry-After parsing. The protocol itself is tested against
// Pebble in test/integration/certificates/acme.test.ts.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { AcmeIssuer, AcmeNetworkError, AcmeOrderError, AcmeRateLimitedError } from '../../../src/certificates/acme.js';
import { createLogger } from '../../../src/logger.js';

const logger = createLogger({ level: 'silent' });
const clock = new FakeClock('2026-03-01T00:00:00Z');
const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/not-acme') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world' }));
    } else if (req.url === '/limited') {
      res.writeHead(429, { 'retry-after': '90', 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', status: 429 }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('AcmeIssuer.connect failures', () => {
  it('reports a refused connection as AcmeNetworkError with its code, after bounded retries', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const statuses: string[] = [];
    const started = Date.now();
    const error = await AcmeIssuer.connect({
      directoryUrl: `http://127.0.0.1:${port}/dir`, accountKeyPem, logger, clock,
      onRequest: (endpoint, status) => statuses.push(`${endpoint} ${status}`),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect((error as Error).message).toBe('ACME directory request failed: ECONNREFUSED');
    expect(statuses).toEqual(['directory 0', 'directory 0', 'directory 0']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('rejects a URL that is not an ACME directory', async () => {
    const error = await AcmeIssuer.connect({ directoryUrl: `${base}/not-acme`, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeOrderError);
    expect((error as Error).message).toMatch(/is not an ACME directory/);
  });

  it('turns a 429 on the directory into AcmeRateLimitedError at once', async () => {
    const error = await AcmeIssuer.connect({ directoryUrl: `${base}/limited`, accountKeyPem, logger, clock }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeRateLimitedError);
    expect((error as AcmeRateLimitedError).retryAfter).toEqual(new Date('2026-03-01T00:01:30Z'));
    expect((error as AcmeRateLimitedError).endpoint).toBe('directory');
    expect(seen.filter((u) => u === '/limited')).toHaveLength(1);
  });
});

