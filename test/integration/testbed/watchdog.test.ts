// The watchdog's probes (test/testbed/watchdog.ts) against the live testbed: each
// answers, and one pointed at a port where nothing listens is reported.
import { describe, expect, inject, it } from 'vitest';
import type { TestbedInfo } from '../../testbed/context.js';
import { closedPort } from '../../e2e/harness.js';
import { probesFor, startWatchdog } from '../../testbed/watchdog.js';

const tb: TestbedInfo = inject('testbed');

describe('testbed watchdog probes', () => {
  it('BIND, Pebble and PostgreSQL each answer', async () => {
    const probes = probesFor(tb);
    expect(probes.map((p) => p.service)).toEqual(['BIND', 'Pebble', 'PostgreSQL']);
    for (const probe of probes) await expect(probe.ask(), probe.service).resolves.toBeUndefined();
  });

  it('a service that is gone is reported', async () => {
    const port = await closedPort();
    const gone: TestbedInfo = { ...tb, pebble: { ...tb.pebble, directoryUrl: `https://127.0.0.1:${port}/dir` } };
    const lines: string[] = [];
    const dog = startWatchdog(probesFor(gone), { intervalMs: 20, report: (l) => lines.push(l) });
    await expect.poll(() => lines.length, { timeout: 5_000 }).toBeGreaterThan(0);
    await dog.stop();
    expect(lines.every((l) => l.startsWith('[testbed] Pebble did not answer'))).toBe(true);
    expect(lines[0]).toContain('ECONNREFUSED');
  });
});
