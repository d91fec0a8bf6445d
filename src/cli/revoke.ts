/**
 * `autotls revoke <domain> [--reason R]` (contract section 6): revoke the
 * current certificate at the CA and issue and deploy its replacement at once.
 *
 * Order, so that the site's TLS never goes down:
 *  1. read the current certificate (the `fullchain` secret) and keep it in
 *     memory: the renewal overwrites the secret;
 *  2. issue and deploy the replacement through the normal flow, forced for this
 *     one domain (`startSingle(..., { force: true })`): new key, order with ARI
 *     `replaces`, store, upload or replace in place at Fastly, record;
 *  3. only then revoke the old certificate at the CA, with the account key.
 * When the replacement fails, the old certificate is NOT revoked (the site keeps
 * serving a valid one), unless the reason is `keyCompromise`: a compromised key
 * must be revoked whatever happens, and the command then says that the site
 * serves a revoked certificate until a run succeeds.
 *
 * `--no-reissue` only revokes (step 3 alone): the site keeps serving the revoked
 * certificate until the next run, so the command warns, and makes the domain due
 * now (DomainStateStore.patch: next_renewal_at = now, backoff cleared, the
 * lease-free operator write) so the next run renews it at once.
 *
 * Confirmation: once the certificate is known (unknown domains and reasons are
 * refused first), the command asks on a terminal; `--yes` skips the question.
 * Without a terminal (cron, CI, a pipe) and without `--yes` it refuses with exit
 * 2 instead of waiting for an answer that cannot come.
 *
 * Reasons: the RFC 5280 codes Let's Encrypt accepts from subscribers, by name
 * (https://letsencrypt.org/docs/revoking/): unspecified, keyCompromise,
 * superseded, cessationOfOperation. Default `superseded`: the certificate is
 * replaced by a new one, which is what Let's Encrypt asks that reason for.
 *
 * Exit codes: 0 both steps done; 1 a step failed (named: "issuing the
 * replacement: ...", "revoking the old certificate at the CA: ...") or the
 * question was answered no; 2 bad usage (unknown domain, unknown reason, no
 * certificate to revoke, no terminal to confirm on and no `--yes`).
 */
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import type { Components } from '../composition.js';
import type { DomainRepository } from '../domains/repository.js';
import type { DomainStateStore } from '../domains/state.js';
import type { SecretsStore } from '../secrets/provider.js';
import type { CertificateIssuer } from '../certificates/issuer.js';
import { REVOCATION_REASONS, type RevocationReason } from '../certificates/issuer.js';
import { readCertificate, splitFullchain } from '../certificates/x509.js';
import { DomainBusyError, DomainNotFoundError, type Orchestrator } from '../orchestrator/orchestrator.js';
import type { DomainResult } from '../orchestrator/runs.js';
import { secretName } from '../orchestrator/material.js';
import { errorMessage } from '../util/errors.js';
import { createOutput } from './output.js';

export const DEFAULT_REVOCATION_REASON: RevocationReason = 'superseded';

export interface RevokeDeps {
  repository: Pick<DomainRepository, 'findByName'>;
  state: Pick<DomainStateStore, 'get' | 'patch'>;
  secrets: Pick<SecretsStore, 'get'>;
  pemSecretBasePath: string;
  /** The service's clock (for `--no-reissue`'s due time); default the system clock. */
  now?: () => Date;
  orchestrator: Pick<Orchestrator, 'startSingle'>;
  issuer: () => Promise<CertificateIssuer>;
}

export interface CertificateRef {
  serial: string;
  notAfter: string;
}

export interface RevokeReport {
  domain: string;
  reason: RevocationReason;
  /** The certificate revoked (or meant to be). */
  old: CertificateRef;
  /** false with `--no-reissue`: no replacement was attempted. */
  reissue: boolean;
  /** `--no-reissue`: whether the domain was made due now (false: a run holds it, or the write failed). */
  markedDue: boolean;
  replacement: { ok: boolean; runId: string | null; outcome: DomainResult['outcome'] | null; serial: string | null; notAfter: string | null; messages: string[]; errors: string[] };
  revoked: boolean;
  alreadyRevoked: boolean;
  testmode: boolean;
  /** Set when the command failed: the step and its cause. */
  error: string | null;
  /** What the operator should know (e.g. the site serves a revoked certificate). */
  warnings: string[];
}

