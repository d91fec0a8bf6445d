// `autotls revoke <domain> [--reason R]` through the real binary, against the
// testbed's Pebble (revokeCert with the account key, RFC 8555 §7.6), BIND and
// the Fastly fake. The CA's view of the old certificate is read from Pebble's
// management API (`/cert-status-by-serial/<serial>`), the old key's deletion from
// the Fastly fake's own records and request log. The confirmation on a terminal runs
// under util-linux `script` (a pseudo-terminal). Names rv-*.z19.test.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { readCertificate } from '../../src/certificates/x509.js';
import { httpsGet } from '../testbed/services.js';
import { hasPebble27, pebbleRenewalInfo, splitPem } from '../testbed/helpers.js';
import { challengeRecords, issueReplaceable, startHarness, type Harness } from './harness.js';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, ensureBuilt, jsonOf, runCli, show } from './cli-helpers.js';

const ZONE = 'z19.test';

interface Report {
  domain: string;
  reason: string;
  old: { serial: string };
  replacement: { ok: boolean; outcome: string | null; serial: string | null };
  revoked: boolean;
  error: string | null;
}

describe('autotls revoke against Pebble', () => {
  let h: Harness;
  beforeAll(async () => {
    ensureBuilt();
    h = await startHarness({ env: { CONCURRENCY: '2' } });
  }, 180_000);
  afterAll(async () => {
    await h?.stop();
  });

  const cli = (args: string[]) => runCli(args, { ...h.env, LOG_LEVEL: 'warn' }, h.shared.dir);
  const stateOf = (domain: string) => h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name: domain } } });
  const secrets = () => new FileSecretsStore(h.shared.secretsDir);
  const storedSerial = async (domain: string) => readCertificate(splitPem((await secrets().get(`pem-secret/${domain}/fullchain`)) as string)[0] as string).serial;
  /** The Fastly fake's record of the certificate serving `domain` (its key id included). */
  const servedRecord = (domain: string) => [...h.shared.fastly.certs.values()].find((c) => c.domains.includes(domain));
  const servedSerial = (domain: string) => {
    const served = h.shared.fastly.servingCertificate(domain);
    return served ? readCertificate(served.certPem).serial : undefined;
  };
  /** Pebble's status of a serial: its management API prints the serial as Go's %x of the big.Int (no leading zeros). */
  const pebbleStatus = async (serial: string): Promise<string> => {
    const pebble = inject('testbed').pebble;
    const res = await httpsGet(`${pebble.managementUrl}/cert-status-by-serial/${serial.replace(/^0+/, '')}`, readFileSync(pebble.caCertPath));
    expect(res.status, res.body).toBe(200);
    return (JSON.parse(res.body) as { Status: string }).Status;
  };
  const issue = async (domain: string) => {
    await h.addDomain(domain, ZONE);
    const { status, doc } = await h.run(`/single/${domain}`);
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
  };

  it('deploys the replacement at Fastly (the old key deleted there), then revokes the old certificate at the CA (superseded); exit 0', async () => {
    const domain = await issueReplaceable(h, 'rv-main', ZONE);
    const before = await stateOf(domain);
    const oldSerial = await storedSerial(domain);
    const oldPem = (await secrets().get(`pem-secret/${domain}/fullchain`)) as string;
    expect(servedSerial(domain)).toBe(oldSerial);
    expect(await pebbleStatus(oldSerial)).toBe('Valid');
    const oldKeyId = servedRecord(domain)?.keyId as string;
    expect(h.shared.fastly.keys.has(oldKeyId)).toBe(true);
    const requestsBefore = h.shared.fastly.requests.length;

    const result = await cli(['revoke', domain, '--yes', '--json']);
    expect(result.code, show(result)).toBe(0);
    const report = jsonOf<Report>(result);
    expect(report).toMatchObject({ domain, reason: 'superseded', revoked: true, error: null, old: { serial: oldSerial }, replacement: { ok: true, outcome: 'renewed' } });

    const newSerial = await storedSerial(domain);
    expect(newSerial).not.toBe(oldSerial);
    expect(report.replacement.serial).toBe(newSerial);
    // Fastly serves the replacement (replaced in place); the CA has revoked only the old one.
    expect(servedSerial(domain)).toBe(newSerial);
    expect(h.shared.fastly.requests.some((r) => r.method === 'DELETE' && r.path.startsWith('/tls/bulk/certificates'))).toBe(false);
    // The old private key, used by nothing once the certificate was replaced in place, is deleted at Fastly.
    expect(servedRecord(domain)?.keyId).not.toBe(oldKeyId);
    expect(h.shared.fastly.keys.has(oldKeyId)).toBe(false);
    expect(h.shared.fastly.requests.slice(requestsBefore).filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual([`/tls/private_keys/${oldKeyId}`]);
    expect(await pebbleStatus(oldSerial)).toBe('Revoked');
    expect(await pebbleStatus(newSerial)).toBe('Valid');
    const after = await stateOf(domain);
    expect(after).toMatchObject({ phase: 'recorded', certSerial: newSerial });
    expect(await challengeRecords(domain)).toEqual([]);
    if (hasPebble27()) {
      // The order named the old certificate in `replaces`; the revoked one's ARI window is in the past.
      const orders = await h.components.database.client.acmeOrder.findMany({ where: { domain }, orderBy: { id: 'asc' } });
      expect(orders.at(-1)?.replaces).toBe(before.certId);
      const window = await pebbleRenewalInfo(inject('testbed').pebble, before.certId as string);
      expect(window.end.getTime()).toBeLessThan(Date.now());
    }

    // Revoking it again: the CA answers alreadyRevoked (RFC 8555 §6.7), which counts as revoked.
    expect(await (await h.components.issuer()).revoke(oldPem, 'superseded')).toEqual({ alreadyRevoked: true });

    // The text form, with a reason by name: keyCompromise, authorised with the account key.
    const text = await cli(['revoke', domain, '--reason', 'keyCompromise', '--yes']);
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout).toContain(`Revoked the old certificate (serial ${newSerial}, reason keyCompromise)`);
    expect(await pebbleStatus(newSerial)).toBe('Revoked');
    expect(servedSerial(domain)).toBe(await storedSerial(domain));
    expect(new X509Certificate(h.shared.fastly.servingCertificate(domain)?.certPem ?? '').validTo).toBeTruthy();
  });

  it('when the replacement cannot be deployed, the old certificate is not revoked; exit 1 naming the step', async () => {
    const domain = 'rv-fastly.z19.test';
    await issue(domain);
    const oldSerial = await storedSerial(domain);
    // Fastly refuses the new key (400 is not retried): the replacement is issued and stored, not deployed.
    h.shared.fastly.inject({ type: 'status', status: 400, method: 'POST', path: '/tls/private_keys', times: Infinity, body: { errors: [{ title: 'Bad request', detail: 'refused by the test' }] } });
    try {
      const result = await cli(['revoke', domain, '--yes']);
      expect(result.code, show(result)).toBe(1);
      expect(result.stderr).toMatch(/^issuing the replacement: .*uploading to Fastly/m);
      expect(result.stderr).toContain(`The old certificate (serial ${oldSerial}) was NOT revoked`);
    } finally {
      h.shared.fastly.clearFaults();
    }
    expect(servedSerial(domain)).toBe(oldSerial);
    expect(await pebbleStatus(oldSerial)).toBe('Valid');
    // The stored replacement is an unfinished renewal: revoke asks for `single` first.
    const again = await cli(['revoke', domain, '--yes']);
    expect(again.code, show(again)).toBe(1);
    expect(again.stderr).toContain(`finish it first with \`autotls single ${domain}\``);
    expect(await pebbleStatus(oldSerial)).toBe('Valid');
  });

  it('bad usage exits 2 and orders nothing: unknown domain, no certificate, a reason Let\'s Encrypt refuses', async () => {
    await h.addDomain('rv-none.z19.test', ZONE);
    const [unknown, none, reason] = await Promise.all([
      cli(['revoke', 'rv-nowhere.z19.test', '--yes']),
      cli(['revoke', 'rv-none.z19.test', '--yes']),
      cli(['revoke', 'rv-none.z19.test', '--reason', 'affiliationChanged', '--yes']),
    ]);
    expect(unknown.code, show(unknown)).toBe(2);
    expect(unknown.stderr).toContain('Domain rv-nowhere.z19.test not found');
    expect(none.code, show(none)).toBe(2);
    expect(none.stderr).toContain('rv-none.z19.test has no certificate to revoke');
    expect(reason.code, show(reason)).toBe(2);
    expect(reason.stderr).toContain('--reason "affiliationChanged" is not one Let\'s Encrypt accepts; use one of: unspecified, keyCompromise, superseded, cessationOfOperation');
    expect(await h.components.database.client.acmeOrder.count({ where: { domain: 'rv-none.z19.test' } })).toBe(0);
  });

  it('without --yes and without a terminal: refuses with exit 2 at once (never waits for an answer), and nothing is revoked or ordered', async () => {
    const domain = 'rv-ask.z19.test';
    await issue(domain);
    const oldSerial = await storedSerial(domain);
    const orders = await h.components.database.client.acmeOrder.count({ where: { domain } });
    const started = Date.now();
    const result = await cli(['revoke', domain]);
    expect(result.code, show(result)).toBe(2);
    expect(result.stderr).toContain(`Refusing to revoke without confirmation: standard input is not a terminal. Pass --yes to revoke ${domain} non-interactively; nothing was done.`);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await pebbleStatus(oldSerial)).toBe('Valid');
    expect(servedSerial(domain)).toBe(oldSerial);
    expect(await h.components.database.client.acmeOrder.count({ where: { domain } })).toBe(orders);
  });

  it('--no-reissue only revokes: Fastly keeps serving the revoked certificate (warned), and the next /process renews the domain at once', async () => {
    const domain = 'rv-only.z19.test';
    await issue(domain);
    const oldSerial = await storedSerial(domain);
    const orders = await h.components.database.client.acmeOrder.count({ where: { domain } });

    const result = await cli(['revoke', domain, '--no-reissue', '--reason', 'keyCompromise', '--yes', '--json']);
    expect(result.code, show(result)).toBe(0);
    const report = jsonOf<Report & { reissue: boolean; markedDue: boolean; warnings: string[] }>(result);
    expect(report).toMatchObject({ domain, reason: 'keyCompromise', reissue: false, markedDue: true, revoked: true, error: null, old: { serial: oldSerial }, replacement: { ok: false, outcome: null } });
    expect(report.warnings.join('\n')).toContain(`the site keeps serving the REVOKED certificate (serial ${oldSerial}) until the next run for ${domain} renews it`);
    expect(await pebbleStatus(oldSerial)).toBe('Revoked');
    expect(servedSerial(domain)).toBe(oldSerial);
    expect(await h.components.database.client.acmeOrder.count({ where: { domain } })).toBe(orders);
    expect((await stateOf(domain)).nextRenewalAt?.getTime()).toBeLessThanOrEqual(Date.now());

    // The next ordinary run (not forced) finds it due and replaces it.
    const { status, doc } = await h.run('/process');
    expect(status, JSON.stringify(doc)).toBe(200);
    expect(doc.results.find((r) => r.domain === domain), JSON.stringify(doc.results)).toMatchObject({ outcome: 'renewed' });
    const newSerial = await storedSerial(domain);
    expect(newSerial).not.toBe(oldSerial);
    expect(servedSerial(domain)).toBe(newSerial);
    expect(await pebbleStatus(newSerial)).toBe('Valid');
  });

  /**
   * `autotls revoke <domain>` on a real terminal: util-linux `script` gives the
   * command a pseudo-terminal; `answer` is typed once the question is shown.
   */
  const onTerminal = (domain: string, answer: string): Promise<{ code: number | null; output: string }> =>
    new Promise((resolve, reject) => {
      const command = `'${process.execPath}' '${BIN}' revoke ${domain}`;
      const child = spawn('script', ['-qec', command, '/dev/null'], {
        cwd: h.shared.dir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? h.shared.dir, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? '', ...h.env, LOG_LEVEL: 'warn' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let output = '';
      let typed = false;
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      const seen = (chunk: Buffer): void => {
        output += chunk.toString();
        if (!typed && output.includes('[y/N]')) {
          typed = true;
          child.stdin.write(`${answer}\r`);
        }
      };
      child.stdout.on('data', seen);
      child.stderr.on('data', seen);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        child.stdin.destroy();
        resolve({ code, output });
      });
    });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('on a terminal it asks first: "n" cancels (exit 1, nothing done), "y" replaces and revokes', async () => {
    const domain = 'rv-tty.z19.test';
    await issue(domain);
    const oldSerial = await storedSerial(domain);

    const no = await onTerminal(domain, 'n');
    expect(no.code, no.output).toBe(1);
    expect(no.output).toMatch(new RegExp(`Revoke the certificate of rv-tty\\.z19\\.test \\(serial ${oldSerial}, expires \\S+\\) as superseded, after issuing and deploying a replacement with a new key\\? \\[y/N\\]`));
    expect(no.output).toContain(`Cancelled: nothing was revoked or issued for ${domain}`);
    expect(await pebbleStatus(oldSerial)).toBe('Valid');
    expect(await storedSerial(domain)).toBe(oldSerial);

    const yes = await onTerminal(domain, 'y');
    expect(yes.code, yes.output).toBe(0);
    expect(yes.output).toContain(`Revoked the old certificate (serial ${oldSerial}, reason superseded)`);
    expect(await pebbleStatus(oldSerial)).toBe('Revoked');
    expect(await storedSerial(domain)).not.toBe(oldSerial);
  });
});
