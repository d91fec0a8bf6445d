import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadSettingsFromProcess, secretValues } from '../config/index.js';
import type { Settings } from '../config/settings.js';
import { compose, type Components } from '../composition.js';
import { applyMigrations } from '../db/migrate.js';
import { createLogger, type Logger } from '../logger.js';
import { validateDomainName } from '../util/domain-name.js';
import { DomainBusyError, DomainNotFoundError } from '../orchestrator/orchestrator.js';
import type { RunDocument } from '../orchestrator/runs.js';
import { dryRunFailed, type DryRunReport } from '../orchestrator/dry-run.js';
import { AcmeIssuer, AcmeOrderError, shortProblemType } from '../certificates/acme.js';
import { errorMessage } from '../util/errors.js';
import { createSecretsStore } from '../secrets/index.js';
import { createOutput, isoOrDash, table, type Output } from './output.js';
import { parseDomainCsv } from './csv.js';
import { runServe } from './serve.js';
import { registerForecastCommand } from './forecast.js';
import { registerAriCommands } from './ari.js';
import { registerRevokeCommand } from './revoke.js';

/** Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

function settingsOrExit(): Settings {
  try {
    return loadSettingsFromProcess();
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new CliError(`Invalid configuration:\n${error.problems.map((p) => `  - ${p}`).join('\n')}`, 2);
    }
    throw error;
  }
}

/**
 * Logs go to stderr so that stdout holds only the command's output. The level is
 * `warn` unless LOG_LEVEL is set explicitly; configured secrets are scrubbed as
 * in the service's logger.
 */
function cliLogger(settings: Settings, extraSecrets: string[] = []): Logger {
  return createLogger({ level: process.env.LOG_LEVEL ?? 'warn', secrets: [...secretValues(settings), ...extraSecrets], destination: process.stderr as unknown as never });
}

