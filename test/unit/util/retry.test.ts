import { describe, expect, it } from 'vitest';
import { abortableSleep, backoffDelay, parseRetryAfter, withRetry } from '../../../src/util/retry.js';

describe('parseRetryAfter', () => {
  const now = new Date('2026-03-01T00:00:00Z');
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 7 ', now)).toBe(7);
    expect(parseRetryAfter('0.2', now)).toBe(0.2);
    expect(parseRetryAfter('Sun, 01 Mar 2026 01:00:00 GMT', now)).toBe(3600);
    expect(parseRetryAfter(new Date(now.getTime() + 4_500).toUTCString(), now)).toBe(4);
  });
  it('answers 0 for a date in the past', () => {
    expect(parseRetryAfter('Sat, 28 Feb 2026 00:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent or unreadable values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('abortableSleep', () => {
  it('resolves after the delay', async () => {
    await expect(abortableSleep(5, new AbortController().signal)).resolves.toBeUndefined();
  });
  it('rejects with the reason as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const pending = abortableSleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
  it('rejects at once for a signal already aborted', async () => {
    await expect(abortableSleep(60_000, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });
});

describe('backoffDelay', () => {
  it('backs off exponentially with jitter, capped', () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
  });
});

describe('withRetry', () => {
  const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
  it('retries what classify calls transient, at most policy.attempts times in total', async () => {
    const seen: number[] = [];
    const retried: number[] = [];
    const error = await withRetry(
      async (attempt) => {
        seen.push(attempt);
        throw new Error(`fail ${attempt}`);
      },
      { policy, classify: () => ({ retry: true }), onRetry: (_e, attempt) => retried.push(attempt) },
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe('fail 3');
    expect(seen).toEqual([1, 2, 3]);
    expect(retried).toEqual([1, 2]);
  });
  it('stops at once on a permanent failure, and returns the first success', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw new Error('permanent'); }, { policy, classify: () => ({ retry: false }) })).rejects.toThrow('permanent');
    expect(calls).toBe(1);
    const value = await withRetry(async (attempt) => { if (attempt < 2) throw new Error('once'); return 'ok'; }, { policy, classify: () => ({ retry: true }) });
    expect(value).toBe('ok');
  });
  it('waits a server-given delay, capped at maxDelayMs', async () => {
    const delays: number[] = [];
    await withRetry(async (attempt) => { if (attempt === 1) throw new Error('429'); return 1; }, {
      policy: { attempts: 2, baseDelayMs: 1, maxDelayMs: 20 },
      classify: () => ({ retry: true, delayMs: 10_000 }),
      onRetry: (_e, _a, delayMs) => delays.push(delayMs),
    });
    expect(delays).toEqual([20]);
  });
});