/** Bad usage (exit 2) or a failed step (exit 1). */
export class RevokeError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    readonly report?: RevokeReport,
  ) {
    super(message);
    this.name = 'RevokeError';
  }
}

export function parseReason(input: string | undefined): RevocationReason {
  if (input === undefined) return DEFAULT_REVOCATION_REASON;
  if (Object.hasOwn(REVOCATION_REASONS, input)) return input as RevocationReason;
  const shown = JSON.stringify(input.slice(0, 100));
  throw new RevokeError(`--reason ${shown} is not one Let's Encrypt accepts; use one of: ${Object.keys(REVOCATION_REASONS).join(', ')}`, 2);
}

const UNFINISHED = new Set(['ordered', 'stored', 'uploaded']);

export interface RevokeOptions {
  /** false (`--no-reissue`): only revoke, and make the domain due now. Default true. */
  reissue?: boolean;
  /**
   * Asked once the certificate to revoke is known, before anything is done.
   * Resolves false to cancel (exit 1, nothing done); may throw RevokeError.
   * Absent: no question (`--yes`, or a caller that asked already).
   */
  confirm?: (question: string) => Promise<boolean>;
}

/** The question `confirm` is asked. */
export function confirmationQuestion(domain: string, old: CertificateRef, reason: RevocationReason, reissue: boolean): string {
  return reissue
    ? `Revoke the certificate of ${domain} (serial ${old.serial}, expires ${old.notAfter}) as ${reason}, after issuing and deploying a replacement with a new key?`
    : `Revoke the certificate of ${domain} (serial ${old.serial}, expires ${old.notAfter}) as ${reason} WITHOUT a replacement? The site keeps serving the revoked certificate until the next run renews it.`;
}

/**
 * Replaces, then revokes (see the module comment). Resolves with the report
 * when both steps succeeded; throws RevokeError otherwise (with the report
 * once anything was attempted).
 */
export async function revokeAndReplace(deps: RevokeDeps, domain: string, reason: RevocationReason, testmode: boolean, options: RevokeOptions = {}): Promise<RevokeReport> {
  const reissue = options.reissue ?? true;
  const candidate = await deps.repository.findByName(domain);
  if (!candidate) throw new RevokeError(`Domain ${domain} not found in the domains table`, 2);
  const state = await deps.state.get(candidate.id);
  if (state && UNFINISHED.has(state.phase)) {
    throw new RevokeError(
      `${domain} has an unfinished renewal (phase ${state.phase}); finish it first with \`autotls single ${domain}\`, then revoke the certificate it replaced by hand if needed`,
      1,
    );
  }
  // Step 1: the current certificate, in memory before the renewal overwrites the secret.
  let oldPem: string | undefined;
  try {
    oldPem = await deps.secrets.get(secretName(deps.pemSecretBasePath, domain, 'fullchain'));
  } catch (error) {
    throw new RevokeError(`reading the current certificate from the secrets store: ${errorMessage(error)}`, 1);
  }
  if (!oldPem) throw new RevokeError(`${domain} has no certificate to revoke: none stored under ${secretName(deps.pemSecretBasePath, domain, 'fullchain')}`, 2);
  let old: CertificateRef;
  try {
    const info = readCertificate(splitFullchain(oldPem).leafPem);
    old = { serial: info.serial, notAfter: info.notAfter.toISOString() };
  } catch (error) {
    throw new RevokeError(`reading the current certificate from the secrets store: ${errorMessage(error)}`, 1);
  }
  if (state?.certSerial && state.certSerial !== old.serial) {
    throw new RevokeError(`the stored certificate (serial ${old.serial}) is not the one recorded for ${domain} (serial ${state.certSerial}); nothing was done`, 1);
  }

  if (options.confirm && !(await options.confirm(confirmationQuestion(domain, old, reason, reissue)))) {
    throw new RevokeError(`Cancelled: nothing was revoked or issued for ${domain}`, 1);
  }

  const report: RevokeReport = {
    domain,
    reason,
    old,
    reissue,
    markedDue: false,
    replacement: { ok: false, runId: null, outcome: null, serial: null, notAfter: null, messages: [], errors: [] },
    revoked: false,
    alreadyRevoked: false,
    testmode,
    error: null,
    warnings: [],
  };

  // Step 2: the replacement, through the normal flow, forced (not with --no-reissue).
  const replacementError = reissue ? await issueReplacement(deps, domain, candidate.id, testmode, report) : undefined;
  if (replacementError !== undefined) {
    if (reason !== 'keyCompromise') {
      report.error = `issuing the replacement: ${replacementError}`;
      report.warnings.push(`The old certificate (serial ${old.serial}) was NOT revoked: the site keeps serving it. Fix the cause and run \`autotls revoke ${domain}\` again.`);
      throw new RevokeError(`${report.error}\n${report.warnings.join('\n')}`, 1, report);
    }
    report.warnings.push(
      `The replacement failed (${replacementError}); the old certificate is revoked anyway because its key is compromised. ` +
        `The site now serves a REVOKED certificate until the next run for ${domain} succeeds (\`autotls single ${domain}\`).`,
    );
  }

  // Step 3: revoke the old certificate at the CA (account key).
  try {
    const issuer = await deps.issuer();
    const result = await issuer.revoke(oldPem, reason);
    report.revoked = true;
    report.alreadyRevoked = result.alreadyRevoked;
  } catch (error) {
    report.error = `revoking the old certificate at the CA: ${errorMessage(error)}`;
    report.warnings.push(
      !reissue
        ? `Nothing was revoked or issued; the certificate (serial ${old.serial}) is still valid and served.`
        : report.replacement.ok
        ? `The replacement is deployed; the old certificate (serial ${old.serial}) is still valid. Revoke it with any ACME client; its PEM follows:\n${splitFullchain(oldPem).leafPem.trim()}`
        : `Nothing was revoked and the replacement failed; the old certificate (serial ${old.serial}) is still served.`,
    );
    throw new RevokeError(`${report.error}\n${report.warnings.join('\n')}`, 1, report);
  }
  if (!reissue) await markDueNow(deps, domain, candidate.id, report);
  if (replacementError !== undefined) {
    report.error = `issuing the replacement: ${replacementError}`;
    throw new RevokeError(`${report.error}\nRevoked the old certificate (serial ${old.serial}, reason ${reason}).\n${report.warnings.join('\n')}`, 1, report);
  }
  return report;
}

