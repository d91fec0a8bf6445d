/**
 * Where the simulator's time goes: each wake's wall time is split, by least
 * squares over all wakes, into a part per wake, a part per issuance and a part
 * per ARI check. A wake does some of each in varying amounts, so the three
 * costs can be told apart without timers inside the service.
 */

export interface WakeSample {
  ms: number;
  issuances: number;
  ariChecks: number;
}

export interface CostSplit {
  wakes: number;
  inWakeSeconds: number;
  perWakeMs: number;
  perIssuanceMs: number;
  perAriCheckMs: number;
}

/** Least-squares fit of ms = perWake + perIssuance × issuances + perAriCheck × ariChecks; undefined when the wakes cannot tell the parts apart. */
export function splitCosts(samples: readonly WakeSample[]): CostSplit | undefined {
  const rows = samples.map((s) => [1, s.issuances, s.ariChecks]);
  // Normal equations (XᵀX) b = Xᵀy, solved by Gaussian elimination with partial pivoting.
  const a = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((sum, r) => sum + (r[i] as number) * (r[j] as number), 0)));
  const b = [0, 1, 2].map((i) => rows.reduce((sum, r, k) => sum + (r[i] as number) * (samples[k] as WakeSample).ms, 0));
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs((a[r] as number[])[col] as number) > Math.abs((a[pivot] as number[])[col] as number)) pivot = r;
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    [b[col], b[pivot]] = [b[pivot] as number, b[col] as number];
    const p = (a[col] as number[])[col] as number;
    if (Math.abs(p) < 1e-9) return undefined;
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = ((a[r] as number[])[col] as number) / p;
      for (let c = col; c < 3; c++) (a[r] as number[])[c] = ((a[r] as number[])[c] as number) - f * ((a[col] as number[])[c] as number);
      b[r] = (b[r] as number) - f * (b[col] as number);
    }
  }
  const [perWakeMs, perIssuanceMs, perAriCheckMs] = [0, 1, 2].map((i) => (b[i] as number) / ((a[i] as number[])[i] as number)) as [number, number, number];
  return {
    wakes: samples.length,
    inWakeSeconds: samples.reduce((sum, s) => sum + s.ms, 0) / 1000,
    perWakeMs,
    perIssuanceMs,
    perAriCheckMs,
  };
}
