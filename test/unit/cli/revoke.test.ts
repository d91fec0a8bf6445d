// `autotls revoke` (src/cli/revoke.ts): replace first, then revoke, over the
// in-memory harness (real DomainFlow and Orchestrator; in-memory CA, Fastly,
// DNS and secrets).
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CertificateIssuer, RevocationReason } from '../../../src/certificates/issuer.js';
import { AcmeNetworkError, AcmeOrderError } from '../../../src/certificates/errors.js';
import { confirmOnTerminal, formatReport, parseReason, revokeAndReplace, RevokeError, type RevokeDeps, type RevokeReport } from '../../../src/cli/revoke.js';
import { harnessPerTest, PEM_BASE, type Harness } from '../orchestrator/harness.js';
import type { FakeWorld } from '../../fakes/world.js';

const harness = harnessPerTest();

/** The in-memory CA, with switches to fail issuance or revocation, and a log of what Fastly served at each revocation. */
function switchable(world: FakeWorld) {
  const ca = world.ca;
  const control = { failIssue: false, failRevoke: false, servedAtRevoke: [] as Array<string | undefined> };
  const issuer: CertificateIssuer = {
    issue: async (req, hooks) => {
      if (control.failIssue) throw new AcmeNetworkError('newOrder', 'ECONNREFUSED');
      return ca.issue(req, hooks);
    },
    resume: (url, req, hooks) => ca.resume(url, req, hooks),
    renewalInfo: (id) => ca.renewalInfo(id),
    revoke: async (pem, reason: RevocationReason) => {
      control.servedAtRevoke.push(world.fastly.servedCertificate('a.test')?.serial);
      if (control.failRevoke) throw new AcmeOrderError('revokeCert', 'urn:ietf:params:acme:error:serverInternal', 'The server experienced an internal error', 500);
      return ca.revoke(pem, reason);
    },
  };
  return { control, issuer };
}

async function setUp(): Promise<{ t: Harness; control: ReturnType<typeof switchable>['control']; deps: RevokeDeps; oldSerial: string }> {
  let control: ReturnType<typeof switchable>['control'] | undefined;
  let issuer: CertificateIssuer | undefined;
  const t = await harness({
    issuer: (world) => {
      const made = switchable(world);
      control = made.control;
      issuer = made.issuer;
      return made.issuer;
    },
  });
  await t.addDomain('a.test');
  const first = await (await t.orchestrator.startSingle('a.test', false)).done;
  expect(first.results[0]?.outcome).toBe('issued');
  const deps: RevokeDeps = {
    repository: t.repository,
    state: t.state,
    secrets: t.world.secrets,
    pemSecretBasePath: PEM_BASE,
    orchestrator: t.orchestrator,
    issuer: async () => issuer as CertificateIssuer,
  };
  return { t, control: control!, deps, oldSerial: t.world.ca.certificatesFor('a.test')[0]!.serial };
}

async function failure(work: Promise<unknown>): Promise<RevokeError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RevokeError);
  return error as RevokeError;
}

