/**
 * Watches the shared testbed while the integration suite runs. Every 15 s it asks
 * BIND for a zone's SOA, Pebble for its directory and PostgreSQL for `SELECT 1`,
 * each within 5 s. A service that does not answer is reported at once on stderr,
 * with the machine's load average and free disk, and again at teardown with the
 * last lines of its log. When tests time out together, the output then says
 * whether a service of the testbed stalled, or the machine did.
 */
import { statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import pg from 'pg';
import { dnsQuery } from './dns.js';
import type { TestbedInfo } from './context.js';
import { tail } from './process.js';
import { httpsGet } from './services.js';

export const PROBE_INTERVAL_MS = 15_000;
export const PROBE_TIMEOUT_MS = 5_000;

export interface Stall {
  service: string;
  at: string;
  cause: string;
  load: string;
  freeDisk: string;
}

export interface Probe {
  service: string;
  logPath?: string | undefined;
  ask(): Promise<unknown>;
}

export interface Watchdog {
  readonly stalls: readonly Stall[];
  /** Stops probing; returns the teardown report (empty when nothing stalled). */
  stop(): Promise<string>;
}

function withTimeout<T>(what: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([what, timeout]).finally(() => clearTimeout(timer));
}

function freeDisk(): string {
  try {
    const s = statfsSync(tmpdir());
    return `${((s.bavail * s.bsize) / 2 ** 30).toFixed(1)} GiB free in ${tmpdir()}`;
  } catch (error) {
    return `free disk unknown (${(error as Error).message})`;
  }
}

async function logTail(path: string | undefined): Promise<string> {
  return path ? tail(await readFile(path, 'utf8').catch(() => ''), 15) : '';
}

/** The probes of the testbed whose details `info` holds; `logs` name the logs to quote. */
export function probesFor(info: TestbedInfo, logs: { bind?: string; pebble?: string } = {}): Probe[] {
  const zone = info.dns.zones[0] ?? 'z01.test';
  return [
    {
      service: 'BIND',
      logPath: logs.bind,
      ask: async () => {
        const answer = await dnsQuery(info.dns.host, info.dns.port, zone, 'SOA', PROBE_TIMEOUT_MS);
        if (answer.rcode !== 'NOERROR') throw new Error(`SOA ${zone}: ${answer.rcode}`);
      },
    },
    {
      service: 'Pebble',
      logPath: logs.pebble,
      ask: async () => {
        const res = await httpsGet(info.pebble.directoryUrl, await readFile(info.pebble.caCertPath), PROBE_TIMEOUT_MS);
        if (res.status !== 200) throw new Error(`directory: HTTP ${res.status}`);
      },
    },
    {
      service: 'PostgreSQL',
      ask: async () => {
        const client = new pg.Client({ connectionString: info.postgres.adminUrl, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
        try {
          await client.connect();
          await client.query('SELECT 1');
        } finally {
          await client.end().catch(() => undefined);
        }
      },
    },
  ];
}

export function startWatchdog(probes: Probe[], options: { intervalMs?: number; timeoutMs?: number; report?: (line: string) => void } = {}): Watchdog {
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const stalls: Stall[] = [];
  /** The round in flight; a tick that finds one skips (a stalled service does not queue rounds). */
  let running: Promise<void> | undefined;
  const round = async (): Promise<void> => {
    await Promise.all(
      probes.map(async (probe) => {
        try {
          await withTimeout(probe.ask(), timeoutMs);
        } catch (error) {
          const stall: Stall = {
            service: probe.service,
            at: new Date().toISOString(),
            cause: error instanceof Error ? error.message : String(error),
            load: loadavg().map((l) => l.toFixed(2)).join(' '),
            freeDisk: freeDisk(),
          };
          stalls.push(stall);
          report(`[testbed] ${stall.service} did not answer at ${stall.at}: ${stall.cause} (load ${stall.load}; ${stall.freeDisk})`);
        }
      }),
    );
  };
  const timer = setInterval(() => {
    running ??= round().finally(() => {
      running = undefined;
    });
  }, options.intervalMs ?? PROBE_INTERVAL_MS);
  timer.unref();
  return {
    stalls,
    async stop() {
      clearInterval(timer);
      await running;
      if (stalls.length === 0) return '';
      const parts = [`[testbed] ${stalls.length} probe(s) of the testbed went unanswered during the suite:`];
      for (const s of stalls) parts.push(`  ${s.at} ${s.service}: ${s.cause} (load ${s.load}; ${s.freeDisk})`);
      for (const service of new Set(stalls.map((s) => s.service))) {
        const log = await logTail(probes.find((p) => p.service === service)?.logPath);
        if (log) parts.push(`[testbed] the end of ${service}'s log:\n${log}`);
      }
      return parts.join('\n');
    },
  };
}
