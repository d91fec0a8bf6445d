// Stage 3: certbot (Debian 2.1.0) with python3-certbot-dns-rfc2136, tuned to
// 0 s propagation. N lineages are obtained first (one `certonly` per lineage,
// timed separately), then ONE `certbot renew --force-renewal` over all of them
// is the timed figure.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../test/testbed/process.js';
import type { BenchTestbed } from './testbed.js';
import { cpuDelta, cpuSnapshot, type CpuAccount } from './cpu.js';
import { errorText, log, ms } from './util.js';

export interface CertbotResult {
  stage: 'certbot';
  n: number;
  /** Sum of the N sequential `certbot certonly` runs (not the compared figure). */
  obtainMs: number;
  /** The one `certbot renew --force-renewal` over N lineages: the compared figure. */
  wallMs: number;
  certsPerSecond: number;
  succeeded: number;
  failed: string[];
  /** CPU time (user+sys, ms) per process during the renew (clients = certbot). */
  cpu: CpuAccount;
}

export async function runCertbot(tb: BenchTestbed): Promise<CertbotResult> {
  const dir = mkdtempSync(path.join(tb.dir, 'certbot-'));
  const paths = ['config', 'work', 'logs'].map((p) => path.join(dir, p));
  for (const p of paths) mkdirSync(p, { recursive: true });
  const [configDir, workDir, logsDir] = paths as [string, string, string];
  const ini = path.join(dir, 'rfc2136.ini');
  writeFileSync(ini, [
    `dns_rfc2136_server = ${tb.bind.host}`,
    `dns_rfc2136_port = ${tb.bind.port}`,
    `dns_rfc2136_name = ${tb.bind.tsigKeyName}`,
    `dns_rfc2136_secret = ${tb.bind.tsigSecret}`,
    'dns_rfc2136_algorithm = HMAC-SHA256',
    '',
  ].join('\n'), { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', REQUESTS_CA_BUNDLE: tb.pebble.caCertPath };
  const common = ['--non-interactive', '--config-dir', configDir, '--work-dir', workDir, '--logs-dir', logsDir, '--server', tb.pebble.directoryUrl];
  const certbot = (args: string[], timeoutMs: number) => run('certbot', [...args, ...common], { env, cwd: dir, timeoutMs });

  // --no-eff-email: certbot would otherwise offer to subscribe the address at eff.org.
  await certbot(['register', '--agree-tos', '--no-eff-email', '-m', 'bench@example.test'], 120_000);
  const failed: string[] = [];
  const t0 = performance.now();
  for (const [i, domain] of tb.zones.entries()) {
    try {
      await certbot([
        'certonly', '--authenticator', 'dns-rfc2136', '--dns-rfc2136-credentials', ini, '--dns-rfc2136-propagation-seconds', '0',
        '--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1', '--cert-name', domain, '-d', domain, '-d', `*.${domain}`,
      ], 300_000);
    } catch (error) {
      failed.push(`${domain} (certonly): ${errorText(error).slice(0, 300)}`);
    }
    if ((i + 1) % 10 === 0) log(`certbot: ${i + 1}/${tb.zones.length} lineages obtained`);
  }
  const obtainMs = ms(t0);
  log(`certbot: ${tb.zones.length} lineages in ${Math.round(obtainMs / 1000)} s; timing one renew --force-renewal`);

  const cpu0 = cpuSnapshot(tb);
  const r0 = performance.now();
  let renewError: string | undefined;
  try {
    await certbot(['renew', '--force-renewal', '--no-random-sleep-on-renew'], 3_600_000);
  } catch (error) {
    renewError = errorText(error).slice(-600);
  }
  const wallMs = ms(r0);
  const cpu = cpuDelta(cpu0, cpuSnapshot(tb));
  // A renewed lineage has a second certificate in its archive.
  const renewed = tb.zones.filter((d) => existsSync(path.join(configDir, 'archive', d, 'cert2.pem')));
  for (const d of tb.zones) if (!renewed.includes(d)) failed.push(`${d}: not renewed`);
  if (renewError) failed.push(`renew: ${renewError}`);
  return { stage: 'certbot', n: tb.zones.length, obtainMs, wallMs, certsPerSecond: (renewed.length / wallMs) * 1000, succeeded: renewed.length, failed, cpu };
}
