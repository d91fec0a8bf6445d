import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedAlerts } from '../../../src/notify/alerts.js';

describe('RateLimitedAlerts', () => {
  let sent: string[];
  let alerts: RateLimitedAlerts;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    alerts = new RateLimitedAlerts(async (m) => void sent.push(m), { windowMs: 60_000, maxDistinctPerWindow: 3 });
  });
  afterEach(async () => {
    await alerts.close();
    vi.useRealTimers();
  });

  it('sends the first alert at once and the repeats as one count at the end of the minute', async () => {
    await alerts.alert('bad API key');
    for (let i = 0; i < 41; i++) await alerts.alert('bad API key');
    expect(sent).toEqual(['bad API key']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toEqual(['bad API key', 'bad API key (repeated 41 more times in the last 60 s)']);
  });

  it('a sustained storm produces at most one message per minute', async () => {
    for (let minute = 0; minute < 5; minute++) {
      for (let i = 0; i < 10; i++) {
        await alerts.alert('bad API key');
        await vi.advanceTimersByTimeAsync(6_000);
      }
    }
    // 5 minutes: the first alert, then one summary per minute.
    expect(sent.length).toBeLessThanOrEqual(6);
    expect(sent[0]).toBe('bad API key');
    expect(sent.slice(1).every((m) => /repeated \d+ more times/.test(m))).toBe(true);
  });

  it('a single alert with no repeats produces no follow-up, and the text can alert again later', async () => {
    await alerts.alert('once');
    await vi.advanceTimersByTimeAsync(61_000);
    expect(sent).toEqual(['once']);
    await alerts.alert('once');
    expect(sent).toEqual(['once', 'once']);
  });

  it('different texts are separate, up to a cap per window; the overflow is counted', async () => {
    for (const m of ['a', 'b', 'c', 'd', 'e']) await alerts.alert(m);
    expect(sent).toEqual(['a', 'b', 'c']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toContain('2 further alerts suppressed in the last 60 s');
  });

  it('flush sends pending counts at once (for shutdown)', async () => {
    await alerts.alert('x');
    await alerts.alert('x');
    await alerts.flush();
    expect(sent).toEqual(['x', 'x (repeated 1 more time in the last 60 s)']);
  });

  it('a failing sender does not make alert() throw', async () => {
    const failing = new RateLimitedAlerts(async () => {
      throw new Error('down');
    });
    await expect(failing.alert('x')).resolves.toBeUndefined();
    await failing.close();
  });
});
