// Where the CPU went during a stage: CPU time (user+sys) of each process of the
// testbed, read from /proc before and after. On a 2-core machine, the sum
// against the wall time shows whether a stage was CPU-bound, and on whom.
import { processTree } from '../../test/testbed/process.js';
import type { BenchTestbed } from './testbed.js';
import { childrenCpuMs, procCpuMs, selfCpuMs } from './util.js';

export type CpuAccount = Record<string, number>;

function treeCpuMs(pid: number): number {
  return (procCpuMs(pid, true) ?? 0) + processTree(pid).reduce((sum, p) => sum + (procCpuMs(p.pid) ?? 0), 0);
}

/** A snapshot; `extra` adds processes by name (e.g. the AutoTLS process). */
export function cpuSnapshot(tb: BenchTestbed, extra: Record<string, number> = {}): CpuAccount {
  const snap: CpuAccount = {
    pebble: procCpuMs(tb.pebble.pid) ?? 0,
    bind: procCpuMs(tb.bind.pid) ?? 0,
    bench: selfCpuMs(),
    // certbot / lego processes (reaped children of the bench process).
    clients: childrenCpuMs(),
  };
  if (tb.postgres) snap.postgres = treeCpuMs(tb.postgres.pid);
  for (const [name, pid] of Object.entries(extra)) snap[name] = procCpuMs(pid) ?? 0;
  return snap;
}

/** after - before, rounded, zero entries left out. */
export function cpuDelta(before: CpuAccount, after: CpuAccount): CpuAccount {
  const out: CpuAccount = {};
  for (const [k, v] of Object.entries(after)) {
    const d = Math.round(v - (before[k] ?? 0));
    if (d > 0) out[k] = d;
  }
  return out;
}
