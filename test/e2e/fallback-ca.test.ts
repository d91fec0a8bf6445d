// The fallback CA (issue 16 item 2) end to end, with two Pebbles of this file's
// own: A is LE_DIRECTORY_URL, B is ACME_FALLBACK_DIRECTORY_URL, its account
// registered with `autotls account create --fallback`. A is reached through a TCP
// forwarder that the test closes and opens again: Pebble keeps its accounts and
// certificates in memory only, so a Pebble stopped and started again would know
// neither the account nor the certificate; closing the forwarder (connections
// refused, open ones cut) is the outage as AutoTLS sees it, and opening it again
// is "the first is up again" with its state intact.
// HTTP /process, BIND (RFC2136), SQLite, the file secrets store, the Fastly and
// Slack fakes. Names fb-*.z05.test (z05 is reserved for the testbed and used by no
// other test).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../testbed/context.js';
import { fetchPebbleRoot, splitPem } from '../testbed/helpers.js';
import { httpsGet, startPebble, type PebbleService } from '../testbed/services.js';
import { readCertificate } from '../../src/certificates/x509.js';
import { AcmeIssuer } from '../../src/certificates/acme.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { LETS_ENCRYPT_ISSUER } from '../../src/domains/repository.js';
import { ACCOUNT_SECRET, baseEnv, challengeRecords, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';
import { ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';

const tb = inject('testbed');
const ZONE = 'z05.test';
const DOMAIN = 'fb-main.z05.test';
const FALLBACK_SECRET = 'acme/fallback-account-key';
const DAY = 86_400_000;

/** A TCP forwarder to 127.0.0.1:`target` on a port of its own that can be closed and opened again. */
interface Forwarder {
  port: number;
  close(): Promise<void>;
  open(): Promise<void>;
}

async function startForwarder(target: number): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    async close() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    open: listen,
  };
}

let pebbleA: PebbleService;
let pebbleB: PebbleService;
let forwarder: Forwarder;
let primaryUrl: string;
let shared: SharedDeployment;
let h: Harness;
let accountCreate: { code: number; stdout: string; stderr: string };

const env = () => ({ LE_DIRECTORY_URL: primaryUrl, ACME_FALLBACK_DIRECTORY_URL: pebbleB.directoryUrl, ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME: FALLBACK_SECRET });
const db = () => h.components.database.client;
const stateOf = (domain: string) => db().domainState.findFirstOrThrow({ where: { domain: { name: domain } } });
const secrets = () => new FileSecretsStore(shared.secretsDir);
const chainOf = async (domain: string) => splitPem((await secrets().get(`pem-secret/${domain}/fullchain`)) ?? '').map((p) => new X509Certificate(p));

/** Whether the stored chain of `domain` ends at the root of `pebble`. */
async function chainsTo(domain: string, pebble: PebbleService): Promise<boolean> {
  const root = new X509Certificate(await fetchPebbleRoot(pebble));
  const chain = await chainOf(domain);
  const top = chain[chain.length - 1] as X509Certificate;
  return top.checkIssued(root) && top.verify(root.publicKey);
}

/** Pebble's status of a serial (management API; Go's %x of the big.Int, no leading zeros). */
async function pebbleStatus(pebble: PebbleService, serial: string): Promise<{ status: number; state?: string }> {
  const res = await httpsGet(`${pebble.managementUrl}/cert-status-by-serial/${serial.replace(/^0+/, '')}`, readFileSync(pebble.caCertPath));
  return { status: res.status, ...(res.status === 200 ? { state: (JSON.parse(res.body) as { Status: string }).Status } : {}) };
}

/** The certificate is 5 days from the end of its 90 (within a sixth of its lifetime), and due. */
async function closeToExpiry(domain: string): Promise<void> {
  const now = Date.now();
  const row = await db().domain.findUniqueOrThrow({ where: { name: domain } });
  await db().domainState.update({
    where: { domainId: row.id },
    data: { certNotBefore: new Date(now - 85 * DAY), certNotAfter: new Date(now + 5 * DAY), nextRenewalAt: new Date(now - 60_000), ariCheckAfter: new Date(now + DAY) },
  });
  await db().domain.update({ where: { id: row.id }, data: { tlsExpDate: new Date(now + 5 * DAY) } });
}

beforeAll(async () => {
  ensureBuilt();
  const dnsServer = `${tb.dns.host}:${tb.dns.port}`;
  [pebbleA, pebbleB] = await Promise.all([startPebble({ dir: tb.dir, dnsServer }), startPebble({ dir: tb.dir, dnsServer })]);
  forwarder = await startForwarder(pebbleA.port);
  primaryUrl = `https://127.0.0.1:${forwarder.port}/dir`;
  shared = await createDeployment('sqlite', { registerAccount: false });
  const primary = await AcmeIssuer.register({ directoryUrl: primaryUrl, email: 'fb-primary@example.test' });
  await secrets().put(ACCOUNT_SECRET, JSON.stringify(primary.accountKeyJwk));
  // The fallback account, as an operator creates it.
  accountCreate = await runCli(['account', 'create', '--fallback', '--email', 'fb-fallback@example.test', '--json'], { ...baseEnv(shared), ...env(), LOG_LEVEL: 'warn' }, shared.dir);
  h = await startHarness({ shared, env: env() });
}, 180_000);

afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
  await forwarder?.close();
  await pebbleA?.stop();
  await pebbleB?.stop();
});

describe('a second CA (fallback) against two Pebbles', () => {
  it('autotls account create --fallback registers at ACME_FALLBACK_DIRECTORY_URL and stores the key under ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME', async () => {
    expect(accountCreate.code, show(accountCreate)).toBe(0);
    const out = jsonOf<{ accountUrl: string; secretName: string }>(accountCreate);
    expect(out.secretName).toBe(FALLBACK_SECRET);
    expect(new URL(out.accountUrl).port).toBe(String(pebbleB.port));
    expect(await secrets().get(FALLBACK_SECRET)).toMatch(/"kty"/);
    // The primary's key was left alone.
    expect(await secrets().get(ACCOUNT_SECRET)).not.toBe(await secrets().get(FALLBACK_SECRET));
    // Again: the key is never overwritten (1). Without a fallback configured: usage (2).
    const cliEnv = { ...baseEnv(shared), LOG_LEVEL: 'warn' };
    const [again, unset] = await Promise.all([
      runCli(['account', 'create', '--fallback', '--email', 'fb-fallback@example.test'], { ...cliEnv, ...env() }, shared.dir),
      runCli(['account', 'create', '--fallback', '--email', 'fb-fallback@example.test'], cliEnv, shared.dir),
    ]);
    expect(again.code, show(again)).toBe(1);
    expect(again.stderr).toContain(`Secret ${FALLBACK_SECRET} already holds an account key; refusing to overwrite it`);
    expect(unset.code, show(unset)).toBe(2);
    expect(unset.stderr).toContain('Set ACME_FALLBACK_DIRECTORY_URL and ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME to register at the fallback CA');
  });

  it('with the first stopped, /process issues from the second for a certificate close to expiry; the record says so; the next renewal goes back to the first', async () => {
    await h.addDomain(DOMAIN, ZONE);
    const first = await h.run(`/single/${DOMAIN}`);
    expect(first.status, JSON.stringify(first.doc)).toBe(200);
    expect(first.doc.results[0]).toMatchObject({ domain: DOMAIN, outcome: 'issued' });
    expect(await stateOf(DOMAIN)).toMatchObject({ certCa: primaryUrl });
    expect(await chainsTo(DOMAIN, pebbleA)).toBe(true);

    // The first CA goes away; the certificate has 5 days left.
    await closeToExpiry(DOMAIN);
    await forwarder.close();
    // The dry run checks both CAs: the primary's lookup fails (named), the fallback's account is found.
    const dry = await h.request('/process?dryrun=1');
    expect(dry.status).toBe(502);
    const caChecks = ((await dry.json()) as { checks: Array<{ name: string; status: string; message: string }> }).checks.filter((c) => c.name === 'ca');
    expect(caChecks.map((c) => c.status)).toEqual(['failed', 'ok']);
    expect(caChecks[0]?.message).toContain(`looking up the ACME account at ${primaryUrl}`);
    expect(caChecks[1]?.message).toContain(`fallback CA (ACME_FALLBACK_DIRECTORY_URL): looking up the ACME account at ${pebbleB.directoryUrl}: the account exists`);
    const postsBefore = shared.slack.delivered().length;
    const outage = await h.run('/process');
    expect(outage.status, JSON.stringify(outage.doc)).toBe(200);
    const result = outage.doc.results.find((r) => r.domain === DOMAIN);
    expect(result, JSON.stringify(outage.doc)).toMatchObject({ outcome: 'renewed', errors: [] });
    const text = result!.messages.join('\n');
    expect(text).toMatch(/Ordering from the fallback CA .*: the primary CA cannot issue now \(unreachable: .*ECONNREFUSED.*\); no order was created at the primary/);
    expect(text).toContain(`Issued by the fallback CA (${pebbleB.directoryUrl})`);

    // The record: which CA issued it, in AutoTLS's state; tls_issuer still marks it as AutoTLS's own.
    const afterOutage = await stateOf(DOMAIN);
    const fromB = (await chainOf(DOMAIN))[0] as X509Certificate;
    expect(afterOutage).toMatchObject({ phase: 'recorded', certCa: pebbleB.directoryUrl, orderCa: pebbleB.directoryUrl, failureCount: 0 });
    expect(afterOutage.certSerial?.replace(/^0+/, '')).toBe(fromB.serialNumber.toLowerCase().replace(/^0+/, ''));
    expect(await chainsTo(DOMAIN, pebbleB)).toBe(true);
    expect(await chainsTo(DOMAIN, pebbleA)).toBe(false);
    const domainRow = await db().domain.findUniqueOrThrow({ where: { name: DOMAIN } });
    expect(domainRow.tlsIssuer).toBe(LETS_ENCRYPT_ISSUER);
    expect(domainRow.tlsExpDate?.toISOString()).toBe(new Date(fromB.validTo).toISOString());
    // Fastly serves it, and no challenge record is left.
    expect(shared.fastly.servingCertificate(DOMAIN)?.certPem).toContain(fromB.toString().split('\n')[1]);
    expect(await challengeRecords(DOMAIN)).toEqual([]);

    // Slack and the metrics say the fallback was used.
    const posts = await shared.slack.waitForPosts(postsBefore + 1);
    expect(posts.slice(postsBefore).map((p) => p.text ?? '').join('\n')).toMatch(/1 from the fallback CA/);
    const metrics = await (await h.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(/^autotls_fallback_issuance_total\{reason="unreachable"\} 1$/m);
    // `autotls ari refresh` asks the CA that issued the certificate: the fallback, the first still being down.
    const ari = await runCli(['ari', 'refresh', DOMAIN, '--json'], { ...h.env, LOG_LEVEL: 'warn' }, shared.dir);
    expect(ari.code, show(ari)).toBe(0);
    // `autotls status --json` names the CA.
    const status = await runCli(['status', '--json'], { ...h.env, LOG_LEVEL: 'warn' }, shared.dir);
    expect(status.code, show(status)).toBe(0);
    expect(jsonOf<Array<{ domain: string; issuer: string; ca: string | null }>>(status).find((d) => d.domain === DOMAIN)).toMatchObject({ issuer: LETS_ENCRYPT_ISSUER, ca: pebbleB.directoryUrl });

    // A run that finds nothing due leaves the fallback's certificate alone: it is not foreign.
    const quiet = await h.run('/process');
    expect(quiet.doc.results.filter((r) => r.domain === DOMAIN && r.outcome !== 'skipped')).toEqual([]);
    expect((await stateOf(DOMAIN)).certSerial).toBe(afterOutage.certSerial);

    // The first CA is up again: the next renewal goes to it.
    await forwarder.open();
    await db().domainState.update({ where: { domainId: domainRow.id }, data: { nextRenewalAt: new Date(Date.now() - 60_000) } });
    const back = await h.run('/process');
    expect(back.status, JSON.stringify(back.doc)).toBe(200);
    const renewed = back.doc.results.find((r) => r.domain === DOMAIN);
    expect(renewed, JSON.stringify(back.doc)).toMatchObject({ outcome: 'renewed', errors: [] });
    expect(renewed!.messages.join('\n')).not.toContain('fallback');
    expect(await stateOf(DOMAIN)).toMatchObject({ phase: 'recorded', certCa: primaryUrl });
    expect(await chainsTo(DOMAIN, pebbleA)).toBe(true);
    // The order ledger names the CA of each order.
    expect((await db().acmeOrder.findMany({ where: { domain: DOMAIN, orderUrl: { not: null } }, orderBy: { id: 'asc' } })).map((o) => o.ca)).toEqual([primaryUrl, pebbleB.directoryUrl, primaryUrl]);
    expect(h.logLines.join('\n')).not.toContain('"d":"');
  });

  it('autotls revoke revokes a certificate the fallback issued at the fallback, and replaces it from the primary', async () => {
    const domain = 'fb-revoke.z05.test';
    await h.addDomain(domain, ZONE);
    expect((await h.run(`/single/${domain}`)).doc.results[0]).toMatchObject({ outcome: 'issued' });
    await closeToExpiry(domain);
    await forwarder.close();
    try {
      const outage = await h.run(`/single/${domain}`);
      expect(outage.doc.results[0], JSON.stringify(outage.doc)).toMatchObject({ outcome: 'renewed' });
    } finally {
      await forwarder.open();
    }
    expect(await stateOf(domain)).toMatchObject({ certCa: pebbleB.directoryUrl });
    const oldSerial = readCertificate(splitPem((await secrets().get(`pem-secret/${domain}/fullchain`)) as string)[0] as string).serial;
    expect(await pebbleStatus(pebbleB, oldSerial)).toEqual({ status: 200, state: 'Valid' });

    const result = await runCli(['revoke', domain, '--yes', '--json'], { ...h.env, LOG_LEVEL: 'warn' }, shared.dir);
    expect(result.code, show(result)).toBe(0);
    expect(jsonOf<{ revoked: boolean; replacement: { ok: boolean } }>(result)).toMatchObject({ revoked: true, replacement: { ok: true } });
    // Revoked where it was issued; the replacement came from the primary, which never knew the old certificate.
    expect(await pebbleStatus(pebbleB, oldSerial)).toEqual({ status: 200, state: 'Revoked' });
    expect((await pebbleStatus(pebbleA, oldSerial)).status).not.toBe(200);
    expect(await stateOf(domain)).toMatchObject({ certCa: primaryUrl });
    expect(await chainsTo(domain, pebbleA)).toBe(true);
  });
});
