import { describe, expect, it } from 'vitest';
import { splitCosts } from '../../bench/simulate/cost-split.js';

describe('simulator cost split', () => {
  it('recovers the per-wake, per-issuance and per-check costs the wakes were made of', () => {
    const samples = Array.from({ length: 50 }, (_, i) => {
      const issuances = i % 7;
      const ariChecks = (i * 37) % 400;
      return { issuances, ariChecks, ms: 2 + 15 * issuances + 0.03 * ariChecks + (i % 2 ? 0.01 : -0.01) };
    });
    const split = splitCosts(samples);
    expect(split?.perWakeMs).toBeCloseTo(2, 1);
    expect(split?.perIssuanceMs).toBeCloseTo(15, 2);
    expect(split?.perAriCheckMs).toBeCloseTo(0.03, 3);
    expect(split?.wakes).toBe(50);
  });

  it('says nothing when the wakes cannot tell the parts apart', () => {
    expect(splitCosts([{ ms: 5, issuances: 1, ariChecks: 0 }, { ms: 10, issuances: 2, ariChecks: 0 }])).toBeUndefined();
  });
});