describe('autotls revoke', () => {
  it('issues and deploys the replacement (ARI replaces) first, then revokes the old certificate as superseded', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    const oldCert = t.world.ca.certificate(oldSerial)!;
    // Not due: a plain /single run would leave it alone; revoke forces the order.
    const plain = await (await t.orchestrator.startSingle('a.test', false)).done;
    expect(plain.results[0]?.outcome).toBe('skipped');

    const report = await revokeAndReplace(deps, 'a.test', parseReason(undefined), false);

    const [, replacement] = t.world.ca.certificatesFor('a.test');
    expect(replacement).toBeDefined();
    expect(report).toMatchObject({ domain: 'a.test', reason: 'superseded', revoked: true, alreadyRevoked: false, error: null, old: { serial: oldSerial } });
    expect(report.replacement).toMatchObject({ ok: true, outcome: 'renewed', serial: replacement!.serial });
    // Fastly already served the replacement when the old one was revoked.
    expect(control.servedAtRevoke).toEqual([replacement!.serial]);
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(replacement!.serial);
    // The new order named the old certificate in `replaces`.
    expect(t.world.ca.ordersFor('a.test').at(-1)?.replaces).toBe(oldCert.certId);
    expect(t.world.ca.isRevoked(oldSerial)).toBe(true);
    expect(oldCert.revocationReason).toBe('superseded');
    expect(t.world.ca.isRevoked(replacement!.serial)).toBe(false);
    // The revoked certificate's ARI window lies in the past; the new one is recorded.
    const info = await t.world.ca.renewalInfo(oldCert.certId);
    expect(info!.suggestedWindow.end.getTime()).toBeLessThan(t.world.clock.now().getTime());
    expect(await t.stateOf('a.test')).toMatchObject({ phase: 'recorded', certSerial: replacement!.serial });
    expect(await t.secret('a.test', 'fullchain')).toBe(replacement!.fullchainPem);
  });

  it('when the replacement fails, does not revoke (the site keeps a valid certificate), exit 1 naming the step', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    control.failIssue = true;
    const error = await failure(revokeAndReplace(deps, 'a.test', 'cessationOfOperation', false));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/^issuing the replacement: /);
    expect(error.message).toContain('was NOT revoked');
    expect(error.report).toMatchObject({ revoked: false, replacement: { ok: false, outcome: 'failed' } });
    expect(control.servedAtRevoke).toEqual([]);
    expect(t.world.ca.isRevoked(oldSerial)).toBe(false);
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(oldSerial);
  });

  it('keyCompromise revokes even when the replacement fails, and says the site serves a revoked certificate', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    control.failIssue = true;
    const error = await failure(revokeAndReplace(deps, 'a.test', 'keyCompromise', false));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/^issuing the replacement: /);
    expect(error.message).toContain('REVOKED certificate until the next run');
    expect(error.report).toMatchObject({ revoked: true, reason: 'keyCompromise', replacement: { ok: false } });
    expect(t.world.ca.isRevoked(oldSerial)).toBe(true);
    expect(t.world.ca.certificate(oldSerial)?.revocationReason).toBe('keyCompromise');
  });

  it('when the CA refuses the revocation, the replacement stays deployed; exit 1 naming the step, with the old PEM to revoke by hand', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    control.failRevoke = true;
    const error = await failure(revokeAndReplace(deps, 'a.test', 'superseded', false));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/^revoking the old certificate at the CA: /);
    expect(error.message).toContain('-----BEGIN CERTIFICATE-----');
    expect(error.report).toMatchObject({ revoked: false, replacement: { ok: true } });
    expect(t.world.ca.isRevoked(oldSerial)).toBe(false);
    expect(t.world.fastly.servedCertificate('a.test')?.serial).not.toBe(oldSerial);
  });

  it('bad usage is exit 2: unknown domain, a domain without a certificate, a reason Let\'s Encrypt refuses', async () => {
    const { t, deps } = await setUp();
    expect((await failure(revokeAndReplace(deps, 'nowhere.test', 'superseded', false))).exitCode).toBe(2);
    await t.addDomain('b.test');
    const none = await failure(revokeAndReplace(deps, 'b.test', 'superseded', false));
    expect(none.exitCode).toBe(2);
    expect(none.message).toContain('b.test has no certificate to revoke');
    expect(t.world.ca.ordersFor('b.test')).toEqual([]);
    for (const bad of ['affiliationChanged', 'privilegeWithdrawn', '4', 'Superseded', '']) {
      expect(() => parseReason(bad)).toThrow(/is not one Let's Encrypt accepts; use one of: unspecified, keyCompromise, superseded, cessationOfOperation/);
    }
    const names: RevocationReason[] = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'];
    expect(names.map((n) => parseReason(n))).toEqual(names);
  });

  it('a second revoke of the same domain revokes the replacement in turn (the CA says alreadyRevoked for a revoked one)', async () => {
    const { t, deps, oldSerial } = await setUp();
    const first: RevokeReport = await revokeAndReplace(deps, 'a.test', 'superseded', false);
    const second = await revokeAndReplace(deps, 'a.test', 'superseded', false);
    expect(second.old.serial).toBe(first.replacement.serial);
    expect(t.world.ca.certificatesFor('a.test')).toHaveLength(3);
    expect(await t.world.ca.revoke(t.world.ca.certificate(oldSerial)!.fullchainPem, 'superseded')).toEqual({ alreadyRevoked: true });
  });
});

