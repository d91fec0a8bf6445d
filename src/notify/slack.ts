import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError } from '@slack/webhook';
import type { Logger } from '../logger.js';
import { alertText, domainText, Redactor, runText } from './format.js';
import type { DomainReport, Notifier, RunReport } from './notifier.js';

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
}

/**
 * Slack through an incoming webhook: one message per finished domain (status
 * emoji, messages, errors), one summary per run, and alerts. A failed post is
 * logged, never thrown.
 */
export class SlackNotifier implements Notifier {
  readonly name = 'slack';
  private readonly webhook: IncomingWebhook;
  private readonly logger: Logger;
  private readonly redactor: Redactor;
  private readonly urlRedactor: Redactor;

  constructor(options: SlackNotifierOptions) {
    this.logger = options.logger;
    this.redactor = options.redactor ?? new Redactor([]);
    this.urlRedactor = new Redactor([options.webhookUrl, new URL(options.webhookUrl).pathname]);
    const minTimeout = options.retryMinDelayMs ?? 500;
    this.webhook = new IncomingWebhook(options.webhookUrl, {
      username: 'AutoTLS',
      timeout: options.timeoutMs ?? 10_000,
      retryConfig: { retries: options.retries ?? 2, factor: 2, minTimeout, maxTimeout: minTimeout * 8, randomize: false },
    });
  }

  async domainFinished(report: DomainReport, testmode: boolean): Promise<void> {
    await this.post('domain', domainText(this.redactor.domain(report), testmode));
  }

  async runFinished(report: RunReport): Promise<void> {
    await this.post('run', runText(this.redactor.run(report)));
  }

  async alert(message: string): Promise<void> {
    await this.post('alert', alertText(this.redactor.clean(message)));
  }

  private async post(kind: string, text: string): Promise<void> {
    try {
      await this.webhook.send({ text, unfurl_links: false, unfurl_media: false });
    } catch (err) {
      this.logger.warn({ notifier: this.name, kind, err: this.describe(err) }, 'Slack notification failed');
    }
  }

  /** The error without the webhook URL (it is a credential) and without anything Slack echoed at length. */
  private describe(err: unknown): string {
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
