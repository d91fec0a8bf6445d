import { describe, expect, it } from 'vitest';
import { keysMatch } from '../../../src/http/auth.js';

describe('keysMatch', () => {
  it('matches only the exact key', () => {
    expect(keysMatch('correct-horse-battery', 'correct-horse-battery')).toBe(true);
    expect(keysMatch('correct-horse-batter', 'correct-horse-battery')).toBe(false);
    expect(keysMatch('correct-horse-battery-staple', 'correct-horse-battery')).toBe(false);
    expect(keysMatch('', 'correct-horse-battery')).toBe(false);
  });
});
