/** A seeded PRNG (mulberry32) returning numbers in [0, 1), so fault draws and simulations repeat. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A time window during which a fake is down. */
export interface Outage {
  start: Date;
  end: Date;
}

export function inOutage(outages: readonly Outage[], now: Date): Outage | undefined {
  const t = now.getTime();
  return outages.find((o) => o.start.getTime() <= t && t < o.end.getTime());
}

/** Fault switches shared by the in-memory counterparts. */
export interface FaultSwitches {
  /** Each call fails with this probability, in percent (0–100), drawn from the fake's `random`. */
  failurePercent: number;
  /** The next N calls fail, whatever the percentage. */
  failNext: number;
  /** Calls inside these windows (by the fake's clock) fail. */
  outages: Outage[];
}

export function noFaults(): FaultSwitches {
  return { failurePercent: 0, failNext: 0, outages: [] };
}

/** Whether this call fails, and why; consumes one `failNext`. */
export function drawFault(faults: FaultSwitches, now: Date, random: () => number): 'outage' | 'injected' | undefined {
  if (inOutage(faults.outages, now)) return 'outage';
  if (faults.failNext > 0) {
    faults.failNext--;
    return 'injected';
  }
  if (faults.failurePercent > 0 && random() * 100 < faults.failurePercent) return 'injected';
  return undefined;
}