/** Step 2: issues and deploys the replacement (forced single run); the failure's text, or undefined when it worked. */
async function issueReplacement(deps: RevokeDeps, domain: string, domainId: number, testmode: boolean, report: RevokeReport): Promise<string | undefined> {
  try {
    const run = await deps.orchestrator.startSingle(domain, testmode, { force: true });
    report.replacement.runId = run.runId;
    const doc = await run.done;
    const result = doc.results[0];
    if (result) {
      report.replacement = { ...report.replacement, outcome: result.outcome, notAfter: result.notAfter, messages: result.messages, errors: result.errors };
    }
    if (result?.outcome === 'renewed' || result?.outcome === 'issued') {
      report.replacement.ok = true;
      report.replacement.serial = (await deps.state.get(domainId).catch(() => null))?.certSerial ?? null;
      return undefined;
    }
    return result ? [`outcome ${result.outcome}`, ...result.errors, ...result.messages].join('; ') : `run ${doc.status} without a result`;
  } catch (error) {
    if (error instanceof DomainNotFoundError) throw new RevokeError(error.message, 2);
    return error instanceof DomainBusyError ? `${error.message}; try again when it has finished` : errorMessage(error);
  }
}

/**
 * `--no-reissue`, after the revocation: make the domain due now (the lease-free
 * operator write, DomainStateStore.patch), so the next run renews it at once.
 */
async function markDueNow(deps: RevokeDeps, domain: string, domainId: number, report: RevokeReport): Promise<void> {
  let marked = false;
  let why = 'a run holds the domain right now';
  try {
    marked = await deps.state.patch(domainId, { nextRenewalAt: (deps.now ?? (() => new Date()))(), backoffUntil: null });
  } catch (error) {
    why = errorMessage(error);
  }
  report.markedDue = marked;
  report.warnings.push(
    `No replacement was issued (--no-reissue): the site keeps serving the REVOKED certificate (serial ${report.old.serial}) until the next run for ${domain} renews it. ` +
      (marked
        ? `${domain} is due now: the next run renews it; to renew at once: \`autotls single ${domain}\`.`
        : `Could not make ${domain} due now (${why}); once that run has finished, replace it with \`autotls revoke ${domain} --yes\` (the CA answers alreadyRevoked for the old one).`),
  );
}

