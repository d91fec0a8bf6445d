// Stage 4: lego (Debian 4.9.1) with the rfc2136 provider, tuned (no polling or
// sequence intervals, no complete-propagation wait), one process per
// certificate, sequential, as a cron job runs it. The account is registered by
// an untimed warm-up run first.
import { existsSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../test/testbed/process.js';
import type { BenchTestbed } from './testbed.js';
import { cpuDelta, cpuSnapshot, type CpuAccount } from './cpu.js';
import { errorText, log, ms } from './util.js';

export interface LegoResult {
  stage: 'lego';
  n: number;
  wallMs: number;
  certsPerSecond: number;
  succeeded: number;
  failed: string[];
  /** Slowest and fastest single process, ms. */
  maxMs: number;
  minMs: number;
  /** CPU time (user+sys, ms) per process (clients = the lego processes). */
  cpu: CpuAccount;
}

export async function runLego(tb: BenchTestbed): Promise<LegoResult> {
  const dir = mkdtempSync(path.join(tb.dir, 'lego-'));
  const legoPath = path.join(dir, '.lego');
  const bind = `${tb.bind.host}:${tb.bind.port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    LEGO_CA_CERTIFICATES: tb.pebble.caCertPath,
    RFC2136_NAMESERVER: bind,
    RFC2136_TSIG_KEY: tb.bind.tsigKeyName,
    RFC2136_TSIG_SECRET: tb.bind.tsigSecret,
    RFC2136_TSIG_ALGORITHM: 'hmac-sha256.',
    RFC2136_POLLING_INTERVAL: '0',
    RFC2136_SEQUENCE_INTERVAL: '0',
    RFC2136_PROPAGATION_TIMEOUT: '60',
  };
  const lego = (domain: string) =>
    run('lego', [
      '--server', tb.pebble.directoryUrl, '--accept-tos', '--email', 'bench@example.test', '--path', legoPath, '--key-type', 'ec256',
      '--dns', 'rfc2136', '--dns.resolvers', bind, '--dns.disable-cp',
      '-d', domain, '-d', `*.${domain}`, 'run',
    ], { env, cwd: dir, timeoutMs: 600_000 });

  const first = tb.zones[0] as string;
  await lego(first); // warm-up: registers the account (untimed)
  const failed: string[] = [];
  const times: number[] = [];
  const cpu0 = cpuSnapshot(tb);
  const t0 = performance.now();
  for (const [i, domain] of tb.zones.entries()) {
    const s = performance.now();
    try {
      await lego(domain);
      if (!existsSync(path.join(legoPath, 'certificates', `${domain}.crt`))) failed.push(`${domain}: no certificate file`);
    } catch (error) {
      failed.push(`${domain}: ${errorText(error).slice(-300)}`);
    }
    times.push(ms(s));
    if ((i + 1) % 10 === 0) log(`lego: ${i + 1}/${tb.zones.length} certificates`);
  }
  const wallMs = ms(t0);
  const cpu = cpuDelta(cpu0, cpuSnapshot(tb));
  const succeeded = tb.zones.length - failed.length;
  return { stage: 'lego', n: tb.zones.length, wallMs, certsPerSecond: (succeeded / wallMs) * 1000, succeeded, failed, maxMs: Math.max(...times), minMs: Math.min(...times), cpu };
}
