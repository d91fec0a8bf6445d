import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Rfc2136Provider } from '../../../src/dns/rfc2136.js';
import { MemoryZones, startDnsServer, type RunningDnsServer } from '../../dns/dns-server.js';

const logger = pino({ level: 'silent' });
const SECRET = Buffer.alloc(32, 9).toString('base64');

describe('Rfc2136Provider retry policy (in-process server)', () => {
  let verdict: 'SERVFAIL' | 'REFUSED' | 'drop' | undefined;
  let server: RunningDnsServer;
  const zones = new MemoryZones(['r.test']);

  beforeAll(async () => {
    server = await startDnsServer({ source: zones.source, intercept: () => verdict });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.queries.length = 0;
  });

  const provider = (): Rfc2136Provider =>
    new Rfc2136Provider({ nameserver: `${server.host}:${server.port}`, tsigKeyName: 'k', tsigSecret: SECRET, timeoutMs: 150, attempts: 3 }, logger);

  it('retries SERVFAIL a bounded number of times, then reports it', async () => {
    verdict = 'SERVFAIL';
    await expect(provider().addTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/SERVFAIL/);
    expect(server.queries).toHaveLength(3);
    expect(server.queries.every((q) => q.transport === 'tcp' && q.type === 'SOA' && q.name === 'r.test')).toBe(true);
  });

  it('does not retry REFUSED', async () => {
    verdict = 'REFUSED';
    await expect(provider().removeTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/answered REFUSED/);
    expect(server.queries).toHaveLength(1);
  });

  it('times out a silent server and retries, bounded', async () => {
    verdict = 'drop';
    const started = performance.now();
    await expect(provider().addTxt('r.test', '_acme-challenge.r.test', ['x'])).rejects.toThrow(/timed out after 150 ms/);
    expect(server.queries).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('reads TXT values and finds the zone with plain queries', async () => {
    verdict = undefined;
    zones.setTxt('_acme-challenge.r.test', ['a', 'b']);
    expect((await provider().listTxt('r.test', '_acme-challenge.r.test')).sort()).toEqual(['a', 'b']);
    expect(await provider().listTxt('r.test', '_acme-challenge.none.r.test')).toEqual([]);
    expect(await provider().findZone('_acme-challenge.deep.r.test')).toBe('r.test');
    expect(await provider().findZone('elsewhere.test')).toBeUndefined();
  });
});
