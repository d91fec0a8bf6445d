import { describe, expect, it } from 'vitest';
import { DAY, HOUR, TestClock } from './clock.js';
import { seededRandom } from './random.js';

describe('TestClock', () => {
  it('moves only when told to', () => {
    const clock = new TestClock('2027-01-01T00:00:00Z');
    expect(clock.now().toISOString()).toBe('2027-01-01T00:00:00.000Z');
    clock.advanceDays(1);
    clock.advanceHours(2);
    clock.advanceMinutes(3);
    expect(clock.now().getTime() - Date.parse('2027-01-01T00:00:00Z')).toBe(DAY + 2 * HOUR + 3 * 60_000);
    clock.set('2028-02-16T00:00:00Z');
    expect(clock.now().toISOString()).toBe('2028-02-16T00:00:00.000Z');
  });

  it('a seeded random source repeats', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const draws = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(draws);
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
