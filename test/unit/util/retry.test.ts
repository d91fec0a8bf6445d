import { describe, expect, it } from 'vitest';
import { abortableSleep, parseRetryAfter } from '../../../src/util/retry.js';

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
