import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/dns/ratelimiter.js';

describe('TokenBucket', () => {
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
