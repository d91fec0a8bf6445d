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
    // A private key cut short (no END line) goes too: scrubSecrets takes the header and the base64 after it.
    const out = scrubSecrets(text, this.secrets);
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

/**
 * The run document's message that says the fallback CA (ACME_FALLBACK_DIRECTORY_URL)
 * issued a domain's certificate (orchestrator/domain-flow.ts writes it); the
 * summaries below count and mark those domains.
 */
export const FALLBACK_CA_NOTE = 'Issued by the fallback CA';

function fromFallback(report: DomainReport): boolean {
  return (report.outcome === 'issued' || report.outcome === 'renewed') && report.messages.some((m) => m.startsWith(FALLBACK_CA_NOTE));
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
  const fallback = report.results.filter(fromFallback).length;
  if (fallback) parts.push(`${fallback} from the fallback CA`);
  const lines = [
    `${runEmoji(report.status)} *AutoTLS run ${report.status}*${report.testmode ? ' [testmode]' : ''}: ` +
      `${c.total} domain${c.total === 1 ? '' : 's'}, ${parts.join(', ')}${took ? ` in ${took}` : ''} (run ${report.runId})`,
  ];
  const notable = report.results.filter((r) => r.outcome !== 'skipped');
  for (const r of notable.slice(0, maxDomainLines)) {
    const firstError = r.errors[0];
    lines.push(`${outcomeEmoji(r.outcome)} ${r.domain}: ${r.outcome}${fromFallback(r) ? ' (fallback CA)' : ''}${firstError ? ` (${firstError})` : ''}`);
  }
  if (notable.length > maxDomainLines) lines.push(`... and ${notable.length - maxDomainLines} more`);
  return lines.join('\n');
}

/**
 * How a run summary is cut for Slack. Slack truncates a message's `text` past
 * 40,000 characters (https://api.slack.com/changelog/2018-04-truncating-really-long-messages)
 * and recommends keeping it under 4,000 (https://api.slack.com/methods/chat.postMessage,
 * "text": "we recommend ... no more than 4,000 characters"); a section block holds
 * 3,000 and a message 50 blocks (https://api.slack.com/reference/block-kit/blocks).
 * We send plain `text` (mrkdwn), so the 4,000 recommendation is the one that binds.
 */
export interface SummaryLimits {
  /** Characters per message, under Slack's recommended 4,000. */
  maxChars: number;
  /** Messages per run summary; past it the rest is counted, and `GET /runs/<id>` has it all. */
  maxMessages: number;
  /** One domain's block is cut to this many characters. */
  maxDomainChars: number;
}

export const DEFAULT_SUMMARY_LIMITS: SummaryLimits = { maxChars: 3_500, maxMessages: 5, maxDomainChars: 1_000 };

/** Failures first (what someone must look at), then work in flight, then what went well. */
const SUMMARY_ORDER: Record<string, number> = { failed: 0, deferred: 1, 'in-progress': 1, issued: 3, renewed: 3 };

/** One domain in a run summary: successes in one line, anything else with its messages and errors. */
function summaryBlock(report: DomainReport, maxChars: number): string {
  const expiry = dateOnly(report.notAfter);
  const head = `${outcomeEmoji(report.outcome)} *${report.domain}*: ${report.outcome}${fromFallback(report) ? ' by the fallback CA' : ''}${expiry ? ` (expires ${expiry})` : ''}`;
  const lines = [head];
  if (report.outcome !== 'issued' && report.outcome !== 'renewed') {
    for (const e of report.errors) lines.push(`    • :warning: ${e}`);
    for (const m of report.messages) lines.push(`    • ${m}`);
  }
  const block = lines.join('\n');
  return block.length > maxChars ? `${block.slice(0, maxChars - 3)}...` : block;
}

/**
 * The run summary as Slack messages: the counts line, then one block per
 * domain that did something (skipped domains are only counted), failures
 * first. Long runs are split on block boundaries over at most `maxMessages`
 * messages; what does not fit is counted in a last line that points to the
 * run document.
 */
export function runSummaryTexts(report: RunReport, limits: Partial<SummaryLimits> = {}): string[] {
  const { maxChars, maxMessages, maxDomainChars } = { ...DEFAULT_SUMMARY_LIMITS, ...limits };
  const header = runText(report, 0).split('\n')[0] ?? '';
  const notable = report.results
    .filter((r) => r.outcome !== 'skipped')
    .map((r, i) => ({ r, i }))
    .sort((a, b) => (SUMMARY_ORDER[a.r.outcome] ?? 2) - (SUMMARY_ORDER[b.r.outcome] ?? 2) || a.i - b.i)
    .map(({ r }) => summaryBlock(r, Math.min(maxDomainChars, maxChars - 200)));
  const messages: string[][] = [[header]];
  let size = header.length;
  let shown = 0;
  // Room kept in the last message for the "... and N more" line.
  const tailRoom = 120;
  for (const block of notable) {
    const current = messages[messages.length - 1] as string[];
    const last = messages.length === maxMessages;
    if (size + 1 + block.length <= maxChars - (last ? tailRoom : 0)) {
      current.push(block);
      size += 1 + block.length;
      shown++;
      continue;
    }
    if (last) break;
    const continued = `(run ${report.runId}, continued)`;
    messages.push([continued, block]);
    size = continued.length + 1 + block.length;
    shown++;
  }
  if (shown < notable.length) {
    (messages[messages.length - 1] as string[]).push(`... and ${notable.length - shown} more domain${notable.length - shown === 1 ? '' : 's'}: see GET /runs/${report.runId}`);
  }
  return messages.map((m) => m.join('\n'));
}

export function alertText(message: string): string {
  return `:rotating_light: *AutoTLS alert*: ${message}`;
}