describe('autotls revoke --no-reissue', () => {
  it('only revokes: no order, Fastly keeps the (revoked) certificate, a warning, and the domain is due now so the next run renews it', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    const before = await t.stateOf('a.test');
    expect(before?.nextRenewalAt?.getTime()).toBeGreaterThan(t.world.clock.now().getTime());
    const orders = t.world.ca.ordersFor('a.test').length;

    const report = await revokeAndReplace(deps, 'a.test', 'keyCompromise', false, { reissue: false });

    expect(report).toMatchObject({ reissue: false, markedDue: true, revoked: true, error: null, replacement: { ok: false, outcome: null, runId: null } });
    expect(t.world.ca.ordersFor('a.test')).toHaveLength(orders);
    expect(t.world.ca.isRevoked(oldSerial)).toBe(true);
    expect(control.servedAtRevoke).toEqual([oldSerial]);
    expect(t.world.fastly.servedCertificate('a.test')?.serial).toBe(oldSerial);
    expect(report.warnings.join('\n')).toContain(`keeps serving the REVOKED certificate (serial ${oldSerial}) until the next run for a.test renews it`);
    expect(formatReport(report)).toContain('No replacement for a.test (--no-reissue)');
    const after = await t.stateOf('a.test');
    expect(after?.nextRenewalAt?.getTime()).toBeLessThanOrEqual(t.world.clock.now().getTime());

    // The next run (not forced) renews it.
    const next = await (await t.orchestrator.startSingle('a.test', false)).done;
    expect(next.results[0]?.outcome).toBe('renewed');
    expect(t.world.fastly.servedCertificate('a.test')?.serial).not.toBe(oldSerial);
  });

  it('when the CA refuses, nothing is revoked and the domain is not made due', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    const before = await t.stateOf('a.test');
    control.failRevoke = true;
    const error = await failure(revokeAndReplace(deps, 'a.test', 'superseded', false, { reissue: false }));
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/^revoking the old certificate at the CA: /);
    expect(error.message).toContain(`Nothing was revoked or issued; the certificate (serial ${oldSerial}) is still valid and served.`);
    expect(t.world.ca.isRevoked(oldSerial)).toBe(false);
    expect((await t.stateOf('a.test'))?.nextRenewalAt).toEqual(before?.nextRenewalAt);
  });
});

describe('autotls revoke: confirmation', () => {
  it('asks once the certificate is known; "no" cancels with exit 1 and nothing done', async () => {
    const { t, control, deps, oldSerial } = await setUp();
    const asked: string[] = [];
    const orders = t.world.ca.ordersFor('a.test').length;
    const error = await failure(revokeAndReplace(deps, 'a.test', 'superseded', false, { confirm: async (q) => (asked.push(q), false) }));
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe('Cancelled: nothing was revoked or issued for a.test');
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatch(new RegExp(`^Revoke the certificate of a\\.test \\(serial ${oldSerial}, expires \\S+\\) as superseded, after issuing and deploying a replacement`));
    expect(t.world.ca.ordersFor('a.test')).toHaveLength(orders);
    expect(control.servedAtRevoke).toEqual([]);
    // Unknown domains are refused before any question.
    const unknown = await failure(revokeAndReplace(deps, 'nowhere.test', 'superseded', false, { confirm: async (q) => (asked.push(q), true) }));
    expect(unknown.exitCode).toBe(2);
    expect(asked).toHaveLength(1);
  });

  it('confirmOnTerminal: refuses (exit 2) without a terminal instead of waiting; on a terminal only y/yes is yes, end of input is no', async () => {
    const pipe = Object.assign(new PassThrough(), { isTTY: false });
    const refused = await failure(confirmOnTerminal('Revoke?', 'a.test', { input: pipe, output: new PassThrough() }));
    expect(refused.exitCode).toBe(2);
    expect(refused.message).toBe('Refusing to revoke without confirmation: standard input is not a terminal. Pass --yes to revoke a.test non-interactively; nothing was done.');

    const answer = async (typed: string | null): Promise<{ yes: boolean; prompt: string }> => {
      const input = Object.assign(new PassThrough(), { isTTY: true });
      const output = new PassThrough();
      let prompt = '';
      output.on('data', (d: Buffer) => (prompt += d.toString()));
      const pending = confirmOnTerminal('Revoke?', 'a.test', { input, output });
      if (typed === null) input.end();
      else input.write(`${typed}\n`);
      return { yes: await pending, prompt };
    };
    expect(await answer('y')).toEqual({ yes: true, prompt: 'Revoke? [y/N] ' });
    expect((await answer('YES')).yes).toBe(true);
    expect((await answer('')).yes).toBe(false);
    expect((await answer('n')).yes).toBe(false);
    expect((await answer('yes please')).yes).toBe(false);
    expect((await answer(null)).yes).toBe(false);
  });
});
