import { describe, expect, it } from 'vitest';
import { notifyWithin } from '../../../src/notify/notifier.js';

describe('notifyWithin', () => {
  it('waits for a notification that finishes in time', async () => {
    let done = false;
    await notifyWithin(new Promise<void>((r) => setTimeout(() => ((done = true), r()), 20)), 1_000);
    expect(done).toBe(true);
  });

  it('stops waiting after its bound (the notification carries on), and never throws', async () => {
    const started = Date.now();
    await notifyWithin(new Promise<void>(() => undefined), 50);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(notifyWithin(Promise.reject(new Error('boom')), 50)).resolves.toBeUndefined();
  });
});
