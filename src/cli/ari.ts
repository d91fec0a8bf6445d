/**
 * `autotls ari refresh [<domain>|--all]` (contract section 6): ask the CA's ARI
 * now, for incidents (a mass revocation announced through ARI), whatever the
 * next scheduled check says. Prints what changed; a renewal time moved to now
 * is picked up by the next `/process`.
 */
import { Option, type Command } from 'commander';
import type { Components } from '../composition.js';
import { AriRefresher, type AriCheckResult } from '../orchestrator/ari-refresh.js';
import { createOutput, isoOrDash, table } from './output.js';

export interface AriCommandDeps {
  withComponents: <T>(work: (c: Components) => Promise<T>) => Promise<T>;
  /** Validates and normalises a domain argument (throws a usage error). */
  domainArg: (input: string) => string;
  /** The CLI's error with an exit code: 1 the operation failed, 2 bad usage. */
  fail: (message: string, exitCode: 1 | 2) => Error;
}

export interface AriRefreshSummary {
  checked: number;
  moved: number;
  unchanged: number;
  noAri: number;
  busy: number;
  failed: number;
  results: AriCheckResult[];
}

export function summarise(results: AriCheckResult[]): AriRefreshSummary {
  const count = (status: AriCheckResult['status']) => results.filter((r) => r.status === status).length;
  return { checked: results.length, moved: count('moved'), unchanged: count('unchanged'), noAri: count('no-ari'), busy: count('busy'), failed: count('failed'), results };
}

const STATUS_TEXT: Record<AriCheckResult['status'], string> = {
  moved: 'moved',
  unchanged: 'unchanged',
  'no-ari': 'no ARI',
  busy: 'busy (a run holds it)',
  failed: 'failed',
};

const FULL_REPORT_MAX = 50;

export function formatSummary(summary: AriRefreshSummary, now: Date): string {
  // A long report (the whole fleet) lists only what did not stay as it was.
  const listed = summary.results.length <= FULL_REPORT_MAX ? summary.results : summary.results.filter((r) => r.status !== 'unchanged');
  const rows = listed.map((r) => [
    r.domain,
    STATUS_TEXT[r.status],
    isoOrDash(r.before),
    r.status === 'moved' && r.after && r.after.getTime() <= now.getTime() ? `${isoOrDash(r.after)} (due now)` : isoOrDash(r.after),
    r.window ? `${isoOrDash(r.window.start)} .. ${isoOrDash(r.window.end)}` : '-',
    isoOrDash(r.nextCheck),
  ]);
  const lines = [
    `Asked the CA about ${summary.checked} certificate(s): ${summary.moved} moved, ${summary.unchanged} unchanged` +
      `${summary.noAri ? `, ${summary.noAri} without ARI` : ''}${summary.busy ? `, ${summary.busy} busy` : ''}${summary.failed ? `, ${summary.failed} failed` : ''}`,
  ];
  if (rows.length) lines.push(table(['DOMAIN', 'RESULT', 'RENEWAL WAS', 'RENEWAL NOW', 'CA WINDOW', 'NEXT CHECK'], rows));
  if (listed.length < summary.results.length) lines.push(`(${summary.results.length - listed.length} unchanged not listed; --json lists every one)`);
  for (const r of summary.results) {
    if (r.explanationUrl) lines.push(`${r.domain}: the CA explains at ${r.explanationUrl}`);
    if (r.error) lines.push(`${r.domain}: ${r.error}`);
  }
  if (summary.moved) lines.push('Domains whose renewal is due now are renewed by the next /process run.');
  return lines.join('\n');
}

export function registerAriCommands(program: Command, deps: AriCommandDeps): void {
  const ari = program.command('ari').description('ACME Renewal Information (RFC 9773)');
  ari
    .command('refresh')
    .description("ask the CA's ARI now, for one domain or every recorded certificate (for incidents)")
    .argument('[domain]', 'a domain with a recorded certificate')
    .option('--all', 'every recorded certificate that has not expired')
    .addOption(new Option('--json', 'print JSON instead of text'))
    .action(async (input: string | undefined, opts: { all?: boolean; json?: boolean }) => {
      if (input === undefined && !opts.all) throw deps.fail('Give a domain, or --all for every recorded certificate', 2);
      if (input !== undefined && opts.all) throw deps.fail('Give either a domain or --all, not both', 2);
      const domain = input === undefined ? undefined : deps.domainArg(input);
      const out = createOutput(Boolean(opts.json));
      await deps.withComponents(async (c) => {
        const refresher = new AriRefresher({
          state: c.state,
          issuer: () => c.issuer(),
          // ARI is asked of the CA that issued each certificate (the fallback's too).
          ...(c.authorities.fallback ? { issuerFor: (ca: string | null) => c.issuerFor(ca) } : {}),
          clock: c.clock,
          random: Math.random,
          logger: c.logger,
        });
        if (domain !== undefined && !(await refresher.isCheckable(domain))) {
          const known = await c.repository.findByName(domain);
          throw deps.fail(
            known
              ? `${domain} has no certificate to ask ARI about: none recorded by AutoTLS yet, it has expired, or the domain is not managed (Parked, Expired, not owned)`
              : `Domain ${domain} not found in the domains table`,
            1,
          );
        }
        const ticker = progress(out.json);
        let results: AriCheckResult[];
        try {
          results = await refresher.refreshNow({ ...(domain !== undefined ? { domain } : {}), onResult: ticker.tick });
        } catch (error) {
          throw deps.fail(error instanceof Error ? error.message : String(error), 1);
        } finally {
          ticker.done();
        }
        const summary = summarise(results);
        out.print(formatSummary(summary, c.clock.now()), summary);
        if (summary.failed > 0) throw deps.fail(`ari refresh: ${summary.failed} of ${summary.checked} check(s) failed (see above)`, 1);
      });
    });
}

/** A running count on stderr when stdout is a terminal (and not --json). */
function progress(json: boolean): { tick: (r: AriCheckResult) => void; done: () => void } {
  if (json || !process.stdout.isTTY) return { tick: () => undefined, done: () => undefined };
  let n = 0;
  let moved = 0;
  return {
    tick: (r) => {
      n++;
      if (r.status === 'moved') moved++;
      process.stderr.write(`\rAsking the CA: ${n} checked, ${moved} moved`);
    },
    done: () => {
      if (n > 0) process.stderr.write(`\r${' '.repeat(60)}\r`);
    },
  };
}
