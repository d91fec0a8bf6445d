/**
 * Every in-memory counterpart, wired to one clock and one seeded random source:
 * what the flow's unit tests and the lifecycle simulator (issue 13) start from.
 *
 *   const world = createFakeWorld({ start: '2027-01-01T00:00:00Z', seed: 1 });
 *   world.clock.advanceHours(6);            // every fake sees the new time
 *   world.ca.faults.outages.push({ start, end });
 *   world.dns.faults.failurePercent = 5;
 *   world.fastly.faults.failurePercent = 5;
 */
import { TestClock } from './clock.js';
import { MemoryCa, type MemoryCaOptions } from './memory-ca.js';
import { MemoryDns } from './memory-dns.js';
import { MemoryFastly, type MemoryFastlyOptions } from './memory-fastly.js';
import { MemorySecretsStore } from './memory-secrets.js';
import { fastlyProbe } from './probe.js';
import { seededRandom } from './random.js';
import { RecordingNotifier } from './recording-notifier.js';

export interface FakeWorldOptions {
  start?: Date | string;
  /** Seeds every fault draw; default 1. */
  seed?: number;
  ca?: Omit<MemoryCaOptions, 'clock' | 'dns' | 'random'>;
  fastly?: Omit<MemoryFastlyOptions, 'clock' | 'random'>;
  /** Slack's pace for the notifier; default 1000 ms. */
  notifierMinIntervalMs?: number;
}

export function createFakeWorld(options: FakeWorldOptions = {}) {
  const clock = new TestClock(options.start ?? '2027-01-01T00:00:00Z');
  const random = seededRandom(options.seed ?? 1);
  const dns = new MemoryDns({ clock, random });
  const ca = new MemoryCa({ clock, dns, random, ...options.ca });
  const fastly = new MemoryFastly({ clock, random, ...options.fastly });
  const secrets = new MemorySecretsStore({ clock, random });
  const notifier = new RecordingNotifier({ clock, ...(options.notifierMinIntervalMs === undefined ? {} : { minIntervalMs: options.notifierMinIntervalMs }) });
  return { clock, random, dns, publisher: dns.publisher(), ca, fastly, secrets, notifier, probe: fastlyProbe(fastly, clock) };
}

export type FakeWorld = ReturnType<typeof createFakeWorld>;
