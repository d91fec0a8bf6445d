import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DnsLookup } from '../../../src/dns/lookup.js';
import { DnsPropagationError, PropagationChecker } from '../../../src/dns/propagation.js';
import { MemoryZones, startDnsServer, type RunningDnsServer } from '../../dns/dns-server.js';

const logger = pino({ level: 'silent' });
const FQDN = '_acme-challenge.prop.example.test';

describe('PropagationChecker', () => {
  const zonesA = new MemoryZones(['example.test']);
  const zonesB = new MemoryZones(['example.test']);
  let a: RunningDnsServer;
  let b: RunningDnsServer;
  let dropping: RunningDnsServer;

  beforeAll(async () => {
    a = await startDnsServer({ source: zonesA.source });
    b = await startDnsServer({ source: zonesB.source });
    dropping = await startDnsServer({ source: zonesA.source, intercept: () => 'drop' });
  });
  afterAll(async () => {
    await Promise.all([a.stop(), b.stop(), dropping.stop()]);
  });
  afterEach(() => {
    zonesA.remove(FQDN);
    zonesB.remove(FQDN);
    a.queries.length = 0;
    b.queries.length = 0;
  });

  /** A checker whose zone's nameservers are `servers`, one address each. */
  const checker = (servers: RunningDnsServer[], timeoutMs = 3_000, enabled = true): PropagationChecker =>
    new PropagationChecker(
      { enabled, timeoutMs, queryTimeoutMs: 200 },
      new DnsLookup({ resolvers: [] }, logger, {
        findAuthoritative: async () => servers.map((s) => ({ name: `${s.host}:${s.port}`, addresses: [{ host: s.host, port: s.port }] })),
      }),
      logger,
    );

  it('returns at the first poll when the values are already there', async () => {
    zonesA.setTxt(FQDN, ['v1', 'v2']);
    const started = performance.now();
    await checker([a]).waitForTxt(FQDN, ['v1', 'v2']);
    expect(performance.now() - started).toBeLessThan(100);
    expect(a.queries.filter((q) => q.name === FQDN)).toHaveLength(1);
  });

  it('polls with short, growing intervals until every value is visible', async () => {
    zonesA.setTxt(FQDN, ['v1']);
    setTimeout(() => zonesA.setTxt(FQDN, ['v1', 'v2']), 400);
    const started = performance.now();
    await checker([a]).waitForTxt(FQDN, ['v1', 'v2']);
    const elapsed = performance.now() - started;
    // 50 + 100 + 200 ms, then the poll after 400 ms more sees it (~750 ms); no fixed multi-second sleep.
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(1_300);
    const polls = a.queries.filter((q) => q.name === FQDN).length;
    expect(polls).toBeGreaterThanOrEqual(4);
    expect(polls).toBeLessThanOrEqual(6);
  });

  it('waits until every server shows the values', async () => {
    zonesA.setTxt(FQDN, ['v1']);
    setTimeout(() => zonesB.setTxt(FQDN, ['v1']), 200);
    await checker([a, b]).waitForTxt(FQDN, ['v1']);
    // a was satisfied at once and is not asked again.
    expect(a.queries.filter((q) => q.name === FQDN)).toHaveLength(1);
    expect(b.queries.filter((q) => q.name === FQDN).length).toBeGreaterThan(1);
  });

  it('fails at the deadline naming the name, the missing values and the servers', async () => {
    zonesA.setTxt(FQDN, ['v1']);
    const error = await checker([a, b], 500)
      .waitForTxt(FQDN, ['v1', 'v2'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsPropagationError);
    const message = (error as Error).message;
    expect(message).toContain(FQDN);
    expect(message).toContain(`127.0.0.1:${a.port} is missing "v2"`);
    expect(message).toContain(`127.0.0.1:${b.port} is missing "v1", "v2"`);
    expect((error as DnsPropagationError).servers).toEqual([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
  });

  it('reports a server that never answers, within the deadline', async () => {
    const started = performance.now();
    const error = await checker([dropping], 600)
      .waitForTxt(FQDN, ['v1'])
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1_200);
    expect((error as Error).message).toMatch(/is missing "v1" \(last error: DNS over UDP to 127\.0\.0\.1:\d+ timed out/);
  });

  it('does nothing when disabled: returns at once, without a single query', async () => {
    const before = dropping.queries.length;
    const started = performance.now();
    await expect(checker([dropping], 100, false).waitForTxt(FQDN, ['never'])).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(50);
    expect(dropping.queries.length).toBe(before);
  });

  it('asks the authoritative nameservers when no resolvers are configured', async () => {
    zonesB.setTxt(FQDN, ['auth']);
    const asked: string[] = [];
    const lookup = new DnsLookup({ resolvers: [] }, logger, {
      findAuthoritative: async (name) => {
        asked.push(name);
        return [{ name: 'ns1.example.test', addresses: [{ host: b.host, port: b.port }] }];
      },
    });
    await new PropagationChecker({ enabled: true, timeoutMs: 1_000 }, lookup, logger).waitForTxt(FQDN, ['auth']);
    expect(asked).toEqual([FQDN]);
  });

  it('needs one answering address per nameserver: a dead AAAA does not fail or slow the wait', async () => {
    zonesA.setTxt(FQDN, ['v1']);
    const lookup = new DnsLookup({ resolvers: [] }, logger, {
      findAuthoritative: async () => [{ name: 'ns1.example.test', addresses: [{ host: dropping.host, port: dropping.port }, { host: a.host, port: a.port }] }],
    });
    const started = performance.now();
    await new PropagationChecker({ enabled: true, timeoutMs: 2_000, queryTimeoutMs: 1_000 }, lookup, logger).waitForTxt(FQDN, ['v1']);
    expect(performance.now() - started).toBeLessThan(300); // not the dead address's 1 s timeout
  });

  it('reports every address of a nameserver none of whose addresses answers', async () => {
    const lookup = new DnsLookup({ resolvers: [] }, logger, {
      findAuthoritative: async () => [{ name: 'ns1.example.test', addresses: [{ host: dropping.host, port: dropping.port }, { host: '::1', port: dropping.port }] }],
    });
    const error = await new PropagationChecker({ enabled: true, timeoutMs: 400, queryTimeoutMs: 200 }, lookup, logger).waitForTxt(FQDN, ['v1']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsPropagationError);
    expect((error as Error).message).toContain(`ns1.example.test (127.0.0.1:${dropping.port}, [::1]:${dropping.port}) is missing "v1" (last error: `);
    expect((error as Error).message).toContain(`127.0.0.1:${dropping.port}: DNS over UDP`);
  });
});
