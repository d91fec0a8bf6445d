import type { Logger } from '../logger.js';
import { alertText, domainText, Redactor, runCounts, runText } from './format.js';
import type { DomainReport, Notifier, RunReport } from './notifier.js';

/**
 * Notifications as log lines, with the same text Slack would get plus the
 * fields as structured data. Used when Slack is off or APP_ENV is not
 * production (the Python AutoTLS logged instead of posting there).
 */
export class LogNotifier implements Notifier {
  readonly name = 'log';
  private readonly logger: Logger;
  private readonly redactor: Redactor;

  constructor(logger: Logger, redactor: Redactor = new Redactor([])) {
    this.logger = logger;
    this.redactor = redactor;
  }

  async domainFinished(report: DomainReport, testmode: boolean): Promise<void> {
    this.safely(() => {
      const clean = this.redactor.domain(report);
      const fields = {
        notification: 'domain',
        domain: clean.domain,
        outcome: clean.outcome,
        certificateStatus: clean.certificateStatus,
        notAfter: clean.notAfter,
        testmode,
        messages: clean.messages,
        errors: clean.errors,
      };
      const text = domainText(clean, testmode);
      if (clean.outcome === 'failed') this.logger.warn(fields, text);
      else this.logger.info(fields, text);
    });
  }

  async runFinished(report: RunReport): Promise<void> {
    this.safely(() => {
      const clean = this.redactor.run(report);
      const fields = {
        notification: 'run',
        runId: clean.runId,
        status: clean.status,
        testmode: clean.testmode,
        startedAt: clean.startedAt,
        finishedAt: clean.finishedAt,
        counts: runCounts(clean),
      };
      const text = runText(clean);
      if (clean.status === 'failed' || clean.status === 'partial') this.logger.warn(fields, text);
      else this.logger.info(fields, text);
    });
  }

  async alert(message: string): Promise<void> {
    this.safely(() => {
      const clean = this.redactor.clean(message);
      this.logger.warn({ notification: 'alert', alert: clean }, alertText(clean));
    });
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // A logger that throws has nowhere to report to; a notification never fails a run.
    }
  }
}
