import { createHmac } from 'node:crypto';
import type { Logger } from '../logger.js';
import { alertText, domainText, Redactor, runCounts, runText } from './format.js';
import type { DomainReport, Notifier, RunReport } from './notifier.js';

export const SIGNATURE_HEADER = 'X-AutoTLS-Signature';
export const TIMESTAMP_HEADER = 'X-AutoTLS-Timestamp';

/** `sha256=<hex HMAC-SHA256 of the raw body>`, as sent in X-AutoTLS-Signature. */
export function signWebhookBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

export type WebhookEvent =
  | { event: 'domain.finished'; sentAt: string; testmode: boolean; text: string; domain: DomainReport }
  | { event: 'run.finished'; sentAt: string; text: string; counts: ReturnType<typeof runCounts>; run: RunReport }
  | { event: 'alert'; sentAt: string; text: string; message: string };

export interface WebhookNotifierOptions {
  url: string;
  /** NOTIFY_WEBHOOK_SECRET; without it the body is sent unsigned. */
  secret: string | undefined;
  logger: Logger;
  redactor?: Redactor;
  /** Per attempt; default 10 s. */
  timeoutMs?: number;
  /** Retries after a 5xx answer or a network error; default 2. 4xx is final. */
  retries?: number;
  retryDelayMs?: number;
  now?: () => Date;
}

/**
 * A generic JSON webhook. The body is one of the `WebhookEvent` documents; the
 * receiver verifies `X-AutoTLS-Signature` by computing the HMAC-SHA256 of the raw
 * body with the shared secret, and can refuse stale `X-AutoTLS-Timestamp`s (unix
 * seconds; the same instant is `sentAt` inside the signed body).
 */
export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';
  private readonly options: WebhookNotifierOptions;
  private readonly redactor: Redactor;
  private readonly urlRedactor: Redactor;
  private warnedUnsigned = false;

  constructor(options: WebhookNotifierOptions) {
    this.options = options;
    this.redactor = options.redactor ?? new Redactor([]);
    this.urlRedactor = new Redactor([options.url, options.secret]);
  }

  async domainFinished(report: DomainReport, testmode: boolean): Promise<void> {
    const domain = this.redactor.domain(report);
    await this.post({ event: 'domain.finished', sentAt: this.now(), testmode, text: domainText(domain, testmode), domain });
  }

  async runFinished(report: RunReport): Promise<void> {
    const run = this.redactor.run(report);
    await this.post({ event: 'run.finished', sentAt: this.now(), text: runText(run), counts: runCounts(run), run });
  }

  async alert(message: string): Promise<void> {
    const clean = this.redactor.clean(message);
    await this.post({ event: 'alert', sentAt: this.now(), text: alertText(clean), message: clean });
  }

  private now(): string {
    return (this.options.now?.() ?? new Date()).toISOString();
  }

  private async post(payload: WebhookEvent): Promise<void> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(new Date(payload.sentAt).getTime() / 1000));
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'AutoTLS',
      [TIMESTAMP_HEADER]: timestamp,
    };
    if (this.options.secret) {
      headers[SIGNATURE_HEADER] = signWebhookBody(this.options.secret, body);
    } else if (!this.warnedUnsigned) {
      this.warnedUnsigned = true;
      this.options.logger.warn({ notifier: this.name }, 'NOTIFY_WEBHOOK_SECRET is not set; webhook notifications are sent unsigned');
    }
    const retries = this.options.retries ?? 2;
    const baseDelay = this.options.retryDelayMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      let retryable: boolean;
      try {
        const res = await fetch(this.options.url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        failure = `HTTP ${res.status}`;
        retryable = res.status >= 500;
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: { code?: string } };
        failure = e.name === 'TimeoutError' ? 'timed out' : `${e.name ?? 'Error'}: ${e.cause?.code ?? e.message ?? ''}`;
        retryable = true;
      }
      if (!retryable || attempt >= retries) {
        this.options.logger.warn(
          { notifier: this.name, event: payload.event, attempts: attempt + 1, err: this.urlRedactor.clean(failure, 300) },
          'webhook notification failed',
        );
        return;
      }
      await new Promise((r) => setTimeout(r, baseDelay * 2 ** attempt));
    }
  }
}
