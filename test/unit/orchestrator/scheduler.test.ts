import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/clock.js';
import { ContinuousScheduler, cronRunsBetween } from '../../../src/orchestrator/scheduler.js';

const logger = pino({ level: 'silent' });
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function scheduler(clock: FakeClock, event: Date | undefined, random = 0) {
  return new ContinuousScheduler({ clock, random: () => random, logger, nextEventAt: async () => event, wake: async () => undefined });
}

describe('ContinuousScheduler.nextWake', () => {
  const clock = new FakeClock('2027-01-01T00:00:00Z');
  const now = clock.now().getTime();

  it('wakes at the earliest pending event', async () => {
    expect((await scheduler(clock, new Date(now + 20 * MINUTE)).nextWake()).getTime()).toBe(now + 20 * MINUTE);
  });

  it('never sleeps less than the minimum, so a domain that stays due cannot spin the loop', async () => {
    expect((await scheduler(clock, new Date(now - HOUR)).nextWake()).getTime()).toBe(now + 30_000);
  });

  it('sleeps at most an hour, so new domains are noticed', async () => {
    expect((await scheduler(clock, new Date(now + 48 * HOUR)).nextWake()).getTime()).toBe(now + HOUR);
    expect((await scheduler(clock, undefined).nextWake()).getTime()).toBe(now + HOUR);
  });

  it('adds a random delay of up to a tenth of the sleep, at most five minutes', async () => {
    expect((await scheduler(clock, new Date(now + 20 * MINUTE), 1).nextWake()).getTime()).toBe(now + 22 * MINUTE);
    expect((await scheduler(clock, new Date(now + 2 * HOUR), 1).nextWake()).getTime()).toBe(now + HOUR + 5 * MINUTE);
  });
});

describe('ContinuousScheduler timer loop', () => {
  it('wakes at once when started, then again at the next event, until stopped', async () => {
    let wakes = 0;
    const s = new ContinuousScheduler(
      { clock: { now: () => new Date() }, random: () => 0, logger, nextEventAt: async () => new Date(), wake: async () => void wakes++ },
      { minIntervalMs: 10 },
    );
    s.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    s.stop();
    const seen = wakes;
    expect(seen).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(wakes).toBe(seen);
  });

  it('keeps going when a wake fails', async () => {
    let wakes = 0;
    const s = new ContinuousScheduler(
      {
        clock: { now: () => new Date() },
        random: () => 0,
        logger,
        nextEventAt: async () => new Date(),
        wake: async () => {
          wakes++;
          throw new Error('database away');
        },
      },
      { minIntervalMs: 10 },
    );
    s.start();
    await new Promise((resolve) => setTimeout(resolve, 80));
    s.stop();
    expect(wakes).toBeGreaterThanOrEqual(2);
  });
});

describe('cronRunsBetween', () => {
  it('counts the runs a cron line triggers', () => {
    const from = new Date('2027-01-01T00:00:00Z');
    const day = new Date(from.getTime() + 24 * HOUR);
    expect(cronRunsBetween('0 */8 * * *', from, day)).toBe(3); // 00:00, 08:00 and 16:00
    expect(cronRunsBetween('0 3 * * *', from, new Date(from.getTime() + 7 * 24 * HOUR))).toBe(7);
  });
});
