/**
 * The words of a notification, shared by every notifier so that Slack, the log
 * and the webhook tell the same story. Everything that leaves through here is
 * scrubbed: no PEM private key, no configured secret.
 */
import { scrubSecrets } from '../logger.js';
import type { DomainReport, RunReport } from './notifier.js';

const OUTCOME_EMOJI: Record<string, string> = {
  issued: ':white_check_mark:',
  renewed: ':white_check_mark:',
  skipped: ':large_blue_circle:',
  failed: ':x:',
  deferred: ':hourglass_flowing_sand:',
  'in-progress': ':arrows_counterclockwise:',
};

const RUN_EMOJI: Record<string, string> = {
  succeeded: ':white_check_mark:',
  'nothing-to-do': ':large_blue_circle:',
  partial: ':warning:',
  failed: ':x:',
  running: ':arrows_counterclockwise:',
};

export function outcomeEmoji(outcome: string): string {
  return OUTCOME_EMOJI[outcome] ?? ':grey_question:';
}

export function runEmoji(status: string): string {
  return RUN_EMOJI[status] ?? ':grey_question:';
}

/** Removes secrets from text bound for people: PEM private keys and the given literal values. */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: ReadonlyArray<string | undefined>) {
    this.secrets = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  }

  clean(text: string, maxLength = 1_000): string {
    const out = scrubSecrets(text, this.secrets)
      // A private key cut short (no END line) must not survive either.
      .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*$/, '[REDACTED PRIVATE KEY]');
    return out.length > maxLength ? `${out.slice(0, maxLength)}...` : out;
  }

  domain(report: DomainReport): DomainReport {
    return {
      ...report,
      messages: report.messages.map((m) => this.clean(m)),
      errors: report.errors.map((e) => this.clean(e)),
    };
  }

  run(report: RunReport): RunReport {
    return { ...report, results: report.results.map((r) => this.domain(r)) };
  }
}

function dateOnly(iso: string | null): string | undefined {
  if (!iso) return undefined;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 10);
}

/** One line per domain, then its messages and errors: the seed's per-domain note. */
export function domainText(report: DomainReport, testmode: boolean): string {
  const expiry = dateOnly(report.notAfter);
  const head =
    `${outcomeEmoji(report.outcome)} *${report.domain}*: ${report.outcome}` +
    ` (certificate ${report.certificateStatus}${expiry ? `, expires ${expiry}` : ''})` +
    (testmode ? ' [testmode]' : '');
  const lines = [head];
  for (const m of report.messages) lines.push(`• ${m}`);
  for (const e of report.errors) lines.push(`• :warning: ${e}`);
  return lines.join('\n');
}

export interface RunCounts {
  total: number;
  issued: number;
  renewed: number;
  skipped: number;
  failed: number;
  deferred: number;
  other: number;
}

export function runCounts(report: RunReport): RunCounts {
  const counts: RunCounts = { total: report.results.length, issued: 0, renewed: 0, skipped: 0, failed: 0, deferred: 0, other: 0 };
  for (const r of report.results) {
    if (r.outcome === 'issued' || r.outcome === 'renewed' || r.outcome === 'skipped' || r.outcome === 'failed' || r.outcome === 'deferred') {
      counts[r.outcome] += 1;
    } else {
      counts.other += 1;
    }
  }
  return counts;
}

function duration(report: RunReport): string | undefined {
  if (!report.finishedAt) return undefined;
  const ms = new Date(report.finishedAt).getTime() - new Date(report.startedAt).getTime();
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

/** The run summary: status, counts, and a short line per domain that did not simply succeed. */
export function runText(report: RunReport, maxDomainLines = 30): string {
  const c = runCounts(report);
  const took = duration(report);
  const parts = [
    `${c.issued} issued`,
    `${c.renewed} renewed`,
    `${c.skipped} skipped`,
    `${c.failed} failed`,
    ...(c.deferred ? [`${c.deferred} deferred`] : []),
    ...(c.other ? [`${c.other} other`] : []),
  ];
  const lines = [
    `${runEmoji(report.status)} *AutoTLS run ${report.status}*${report.testmode ? ' [testmode]' : ''}: ` +
      `${c.total} domain${c.total === 1 ? '' : 's'}, ${parts.join(', ')}${took ? ` in ${took}` : ''} (run ${report.runId})`,
  ];
  const notable = report.results.filter((r) => r.outcome !== 'skipped');
  for (const r of notable.slice(0, maxDomainLines)) {
    const firstError = r.errors[0];
    lines.push(`${outcomeEmoji(r.outcome)} ${r.domain}: ${r.outcome}${firstError ? ` (${firstError})` : ''}`);
  }
  if (notable.length > maxDomainLines) lines.push(`... and ${notable.length - maxDomainLines} more`);
  return lines.join('\n');
}

export function alertText(message: string): string {
  return `:rotating_light: *AutoTLS alert*: ${message}`;
}