/** Components with logs kept off stdout (stderr, warnings only) so output stays clean. */
async function withComponents<T>(work: (c: Components) => Promise<T>): Promise<T> {
  const settings = settingsOrExit();
  const logger = cliLogger(settings);
  const components = await compose(settings, { logger });
  try {
    return await work(components);
  } finally {
    await components.close();
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function domainArg(input: string): string {
  const valid = validateDomainName(input);
  if (!valid.ok) throw new CliError(`Invalid domain name ${JSON.stringify(input.slice(0, 300))}: ${valid.reason}`, 2);
  return valid.value;
}

function printRun(out: Output, doc: RunDocument): void {
  const rows = doc.results.map((r) => [r.domain, r.certificateStatus, r.outcome, r.notAfter ?? '-', [...r.errors, ...r.messages].join('; ').slice(0, 120)]);
  const human = [
    `Run ${doc.runId}: ${doc.status}${doc.testmode ? ' (testmode)' : ''}`,
    rows.length ? table(['DOMAIN', 'CERT', 'OUTCOME', 'NOT AFTER', 'DETAIL'], rows) : 'No certificates needed, none currently due for renewal',
  ].join('\n');
  out.print(human, doc);
  if (doc.status === 'partial' || doc.status === 'failed') throw new CliError(`Run ${doc.status}: see the errors above`, 1);
}

function printDryRun(out: Output, report: DryRunReport): void {
  const rows = report.plan.map((p) => [p.domain, p.status, p.plan === 'renewal' && p.replaces ? 'renewal (ARI replaces)' : p.plan, p.fastly.detail]);
  const mark = { ok: 'ok', failed: 'FAILED', skipped: 'skipped' } as const;
  const human = [
    `Dry run${report.testmode ? ' (testmode)' : ''}${report.continuous ? ' (continuous schedule)' : ''}: nothing was ordered, written or uploaded`,
    rows.length ? table(['DOMAIN', 'STATUS', 'PLAN', 'FASTLY'], rows) : 'No domain is due',
    '',
    'Checks:',
    ...report.checks.map((c) => `  ${mark[c.status].padEnd(7)} ${c.message}`),
  ].join('\n');
  out.print(human, report);
  if (dryRunFailed(report)) throw new CliError(`Dry run: ${report.checks.filter((c) => c.status === 'failed').length} check(s) failed`, 1);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('autotls')
    .description("Keeps your domains covered by Let's Encrypt certificates on Fastly.")
    .version(packageVersion(), '-V, --version', 'print the AutoTLS version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const json = new Option('--json', 'print JSON instead of text');

  program
    .command('migrate')
    .description('apply database migrations')
    .addOption(json)
    .action(async (opts: { json?: boolean }) => {
      const settings = settingsOrExit();
      const out = createOutput(Boolean(opts.json));
      const logger = cliLogger(settings);
      const result = await out.progress('Applying migrations', applyMigrations(settings.database.url, settings.database.provider, logger));
      out.print(
        result.applied.length ? `Applied: ${result.applied.join(', ')}` : `Database schema is up to date (${result.alreadyApplied.length} migrations applied)`,
        result,
      );
    });

  program.command('serve').description('start the HTTP service').action(async () => {
    await runServe();
    await new Promise(() => undefined); // runs until a signal stops it
  });

  program
    .command('process')
    .description('run the renewal flow once for every eligible domain, as /process does')
    .option('--testmode', 'run everything except the Fastly upload')
    .option('--dry-run', 'read-only: the plan per domain and the credential checks; nothing is ordered, written or uploaded')
    .addOption(json)
    .action(async (opts: { testmode?: boolean; dryRun?: boolean; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        const testmode = Boolean(opts.testmode) || c.settings.appEnv !== 'production';
        if (opts.dryRun) {
          printDryRun(out, await out.progress('Checking (dry run)', c.dryRun.run({ testmode })));
          return;
        }
        const run = await c.orchestrator.startProcess(testmode);
        printRun(out, await out.progress('Processing domains', run.done));
      });
    });

  program
    .command('single')
    .description('run the flow for one domain, as /single/<domain> does')
    .argument('<domain>', 'a domain from the domains table')
    .option('--testmode', 'run everything except the Fastly upload')
    .addOption(json)
    .action(async (input: string, opts: { testmode?: boolean; json?: boolean }) => {
      const domain = domainArg(input);
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        try {
          const run = await c.orchestrator.startSingle(domain, Boolean(opts.testmode) || c.settings.appEnv !== 'production');
          printRun(out, await out.progress(`Processing ${domain}`, run.done));
        } catch (error) {
          if (error instanceof DomainNotFoundError || error instanceof DomainBusyError) throw new CliError(error.message, 1);
          throw error;
        }
      });
    });

  const domains = program.command('domains').description('manage the domains table');
  domains
    .command('add')
    .description('add a domain')
    .argument('<name>', 'domain name, e.g. example.com')
    .requiredOption('--zone-id <id>', 'DNS zone: Route53 hosted-zone id, Cloudflare zone id, or RFC2136 zone name')
    .addOption(json)
    .action(async (input: string, opts: { zoneId: string; json?: boolean }) => {
      const name = domainArg(input);
      if (!opts.zoneId.trim() || /[\p{Cc}\s]/u.test(opts.zoneId) || opts.zoneId.length > 255) throw new CliError('--zone-id must be a non-empty identifier without whitespace', 2);
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        const result = await c.repository.addDomain(name, opts.zoneId);
        if ('existing' in result) throw new CliError(`Domain ${name} already exists (zone ${result.existing.zoneId ?? '-'})`, 1);
        out.print(`Added ${name} (zone ${opts.zoneId})`, { id: result.added.id, name, zoneId: opts.zoneId });
      });
    });

  domains
    .command('list')
    .description('list domains')
    .addOption(json)
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        const rows = await c.repository.listDomains();
        out.print(
          table(
            ['DOMAIN', 'ZONE', 'STATUS', 'OWNED', 'ISSUER', 'EXPIRES'],
            rows.map((d) => [d.name, d.zoneId ?? '-', d.status ?? '-', d.owned ? 'yes' : 'no', d.tlsIssuer ?? '-', isoOrDash(d.tlsExpDate)]),
          ),
          rows.map((d) => ({ name: d.name, zoneId: d.zoneId, status: d.status, owned: d.owned, tlsIssuer: d.tlsIssuer, tlsExpDate: d.tlsExpDate })),
        );
      });
    });

  domains
    .command('import')
    .description('import domains from a CSV file with a header row: name,zone_id[,status]')
    .argument('<file>', 'CSV file')
    .option('--skip-invalid', 'import the valid rows even when some are invalid')
    .addOption(json)
    .action(async (file: string, opts: { skipInvalid?: boolean; json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new CliError(`Cannot read ${file}`, 2);
      }
      const { rows, problems } = parseDomainCsv(text);
      const out = createOutput(Boolean(opts.json));
      if (problems.length > 0 && !opts.skipInvalid) {
        const detail = problems.map((p) => `  line ${p.line}: ${p.message}`).join('\n');
        throw new CliError(`${problems.length} invalid row(s) in ${file}; nothing was imported (use --skip-invalid to import the rest):\n${detail}`, 2);
      }
      await withComponents(async (c) => {
        const result = await out.progress(`Importing ${rows.length} domains`, c.repository.importDomains(rows));
        out.print(
          `Imported ${rows.length} domain(s): ${result.added} added, ${result.updated} updated${problems.length ? `; skipped ${problems.length} invalid row(s): ${problems.map((p) => `line ${p.line} (${p.message})`).join(', ')}` : ''}`,
          { ...result, skipped: problems },
        );
      });
    });

  program
    .command('status')
    .description('domains with issuer, expiry, next renewal, last outcome and backoff')
    .addOption(json)
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        const rows = await c.repository.statusRows();
        const data = rows.map((d) => ({
          domain: d.name,
          issuer: d.tlsIssuer,
          expires: d.tlsExpDate,
          nextRenewal: d.state?.nextRenewalAt ?? null,
          // The directory URL of the CA that issued the certificate (null: the primary, LE_DIRECTORY_URL).
          ca: d.state?.certCa ?? null,
          phase: d.state?.phase ?? null,
          lastOutcome: d.state?.lastOutcome ?? null,
          failures: d.state?.failureCount ?? 0,
          backoffUntil: d.state?.backoffUntil ?? null,
          lastError: d.state?.lastError ?? null,
        }));
        out.print(
          table(
            ['DOMAIN', 'ISSUER', 'EXPIRES', 'NEXT RENEWAL', 'LAST OUTCOME', 'BACKOFF'],
            data.map((d) => [d.domain, d.issuer ?? '-', isoOrDash(d.expires), isoOrDash(d.nextRenewal), d.lastOutcome ?? '-', d.backoffUntil ? `${d.failures} failure(s), until ${isoOrDash(d.backoffUntil)}` : '-']),
          ),
          data,
        );
      });
    });

  const account = program.command('account').description('ACME account');
  account
    .command('create')
    .description('register an ACME account and store its key under LE_ACCOUNT_KEY_SECRET_NAME (with --fallback: at ACME_FALLBACK_DIRECTORY_URL, under ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME)')
    .option('--email <email>', 'contact address (default: ACME_EMAIL)')
    .option('--fallback', 'register at the fallback CA (ACME_FALLBACK_DIRECTORY_URL, its EAB: ACME_FALLBACK_EAB_KID and ACME_FALLBACK_EAB_HMAC_KEY)')
    .option('--eab-kid <kid>', 'External Account Binding key id (CAs that require it; default: ACME_EAB_KID)')
    .option('--eab-hmac <key>', 'External Account Binding HMAC key, base64url (default: ACME_EAB_HMAC_KEY)')
    .addOption(json)
    .action(async (opts: { email?: string; eabKid?: string; eabHmac?: string; fallback?: boolean; json?: boolean }) => {
      if (opts.email !== undefined && !EMAIL.test(opts.email)) throw new CliError(`--email ${JSON.stringify(opts.email)} is not an email address`, 2);
      if (Boolean(opts.eabKid) !== Boolean(opts.eabHmac)) throw new CliError('--eab-kid and --eab-hmac go together', 2);
      const settings = settingsOrExit();
      const email = opts.email ?? settings.acme.email;
      if (!email) throw new CliError('Give the account contact with --email <address>, or set ACME_EMAIL', 2);
      const out = createOutput(Boolean(opts.json));
      // --eab-hmac is as secret as ACME_EAB_HMAC_KEY: scrubbed from the logs too.
      const logger = cliLogger(settings, opts.eabHmac ? [opts.eabHmac] : []);
      const fallback = settings.acme.fallback;
      if (opts.fallback && !fallback) throw new CliError('Set ACME_FALLBACK_DIRECTORY_URL and ACME_FALLBACK_ACCOUNT_KEY_SECRET_NAME to register at the fallback CA', 2);
      const target = opts.fallback && fallback
        ? { directoryUrl: fallback.directoryUrl, secretName: fallback.accountKeySecretName, eab: fallback.eab, eabVar: 'ACME_FALLBACK_EAB' }
        : { directoryUrl: settings.acme.directoryUrl, secretName: settings.acme.accountKeySecretName, eab: settings.acme.eab, eabVar: 'ACME_EAB' };
      const secretName = target.secretName;
      if (!secretName) throw new CliError('Set LE_ACCOUNT_KEY_SECRET_NAME to the secret that should hold the new account key', 2);
      const secrets = createSecretsStore(settings, logger);
      if (await secrets.get(secretName)) throw new CliError(`Secret ${secretName} already holds an account key; refusing to overwrite it`, 1);
      const eab = opts.eabKid && opts.eabHmac ? { kid: opts.eabKid, hmacKey: opts.eabHmac } : target.eab;
      let registered: Awaited<ReturnType<typeof AcmeIssuer.register>>;
      try {
        registered = await out.progress('Registering the ACME account', AcmeIssuer.register({ directoryUrl: target.directoryUrl, email, eab }));
      } catch (error) {
        // The CA's problem as it gave it (Pebble: "unauthorized: the field 'kid' references a key that is not known ..."),
        // and which inputs to check. Nothing was stored.
        const hint = !(error instanceof AcmeOrderError)
          ? ''
          : shortProblemType(error.problemType) === 'externalAccountRequired'
            ? `; set ${target.eabVar}_KID and ${target.eabVar}_HMAC_KEY (or pass --eab-kid and --eab-hmac) to the credentials the CA issued`
            : eab && ['unauthorized', 'malformed', 'badPublicKey'].includes(shortProblemType(error.problemType))
              ? `; check the External Account Binding key id (${opts.eabKid ? '--eab-kid' : `${target.eabVar}_KID`}) and HMAC key (${opts.eabHmac ? '--eab-hmac' : `${target.eabVar}_HMAC_KEY`}), exactly as the CA issued them`
              : '';
        throw new CliError(`registering the ACME account at ${target.directoryUrl}: ${errorMessage(error)}${hint}. Nothing was stored.`, 1);
      }
      await secrets.put(secretName, JSON.stringify(registered.accountKeyJwk), { Application: 'autotls', Purpose: 'acme-account-key' });
      out.print(`Registered ${registered.accountUrl}\nAccount key stored in secret ${secretName}`, { accountUrl: registered.accountUrl, secretName });
    });

  const fastly = program.command('fastly').description('Fastly Platform TLS utilities');
  fastly
    .command('certs')
    .description('list Fastly bulk certificates')
    .addOption(json)
    .action(async (opts: { json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        if (!c.fastly) throw new CliError('FASTLY_API_TOKEN is not set', 2);
        const certs = await out.progress('Listing certificates', c.fastly.listBulkCertificates());
        out.print(table(['ID', 'DOMAINS', 'NOT AFTER'], certs.map((x) => [x.id, x.domains.join(' '), isoOrDash(x.notAfter)])), certs);
      });
    });
  fastly
    .command('cleanup-keys')
    .description('delete Fastly private keys that no certificate uses')
    .option('--dry-run', 'only list what would be deleted')
    .addOption(json)
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const out = createOutput(Boolean(opts.json));
      await withComponents(async (c) => {
        if (!c.fastly) throw new CliError('FASTLY_API_TOKEN is not set', 2);
        const keys = await out.progress('Cleaning up keys', c.fastly.deleteUnusedPrivateKeys({ dryRun: Boolean(opts.dryRun) }));
        const verb = opts.dryRun ? 'Would delete' : 'Deleted';
        out.print(`${verb} ${keys.length} unused private key(s)${keys.length ? `:\n${keys.map((k) => `  ${k.id} ${k.name}`).join('\n')}` : ''}`, { dryRun: Boolean(opts.dryRun), keys });
      });
    });
  registerForecastCommand(program, { withComponents, createOutput, positiveInt });
  registerAriCommands(program, { withComponents, domainArg, fail: (message, exitCode) => new CliError(message, exitCode) });
  registerRevokeCommand(program, { withComponents, domainArg, fail: (message, exitCode) => new CliError(message, exitCode) });
  return program;
}

function positiveInt(value: string, option: string): number {
  // Digits only: Number() would also take ' 5', '1e2' and '0x10'.
  const n = /^[0-9]{1,4}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 3650) throw new CliError(`${option} must be a whole number between 1 and 3650, not "${value}"`, 2);
  return n;
}

/** The version in package.json (dist/cli → the package root). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help asked for (`--help`, `help`) exits 0; help shown because a group was
      // called without its subcommand (`autotls domains`) is bad usage, like any
      // other parse error.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
