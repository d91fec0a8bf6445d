import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeLiveCertificate, type ProbeOptions } from '../../../src/domains/probe.js';
import { createTestCa, createTestLeaf, type TestCa, type TestLeaf } from '../certificates/pki.js';

const DOMAIN = 'shop.example';
const notDue = () => false;

let ca: TestCa;
let good: TestLeaf;
let otherName: TestLeaf;
let expired: TestLeaf;
const servers: Array<TlsServer | NetServer> = [];
const sockets = new Set<Socket>();

function listen<T extends TlsServer | NetServer>(server: T): Promise<number> {
  servers.push(server);
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A TLS server choosing its certificate by SNI, so the tests also prove which name was sent. */
async function tlsServer(bySni: Record<string, TestLeaf>): Promise<number> {
  const contexts = new Map(Object.entries(bySni).map(([name, leaf]) => [name, createSecureContext({ cert: leaf.certPem + ca.certPem, key: leaf.keyPem })]));
  const fallback = Object.values(bySni)[0] as TestLeaf;
  const server = createTlsServer({
    cert: fallback.certPem,
    key: fallback.keyPem,
    SNICallback: (name, cb) => cb(null, contexts.get(name) ?? contexts.values().next().value),
  });
  server.on('tlsClientError', () => undefined);
  return listen(server);
}

function probe(port: number, extra: Partial<ProbeOptions> = {}) {
  return probeLiveCertificate({ domain: DOMAIN, host: '127.0.0.1', port, timeoutMs: 5000, tlsIssuer: 'Lets Encrypt', isDue: notDue, ca: ca.certPem, ...extra });
}

beforeAll(() => {
  ca = createTestCa('Probe Test CA');
  good = createTestLeaf(ca, { names: [DOMAIN, `*.${DOMAIN}`], days: 90 });
  otherName = createTestLeaf(ca, { names: ['other.example'], days: 90 });
  expired = createTestLeaf(ca, { names: [DOMAIN], notBefore: '20200101000000Z', notAfter: '20200301000000Z' });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  ca.cleanup();
});

describe('probeLiveCertificate', () => {
  it('is ok for a valid, covering, not-due certificate of ours (SNI = the domain)', async () => {
    // other.example is the default certificate: only SNI = shop.example selects the right one.
    const port = await tlsServer({ 'other.example': otherName, [DOMAIN]: good });
    const result = await probe(port);
    expect(result.status).toBe('ok');
    expect(result.notAfter).toBeInstanceOf(Date);
    expect(result.detail).toMatch(/valid certificate/);
  });

  it('is renew when the policy says the certificate is due', async () => {
    const port = await tlsServer({ [DOMAIN]: good });
    let seen: [Date, Date] | undefined;
    const result = await probe(port, { isDue: (nb, na) => { seen = [nb, na]; return true; } });
    expect(result.status).toBe('renew');
    expect(seen?.[1].getTime()).toBe(result.notAfter?.getTime());
    expect((seen?.[1].getTime() ?? 0) - (seen?.[0].getTime() ?? 0)).toBeCloseTo(90 * 86_400_000, -5);
  });

  it('is renew for our certificate once expired', async () => {
    const port = await tlsServer({ [DOMAIN]: expired });
    const result = await probe(port);
    expect(result.status).toBe('renew');
    expect(result.notAfter).toEqual(new Date('2020-03-01T00:00:00Z'));
  });

  it('is new when the served certificate does not cover the domain', async () => {
    const port = await tlsServer({ 'other.example': otherName });
    const result = await probe(port);
    expect(result.status).toBe('new');
    expect(result.detail).toMatch(/does not cover shop\.example.*other\.example/);
  });

  it('is new when the database issuer is not Lets Encrypt', async () => {
    const port = await tlsServer({ [DOMAIN]: good });
    expect((await probe(port, { tlsIssuer: 'DigiCert' })).status).toBe('new');
    expect((await probe(port, { tlsIssuer: null })).status).toBe('new');
  });

  it('is new when the chain is not trusted', async () => {
    const port = await tlsServer({ [DOMAIN]: good });
    const result = await probeLiveCertificate({ domain: DOMAIN, host: '127.0.0.1', port, timeoutMs: 5000, tlsIssuer: 'Lets Encrypt', isDue: notDue });
    expect(result.status).toBe('new');
    expect(result.detail).toMatch(/not valid/);
  });

  it('is unavailable when the peer closes without a certificate', async () => {
    const port = await listen(createNetServer((socket) => socket.destroy()));
    const result = await probe(port);
    expect(result.status).toBe('unavailable');
    expect(result.notAfter).toBeUndefined();
  });

  it('is new, within the deadline, when the peer never answers', async () => {
    const port = await listen(createNetServer(() => undefined));
    const started = Date.now();
    const result = await probe(port, { timeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.status).toBe('new');
    expect(result.detail).toMatch(/within 300 ms/);
  });

  it('is new when nothing listens', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const result = await probe(port);
    expect(result.status).toBe('new');
    expect(result.detail).toMatch(/ECONNREFUSED/);
  });

  it('is new when the TLS handshake fails', async () => {
    // A plain-text server answering garbage instead of a ServerHello.
    const port = await listen(createNetServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const result = await probe(port);
    expect(result.status).toBe('new');
    expect(result.detail).toMatch(/TLS error/);
  });
});
