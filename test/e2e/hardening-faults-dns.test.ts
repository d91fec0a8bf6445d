// Fault injection at the CA and at DNS, on a BIND and Pebbles of this file's own
// (so stopping BIND breaks no other test file): a Pebble that rejects 30% of
// nonces, and BIND stopped in the middle of a run, then restarted on the same
// port with the same configuration. After each fault is cleared, one more run
// completes everything without a second order for any domain (an order the
// failed run created is resumed) and no `_acme-challenge` record is left behind.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { loadSettings } from '../../src/config/index.js';
import { createChallengePublisher, createDnsProvider, type ChallengePublisher } from '../../src/dns/index.js';
import { createLogger } from '../../src/logger.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { dnsQuery, queryTxt } from '../testbed/dns.js';
import { requireBinary, spawnManaged, waitUntil, type ManagedProcess } from '../testbed/process.js';
import { startBind, startPebble, type BindService, type PebbleService } from '../testbed/services.js';
import { ACCOUNT_SECRET, baseEnv, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';

const NONCE_ZONES = ['n1.test', 'n2.test', 'n3.test'];
const STOP_ZONES = ['b1.test', 'b2.test', 'b3.test'];

let bind: BindService;
let restarted: ManagedProcess | undefined;
const pebbles: PebbleService[] = [];
const deployments: SharedDeployment[] = [];
const harnesses: Harness[] = [];

beforeAll(async () => {
  // The testbed dir: its Pebble HTTPS CA is the one NODE_EXTRA_CA_CERTS trusts, and
  // its PID registry cleans up after a crash.
  bind = await startBind({ dir: inject('testbed').dir, zones: [...NONCE_ZONES, ...STOP_ZONES] });
}, 60_000);

afterAll(async () => {
  for (const h of harnesses) await h.stop().catch(() => undefined);
  for (const d of deployments) await stopDeployment(d).catch(() => undefined);
  for (const p of pebbles) await p.stop();
  await restarted?.stop();
  await bind?.stop();
});

/** Env pointing a deployment at this file's BIND and the given Pebble. */
function ownEnv(pebble: PebbleService, extra: Record<string, string> = {}): Record<string, string> {
  const dns = `${bind.host}:${bind.port}`;
  return {
    LE_DIRECTORY_URL: pebble.directoryUrl,
    RFC2136_NAMESERVER: dns,
    DNS_RESOLVERS: dns,
    RFC2136_TSIG_KEY: bind.tsigKeyName,
    RFC2136_TSIG_SECRET: bind.tsigSecret,
    CONCURRENCY: '1',
    DNS_PROPAGATION_TIMEOUT: '10',
    ...extra,
  };
}

/** A deployment whose ACME account lives on `pebble`. */
async function deploymentOn(pebble: PebbleService): Promise<SharedDeployment> {
  const shared = await createDeployment();
  deployments.push(shared);
  const registered = await AcmeIssuer.register({ directoryUrl: pebble.directoryUrl, email: 'hardening@example.test' });
  await new FileSecretsStore(shared.secretsDir).put(ACCOUNT_SECRET, JSON.stringify(registered.accountKeyJwk));
  return shared;
}

async function challenges(domain: string): Promise<string[]> {
  return queryTxt(bind.host, bind.port, `_acme-challenge.${domain}`);
}

async function orderCounts(h: Harness, domains: string[]): Promise<Record<string, number>> {
  const db = h.components.database.client;
  return Object.fromEntries(await Promise.all(domains.map(async (d) => [d, await db.acmeOrder.count({ where: { domain: d } })] as const)));
}

/** Bulk certificates the Fastly fake holds per domain: the certificates that went live. */
function liveCertificates(h: Harness, domains: string[]): Record<string, number> {
  return Object.fromEntries(domains.map((d) => [d, [...h.shared.fastly.certs.values()].filter((c) => c.domains.includes(d)).length]));
}

/** Time passes: the backoff that failures set has run out (its length is tested elsewhere). */
async function expireBackoff(h: Harness): Promise<void> {
  await h.components.database.client.domainState.updateMany({ data: { backoffUntil: null } });
}

describe('Pebble rejecting 30% of nonces', () => {
  it('still issues every certificate, one order each', async () => {
    const pebble = await startPebble({ dir: inject('testbed').dir, dnsServer: `${bind.host}:${bind.port}`, env: { PEBBLE_WFE_NONCEREJECT: '30' } });
    pebbles.push(pebble);
    const shared = await deploymentOn(pebble);
    const h = await startHarness({ shared, env: ownEnv(pebble) });
    harnesses.push(h);
    for (const d of NONCE_ZONES) await h.addDomain(d);

    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.results.map((r) => r.outcome)).toEqual(['issued', 'issued', 'issued']);
    expect(await orderCounts(h, NONCE_ZONES)).toEqual({ 'n1.test': 1, 'n2.test': 1, 'n3.test': 1 });
    expect(liveCertificates(h, NONCE_ZONES)).toEqual({ 'n1.test': 1, 'n2.test': 1, 'n3.test': 1 });
    for (const d of NONCE_ZONES) expect(await challenges(d)).toEqual([]);
    // The CA did reject nonces (answered 400 badNonce) and every rejection was retried.
    const metrics = await h.components.metrics.acmeRequests.get();
    const rejected = metrics.values.filter((v) => v.labels.status === '400').reduce((n, v) => n + v.value, 0);
    expect(rejected).toBeGreaterThan(0);
  });
});

