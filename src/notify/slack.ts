import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError } from '@slack/webhook';
import type { Logger } from '../logger.js';
import { backoffDelay, parseRetryAfter, sleep } from '../util/retry.js';
import { alertText, Redactor, runSummaryTexts, type SummaryLimits } from './format.js';
import type { DomainReport, Notifier, RunReport } from './notifier.js';
import { processSlackPacer, type SlackPacer } from './pacing.js';

export interface SlackNotifierOptions {
  webhookUrl: string;
  logger: Logger;
  /** Secrets to keep out of messages (the webhook URL is always one). */
  redactor?: Redactor;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Retries of 5xx answers and network errors; default 2. */
  retries?: number;
  /** First retry delay; default 500 ms. */
  retryMinDelayMs?: number;
  /** Retries after a 429 (each after its Retry-After); default 3. */
  rateLimitRetries?: number;
  /** A 429 asking for a longer wait than this is not retried (logged instead); default 60 s. */
  maxRetryAfterMs?: number;
  /** Shared pacing (default: the process-wide pacer, about 1 message a second). */
  pacer?: SlackPacer;
  /** How a run summary is split (defaults in format.ts). */
  summaryLimits?: Partial<SummaryLimits>;
}

/** A post that failed for good, with what Slack said. */
class SlackPostError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

/**
 * Slack through an incoming webhook: one summary per run with the per-domain
 * lines folded into it (split over a few messages when long), and alerts. A
 * finished domain alone posts nothing: at fleet scale one message per domain
 * would exceed Slack's one message a second and bury the summary.
 *
 * Posts are paced (see pacing.ts). `@slack/webhook` never retries a 429 (it
 * treats every 4xx as final), so retries are ours: a 429 waits for its
 * Retry-After, a 5xx or a network error backs off, each a bounded number of
 * times; any other 4xx is final. A failed post is logged, never thrown.
 */
export class SlackNotifier implements Notifier {
  readonly name = 'slack';
  private readonly options: SlackNotifierOptions;
  private readonly logger: Logger;
  private readonly redactor: Redactor;
  private readonly urlRedactor: Redactor;
  private readonly pacer: SlackPacer;

  constructor(options: SlackNotifierOptions) {
    this.options = options;
    this.logger = options.logger;
    this.redactor = options.redactor ?? new Redactor([]);
    this.urlRedactor = new Redactor([options.webhookUrl, new URL(options.webhookUrl).pathname]);
    this.pacer = options.pacer ?? processSlackPacer;
  }

  /** Folded into the run summary (`runFinished`). */
  async domainFinished(_report: DomainReport, _testmode: boolean): Promise<void> {
    // Nothing to post: the run summary carries this domain's line.
  }

  async runFinished(report: RunReport): Promise<void> {
    // A run that had nothing to do tells nobody anything (a continuous schedule wakes often).
    if (report.status === 'nothing-to-do' && report.results.length === 0) return;
    const texts = runSummaryTexts(this.redactor.run(report), this.options.summaryLimits);
    for (const [i, text] of texts.entries()) {
      await this.post(texts.length > 1 ? `run (part ${i + 1} of ${texts.length})` : 'run', text);
    }
  }

  async alert(message: string): Promise<void> {
    await this.post('alert', alertText(this.redactor.clean(message)));
  }

  private async post(kind: string, text: string): Promise<void> {
    try {
      await this.deliver({ text, unfurl_links: false, unfurl_media: false });
    } catch (err) {
      const attempts = err instanceof SlackPostError ? err.attempts : undefined;
      this.logger.warn({ notifier: this.name, kind, attempts, err: this.describe(err) }, 'Slack notification failed');
    }
  }

  private async deliver(message: { text: string; unfurl_links: boolean; unfurl_media: boolean }): Promise<void> {
    const retries = this.options.retries ?? 2;
    const rateLimitRetries = this.options.rateLimitRetries ?? 3;
    const maxRetryAfterMs = this.options.maxRetryAfterMs ?? 60_000;
    const minDelay = this.options.retryMinDelayMs ?? 500;
    let failures = 0;
    let limited = 0;
    for (let attempt = 1; ; attempt++) {
      let retryAfter: string | null = null;
      // A fresh client per attempt, so the Retry-After it saw is this attempt's; no retries inside.
      const webhook = new IncomingWebhook(this.options.webhookUrl, {
        username: 'AutoTLS',
        timeout: this.options.timeoutMs ?? 10_000,
        retryConfig: { retries: 0 },
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          retryAfter = response.headers.get('retry-after');
          return response;
        },
      });
      try {
        await this.pacer.run(() => webhook.send(message));
        return;
      } catch (err) {
        const status = err instanceof IncomingWebhookHTTPError ? err.statusCode : undefined;
        if (status === 429) {
          // Slack: "a Retry-After header containing the number of seconds until you can retry" (api.slack.com/docs/rate-limits).
          const waitMs = (parseRetryAfter(retryAfter) ?? 1) * 1000;
          if (limited >= rateLimitRetries) throw new SlackPostError(`rate limited ${limited + 1} times: ${this.describe(err)}`, attempt);
          if (waitMs > maxRetryAfterMs) throw new SlackPostError(`rate limited, Retry-After ${waitMs / 1000} s is too long to wait: ${this.describe(err)}`, attempt);
          limited++;
          this.pacer.pause(waitMs);
          this.logger.info({ notifier: this.name, retryAfterMs: waitMs }, 'Slack rate limit (429): waiting for its Retry-After');
          continue;
        }
        const transient = status === undefined ? err instanceof IncomingWebhookRequestError : status >= 500;
        if (!transient || failures >= retries) throw err instanceof Error && failures > 0 ? new SlackPostError(this.describe(err), attempt) : err;
        await sleep(backoffDelay(failures, { attempts: retries + 1, baseDelayMs: minDelay, maxDelayMs: minDelay * 8 }, () => 1));
        failures++;
      }
    }
  }

  /** The error without the webhook URL (it is a credential) and without anything Slack echoed at length. */
  private describe(err: unknown): string {
    if (err instanceof SlackPostError) return err.message;
    if (err instanceof IncomingWebhookHTTPError) {
      return `HTTP ${err.statusCode} ${err.statusMessage}: ${this.urlRedactor.clean(err.body, 200)}`;
    }
    if (err instanceof IncomingWebhookRequestError) {
      const original = err.original;
      const code = (original as { code?: unknown }).code;
      return this.urlRedactor.clean(`${original.name}: ${original.message}${typeof code === 'string' ? ` (${code})` : ''}`, 300);
    }
    return this.urlRedactor.clean(err instanceof Error ? `${err.name}: ${err.message}` : String(err), 300);
  }
}