export function formatReport(report: RevokeReport): string {
  const lines = [
    report.reissue ? `Replacement for ${report.domain}: ${report.replacement.outcome ?? 'none'}${report.replacement.serial ? ` (serial ${report.replacement.serial}, expires ${report.replacement.notAfter ?? '-'})` : ''}${report.testmode ? ' (testmode: not uploaded to Fastly)' : ''}` : `No replacement for ${report.domain} (--no-reissue)`,
    ...report.replacement.messages.map((m) => `  ${m}`),
    report.revoked
      ? `Revoked the old certificate (serial ${report.old.serial}, reason ${report.reason})${report.alreadyRevoked ? ': the CA had already revoked it' : ''}`
      : `The old certificate (serial ${report.old.serial}) was not revoked`,
    ...report.warnings,
  ];
  return lines.join('\n');
}

/**
 * Asks `question` on the terminal (answer on `input`, prompt on `output`, so
 * stdout keeps only the command's output); yes only for "y" or "yes". Without a
 * terminal it never waits: RevokeError, exit 2. End of input counts as no.
 */
export function confirmOnTerminal(question: string, domain: string, io: { input: NodeJS.ReadableStream & { isTTY?: boolean }; output: NodeJS.WritableStream }): Promise<boolean> {
  if (!io.input.isTTY) {
    return Promise.reject(
      new RevokeError(`Refusing to revoke without confirmation: standard input is not a terminal. Pass --yes to revoke ${domain} non-interactively; nothing was done.`, 2),
    );
  }
  return new Promise((resolve) => {
    const rl = createInterface({ input: io.input, output: io.output });
    let answered = false;
    const finish = (yes: boolean): void => {
      if (answered) return;
      answered = true;
      rl.close();
      resolve(yes);
    };
    rl.on('close', () => finish(false));
    rl.question(`${question} [y/N] `, (answer) => finish(/^\s*y(es)?\s*$/i.test(answer)));
  });
}

export interface RevokeCommandDeps {
  withComponents: <T>(work: (c: Components) => Promise<T>) => Promise<T>;
  domainArg: (input: string) => string;
  fail: (message: string, exitCode: 1 | 2) => Error;
}

export function registerRevokeCommand(program: Command, deps: RevokeCommandDeps): void {
  program
    .command('revoke')
    .description('revoke the current certificate at the CA, after issuing and deploying its replacement')
    .argument('<domain>', 'a domain with a certificate stored by AutoTLS')
    .addOption(new Option('--reason <reason>', `RFC 5280 reason: ${Object.keys(REVOCATION_REASONS).join(', ')} (default ${DEFAULT_REVOCATION_REASON})`))
    .addOption(new Option('--no-reissue', 'only revoke: no replacement (the site serves the revoked certificate until the next run, which renews it at once)'))
    .addOption(new Option('--yes', 'do not ask for confirmation (required when standard input is not a terminal)'))
    .addOption(new Option('--json', 'print JSON instead of text'))
    .action(async (input: string, opts: { reason?: string; reissue: boolean; yes?: boolean; json?: boolean }) => {
      const domain = deps.domainArg(input);
      const out = createOutput(Boolean(opts.json));
      let reason: RevocationReason;
      try {
        reason = parseReason(opts.reason);
      } catch (error) {
        throw deps.fail(errorMessage(error), 2);
      }
      await deps.withComponents(async (c) => {
        // The CA that issued the current certificate, read before the replacement records its own.
        const issuingCa = await c.certificateCa(domain);
        const revokeDeps: RevokeDeps = {
          repository: c.repository,
          state: c.state,
          secrets: c.secrets,
          pemSecretBasePath: c.settings.pemSecretBasePath,
          now: () => c.clock.now(),
          orchestrator: c.orchestrator,
          issuer: () => c.issuerFor(issuingCa),
        };
        const testmode = c.settings.appEnv !== 'production';
        const confirm = opts.yes ? undefined : (question: string) => confirmOnTerminal(question, domain, { input: process.stdin, output: process.stderr });
        try {
          const work = revokeAndReplace(revokeDeps, domain, reason, testmode, { reissue: opts.reissue, ...(confirm ? { confirm } : {}) });
          // No spinner over the question.
          const report = await (confirm ? work : out.progress(`${opts.reissue ? 'Replacing and revoking' : 'Revoking'} the certificate of ${domain}`, work));
          out.print(formatReport(report), report);
        } catch (error) {
          if (!(error instanceof RevokeError)) throw error;
          // --json: the report on stdout as well, so a script sees what was done.
          if (error.report && out.json) out.print('', error.report);
          throw deps.fail(error.message, error.exitCode);
        }
      });
    });
}