describe('BIND stopped in the middle of a run', () => {
  it('fails the affected domains cleanly; after a restart on the same port one more run completes them', async () => {
    const pebble = await startPebble({ dir: inject('testbed').dir, dnsServer: `${bind.host}:${bind.port}` });
    pebbles.push(pebble);
    const shared = await deploymentOn(pebble);
    const env = ownEnv(pebble);

    // The real publisher, wrapped: BIND goes down right after the first order exists
    // (clearStale is the first DNS step after the order is created).
    const settings = loadSettings({ ...baseEnv(shared), ...env });
    const quiet = createLogger({ level: 'silent' });
    const real = createChallengePublisher(settings, createDnsProvider(settings, quiet), quiet);
    let stoppedAt: string | undefined;
    const publisher: ChallengePublisher = {
      clearStale: async (domain, zone) => {
        if (!stoppedAt) {
          stoppedAt = domain;
          await bind.stop();
        }
        return real.clearStale(domain, zone);
      },
      publish: (domain, zone, values) => real.publish(domain, zone, values),
      cleanup: (published) => real.cleanup(published),
    };
    const h = await startHarness({ shared, env, compose: { overrides: { publisher } } });
    harnesses.push(h);
    for (const d of STOP_ZONES) await h.addDomain(d);

    const started = Date.now();
    const failed = await h.run('/process');
    expect(Date.now() - started).toBeLessThan(60_000); // bounded: DNS calls time out and retry a bounded number of times
    expect(failed.status).toBe(502);
    expect(failed.doc.status).toBe('failed');
    expect(stoppedAt).toBe(failed.doc.results[0]?.domain);
    for (const r of failed.doc.results) {
      expect(r.outcome, r.domain).toBe('failed');
      expect(r.errors.join(' '), r.domain).toMatch(/RFC2136|DNS|ECONNREFUSED|connect/i);
    }
    const ordersAfterFault = await orderCounts(h, STOP_ZONES);
    expect(h.shared.fastly.certs.size).toBe(0);
    expect(await h.components.database.client.tls.count()).toBe(0);

    // Restart BIND with the same configuration (zones, TSIG key, port, journal).
    restarted = spawnManaged({
      dir: inject('testbed').dir,
      name: 'named',
      command: requireBinary('named', 'apt-get install -y bind9'),
      args: ['-g', '-4', '-c', join(bind.dir, 'named.conf')],
      cwd: bind.dir,
      logPath: join(bind.dir, 'named-restarted.log'),
    });
    await waitUntil('named restarted', async () => (await dnsQuery(bind.host, bind.port, 'b1.test', 'SOA', 500)).rcode === 'NOERROR', {
      timeoutMs: 30_000,
      proc: restarted,
    });

    await expireBackoff(h);
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc.results)).toBe(200);
    expect(doc.results.map((r) => r.outcome)).toEqual(['issued', 'issued', 'issued']);
    // No second order: each order the failed run created (its key stored first) is
    // resumed and completed.
    expect(ordersAfterFault).toEqual({ 'b1.test': 1, 'b2.test': 1, 'b3.test': 1 });
    expect(await orderCounts(h, STOP_ZONES)).toEqual(ordersAfterFault);
    for (const r of doc.results) expect(r.messages.join(' '), r.domain).toMatch(/Resumed the ACME order a previous run left unfinished/);
    expect(liveCertificates(h, STOP_ZONES)).toEqual({ 'b1.test': 1, 'b2.test': 1, 'b3.test': 1 });
    for (const d of STOP_ZONES) expect(await challenges(d), d).toEqual([]);
  });
});
