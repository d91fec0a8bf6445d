import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/util/retry.js';
import { TokenBucket } from '../../../src/dns/ratelimiter.js';
import { ancestorsOf, isInZone, parseServer, txtChunks, txtValuesAt } from '../../../src/dns/wire.js';

describe('DNS wire helpers', () => {
  it('parses host:port forms', () => {
    expect(parseServer('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServer('ns1.example.com')).toEqual({ host: 'ns1.example.com', port: 53 });
    expect(parseServer('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseServer('::1')).toEqual({ host: '::1', port: 53 });
    expect(() => parseServer('127.0.0.1:99999')).toThrow(/Invalid port/);
  });

  it('walks names up and tests zone membership', () => {
    expect(ancestorsOf('_acme-challenge.A.z51.test.')).toEqual(['_acme-challenge.a.z51.test', 'a.z51.test', 'z51.test', 'test']);
    expect(isInZone('x.z51.test', 'Z51.test.')).toBe(true);
    expect(isInZone('xz51.test', 'z51.test')).toBe(false);
  });

  it('splits long TXT values into 255-byte strings', () => {
    expect(txtChunks('a'.repeat(600)).map((c) => c.length)).toEqual([255, 255, 90]);
    expect(txtChunks('')).toEqual([Buffer.alloc(0)]);
  });

  it('reads TXT values through a CNAME chain in an answer', () => {
    const values = txtValuesAt(
      [
        { type: 'CNAME', name: '_acme-challenge.a.test', data: 'x.validation.test' },
        { type: 'TXT', name: 'x.validation.test', data: [Buffer.from('part1'), Buffer.from('part2')] },
        { type: 'TXT', name: 'unrelated.test', data: 'no' },
      ],
      '_acme-challenge.a.test',
    );
    expect(values).toEqual(['part1part2']);
  });
});

describe('retry and rate limiting', () => {
  it('backs off exponentially with jitter, capped', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
  });

  it('lets a burst through, then spaces requests at the rate', async () => {
    let now = 0;
    const bucket = new TokenBucket(5, 2, () => now);
    const started = performance.now();
    await bucket.take();
    await bucket.take();
    expect(performance.now() - started).toBeLessThan(20);
    const third = bucket.take(); // must wait 1/5 s
    await third;
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    now += 1000; // a second later the bucket is full again
    const t = performance.now();
    await bucket.take();
    expect(performance.now() - t).toBeLessThan(20);
  });
});
