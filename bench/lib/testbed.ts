// The bench's own testbed: BIND9 with the bench zones (b001.test ...), Pebble
// (PEBBLE_AUTHZREUSE=0, validating against that BIND) and, when a stage needs
// it, PostgreSQL. All under one temp directory with a PID registry, started and
// stopped by test/testbed/services.ts (every process by its PID, also on
// failure and Ctrl-C through that module's exit handlers).
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import acme from 'acme-client';
import {
  createTestbedDir,
  destroyTestbedDir,
  startBind,
  startPebble,
  startPostgres,
  type BindService,
  type PebbleService,
  type PostgresService,
} from '../../test/testbed/services.js';
import { log, ms, zoneNames } from './util.js';

export interface BenchTestbed {
  dir: string;
  zones: string[];
  bind: BindService;
  pebble: PebbleService;
  postgres: PostgresService | undefined;
  /** PEM of the CA behind Pebble's HTTPS endpoint. */
  pebbleCaPem: string;
  startupMs: number;
  stop(): Promise<void>;
}

export async function startBenchTestbed(n: number, withPostgres: boolean): Promise<BenchTestbed> {
  const t0 = performance.now();
  const dir = createTestbedDir();
  const zones = zoneNames(n);
  try {
    const bindP = startBind({ dir, zones });
    const pebbleP = bindP.then((bind) => startPebble({ dir, dnsServer: `${bind.host}:${bind.port}`, env: { PEBBLE_AUTHZREUSE: '0' } }));
    const postgresP = withPostgres ? startPostgres({ dir }) : Promise.resolve(undefined);
    const settled = await Promise.allSettled([bindP, pebbleP, postgresP]);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const [bind, pebble, postgres] = await Promise.all([bindP, pebbleP, postgresP]);
    const pebbleCaPem = readFileSync(pebble.caCertPath, 'utf8');
    // acme-client (bare loop, account registration) runs in this process, which
    // started before Pebble's CA existed: trust it through acme-client's axios.
    // One secure context for every connection (with a `ca` option, each new TLS
    // connection would build its own: 70% of the bare loop's CPU in a profile).
    acme.axios.defaults.httpsAgent = new https.Agent({ keepAlive: true, secureContext: createSecureContext({ ca: pebbleCaPem }) });
    const startupMs = ms(t0);
    log(`testbed up in ${Math.round(startupMs)} ms: BIND 127.0.0.1:${bind.port} (${zones.length} zones), Pebble ${pebble.directoryUrl}${postgres ? `, PostgreSQL 127.0.0.1:${postgres.port}` : ''}`);
    return { dir, zones, bind, pebble, postgres, pebbleCaPem, startupMs, stop: () => destroyTestbedDir(dir) };
  } catch (error) {
    await destroyTestbedDir(dir);
    throw error;
  }
}
