// Stage 2: the bare limit. A minimal acme-client loop in this process: new key
// and CSR, order (apex + wildcard), one TXT record set via AutoTLS's own RFC2136
// plugin (src/dns/rfc2136.ts, TSIG-signed update over TCP to BIND), respond to
// both challenges, poll, finalize, download, remove the record. No database,
// no secrets store, no upload, no propagation check (BIND applies an update
// before it answers it), no retries beyond acme-client's own.
import acme from 'acme-client';
import { Rfc2136Provider } from '../../src/dns/rfc2136.js';
import { createLogger } from '../../src/logger.js';
import type { BenchTestbed } from './testbed.js';
import { cpuDelta, cpuSnapshot, type CpuAccount } from './cpu.js';
import { errorText, ms, pool } from './util.js';

export interface BareResult {
  stage: 'bare';
  concurrency: number;
  n: number;
  wallMs: number;
  certsPerSecond: number;
  succeeded: number;
  failed: string[];
  /** CPU time (user+sys, ms) per process during the loop (bench = the loop itself). */
  cpu: CpuAccount;
}

export async function runBare(tb: BenchTestbed, concurrency: number): Promise<BareResult> {
  const dns = new Rfc2136Provider(
    { nameserver: `${tb.bind.host}:${tb.bind.port}`, tsigKeyName: tb.bind.tsigKeyName, tsigSecret: tb.bind.tsigSecret, tsigAlgorithm: 'hmac-sha256.' },
    createLogger({ level: 'silent' }),
  );
  // Status polling: 50 ms, doubling, capped at 1 s (acme-client's default starts at 5 s).
  const client = new acme.Client({
    directoryUrl: tb.pebble.directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey(),
    backoffAttempts: 30,
    backoffMin: 50,
    backoffMax: 1000,
  });
  await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:bench@example.test'] });

  const issueOne = async (domain: string): Promise<void> => {
    const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain, `*.${domain}`] }, await acme.crypto.createPrivateEcdsaKey());
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: domain }, { type: 'dns', value: `*.${domain}` }] });
    const authorizations = await client.getAuthorizations(order);
    const challenges = authorizations.map((a) => {
      const c = a.challenges.find((ch) => ch.type === 'dns-01');
      if (!c) throw new Error(`no dns-01 challenge for ${a.identifier.value}`);
      return c;
    });
    const values = await Promise.all(challenges.map((c) => client.getChallengeKeyAuthorization(c)));
    const fqdn = `_acme-challenge.${domain}`;
    await dns.addTxt(domain, fqdn, values);
    try {
      for (const c of challenges) await client.completeChallenge(c);
      await Promise.all(authorizations.map((a) => client.waitForValidStatus(a)));
      await client.finalizeOrder(order, csr);
      const valid = await client.waitForValidStatus(order);
      const pem = await client.getCertificate(valid);
      if (!pem.includes('BEGIN CERTIFICATE')) throw new Error('no certificate downloaded');
    } finally {
      await dns.removeTxt(domain, fqdn, values);
    }
  };

  const failed: string[] = [];
  const cpu0 = cpuSnapshot(tb);
  const t0 = performance.now();
  await pool(tb.zones, concurrency, async (domain) => {
    try {
      await issueOne(domain);
    } catch (error) {
      failed.push(`${domain}: ${errorText(error)}`);
    }
  });
  const wallMs = ms(t0);
  const cpu = cpuDelta(cpu0, cpuSnapshot(tb));
  const succeeded = tb.zones.length - failed.length;
  return { stage: 'bare', concurrency, n: tb.zones.length, wallMs, certsPerSecond: (succeeded / wallMs) * 1000, succeeded, failed, cpu };
}
